"""The training run's settings: :class:`TrainConfig`, the per-model :func:`recipe` and :func:`make_model`."""

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
from ..loader import LOADER_NAMES
from ..models import MODEL_NAMES, build_model, paper_cifar_depth


SCHEDULES: tuple[str, ...] = ("step", "onecycle", "cosine")
AMP_MODES: tuple[str, ...] = ("auto", "bf16", "fp16", "off")
CHECKPOINT_KEYS: tuple[str, ...] = ("model", "optimizer", "epoch", "batch", "step", "history", "config")
# The paper's step schedule: /10 at 32k and 48k of 64k iterations, i.e. at these fractions of the run.
STEP_MILESTONES: tuple[float, ...] = (32 / 64, 48 / 64)
# One-cycle shape (the defaults of torch.optim.lr_scheduler.OneCycleLR).
ONECYCLE_PCT_START, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4
def _paper_depth(model: str) -> int | None:
    """Depth of one of the paper's CIFAR nets (resnetN, plainN, preact_resnetN), else None."""
    return paper_cifar_depth(model) if model in MODEL_NAMES else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)



@dataclass
class TrainConfig:
    """Everything that defines a training run. Units in the comments; checked on creation."""

    model: str = "resnet20"  # a name from resnet_lab.models.MODEL_NAMES
    epochs: int = 182  # passes over the training split (64k iterations of 128 on 45k images = 182)
    batch_size: int = 128  # images per SGD step, summed over all DDP ranks
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # SGD momentum
    nesterov: bool = False  # Nesterov momentum instead of the heavy ball
    weight_decay: float = 1e-4  # L2 penalty coefficient
    decay_bn_and_bias: bool = True  # True: decay every parameter (the paper); False: not BN scales/shifts, biases
    label_smoothing: float = 0.0  # probability mass spread over all classes in the training loss
    schedule: str = "step"  # "step" (paper: /10 at 50% and 75% of the run), "onecycle" or "cosine"
    warmup_epochs: float = 0.0  # epochs of linear warm-up from lr/10 (step and cosine schedules)
    n_val: int = 5000  # images held out of the training set for validation (0: no validation)
    split_seed: int = 0  # seed of the train/validation split (keep it fixed when comparing runs)
    seed: int = 0  # seed of the weights (make_model), the batch order and the augmentation
    amp: str = "auto"  # autocast: "auto" (bf16 on CUDA if supported, else fp16; off on CPU), "bf16", "fp16", "off"
    channels_last: bool | None = None  # NHWC memory layout; None: on CUDA only
    compile: bool = False  # torch.compile the training model
    loader: str = "device"  # "device" (uint8 on the device, batched augmentation) or "torchvision"
    num_workers: int = 2  # worker processes of the torchvision loader
    width: int | None = None  # first-stage channels of a CIFAR ResNet (None: the paper's 16)
    eval_batch_size: int = 512  # images per evaluation batch
    checkpoint_dir: str | None = None  # folder for last.pt / best.pt (None: no checkpoints)
    resume: bool = True  # continue from checkpoint_dir/last.pt when it exists

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; valid names: {', '.join(MODEL_NAMES)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")
        for name in ("n_val", "num_workers", "seed", "split_seed"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (e.g. 0.9)")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs!r}")
        if self.warmup_epochs and self.schedule == "onecycle":
            raise ValueError("the onecycle schedule has its own warm-up; use warmup_epochs=0 with it")
        if self.amp not in AMP_MODES:
            raise ValueError(f"unknown amp mode {self.amp!r}; valid modes: {', '.join(AMP_MODES)}")
        if self.loader not in LOADER_NAMES:
            raise ValueError(f"unknown loader {self.loader!r}; valid loaders: {', '.join(LOADER_NAMES)}")
        if self.width is not None:
            if not _is_int(self.width) or self.width < 1:
                raise ValueError(f"width must be a positive integer or None, got {self.width!r}")
            if _paper_depth(self.model) is None:
                raise ValueError(
                    f"width applies only to the paper's CIFAR nets (resnetN, plainN, preact_resnetN with N = 6n+2), "
                    f"not to {self.model!r}; leave --width (width) unset"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (safe for JSON and ``weights_only`` checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def make_model(config: TrainConfig, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """The model named in ``config``, initialised from ``config.seed`` without touching the global RNG.

    ``in_channels``: 3 for colour images (CIFAR-10), 1 for grey ones (MNIST: ``data.in_channels``).
    """
    kwargs: dict[str, Any] = {} if config.width is None else {"width": config.width}
    if in_channels != 3:
        kwargs["in_channels"] = in_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(config.model, num_classes=num_classes, **kwargs)


def recipe(
    model: str,
    *,
    epochs: int,
    batch_size: int = 128,
    n_val: int = 5000,
    width: int | None = None,
    compile: bool = False,
    **overrides: Any,
) -> TrainConfig:
    """The training recipe we use for ``model``; ``overrides`` replace any field.

    * the paper's CIFAR nets (``resnetN``, ``plainN``, ``preact_resnetN``): section 4.2 of He et al.
      (2015): SGD lr 0.1, momentum 0.9, weight decay 1e-4 on all parameters, the step schedule
      (/10 at 50% and 75% of the run); N >= 110 adds one epoch of warm-up, as the paper
      starts ResNet-110 at lr 0.01 "until the training error is below 80%";
    * ``cifar_resnet18`` (and the other ImageNet-shaped nets): 11M parameters overfit 45k images
      more, so weight decay 5e-4 and the cosine schedule, the usual recipe for ~95% on CIFAR-10.

    ``width`` applies to the paper's CIFAR nets only and is ignored for the others (the command line refuses it).
    """
    depth = _paper_depth(model)
    if depth is not None:
        base: dict[str, Any] = dict(schedule="step", weight_decay=1e-4, decay_bn_and_bias=True, width=width,
                                    warmup_epochs=1.0 if depth >= 110 and epochs > 1 else 0.0)
    else:
        base = dict(schedule="cosine", weight_decay=5e-4, decay_bn_and_bias=True, width=None)
    base |= dict(model=model, epochs=epochs, batch_size=batch_size, n_val=n_val, lr=0.1, momentum=0.9, compile=compile)
    return TrainConfig(**(base | overrides))
