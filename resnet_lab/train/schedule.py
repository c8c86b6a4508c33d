"""Learning-rate schedules, the SGD optimiser with its parameter groups, and mixed precision."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from .config import AMP_MODES, ONECYCLE_DIV, ONECYCLE_FINAL_DIV, ONECYCLE_PCT_START, SCHEDULES, STEP_MILESTONES, TrainConfig
from .core import autocast


def lr_at(
    step: int, total_steps: int, *, base_lr: float, schedule: str = "step", warmup_steps: int = 0
) -> float:
    """Learning rate of SGD step ``step`` (0-based) in a run of ``total_steps`` steps.

    * ``step``: ``base_lr``, divided by 10 at 50% and 75% of the run (the paper's 32k and 48k of
      64k iterations), as ``torch.optim.lr_scheduler.MultiStepLR``;
    * ``cosine``: half a cosine from ``base_lr`` to 0, as ``CosineAnnealingLR(T_max=total_steps)``;
    * ``onecycle``: up from ``base_lr/25`` to ``base_lr`` in the first 30%, then down to
      ``base_lr/25/1e4``, both by cosine, as ``OneCycleLR`` (without momentum cycling).

    ``warmup_steps`` (step and cosine) ramps linearly from ``base_lr/10`` over the first steps.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
    if total_steps < 1 or not 0 <= step:
        raise ValueError(f"need total_steps >= 1 and step >= 0, got step={step}, total_steps={total_steps}")
    if schedule == "onecycle":
        initial = base_lr / ONECYCLE_DIV
        minimum = initial / ONECYCLE_FINAL_DIV
        end_up = float(ONECYCLE_PCT_START * total_steps) - 1
        end_down = float(total_steps - 1)

        def anneal(start: float, end: float, pct: float) -> float:
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

        if step <= end_up:
            return anneal(initial, base_lr, step / end_up)
        return anneal(base_lr, minimum, (step - end_up) / max(end_down - end_up, 1e-12))
    if schedule == "step":
        milestones = [round(f * total_steps) for f in STEP_MILESTONES]
        lr = base_lr * 0.1 ** sum(step >= m for m in milestones)
    else:
        lr = base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    if step < warmup_steps:
        lr = lr * (0.1 + 0.9 * step / warmup_steps)
    return lr


def param_groups(model: nn.Module, weight_decay: float, decay_bn_and_bias: bool = True) -> list[dict[str, Any]]:
    """Optimiser parameter groups: weight decay on every parameter, or only on weight matrices/kernels.

    With ``decay_bn_and_bias=False`` one-dimensional parameters (BatchNorm scales and shifts,
    biases) get no weight decay. BN makes a layer's output independent of the scale of the
    weights before it, so decaying BN's own scale mainly shrinks the signal instead of regularising.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_bn_and_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum (Nesterov if asked) over :func:`param_groups`."""
    return torch.optim.SGD(
        param_groups(model, config.weight_decay, config.decay_bn_and_bias),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: full float32)."""
    if amp not in AMP_MODES:
        raise ValueError(f"unknown amp mode {amp!r}; valid modes: {', '.join(AMP_MODES)}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device (it uses a gradient scaler); on the CPU use 'bf16' or 'off'")
    return torch.bfloat16 if amp == "bf16" else torch.float16
