"""Checkpoints: written atomically through :mod:`resnet_lab.store`, read with ``weights_only=True``."""

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
from .. import store
from .config import CHECKPOINT_KEYS


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (:func:`resnet_lab.store.atomic_torch_save`): a crash while writing
    leaves the previous checkpoint intact."""
    return store.atomic_torch_save(path, state)


def load_checkpoint(path: str | Path, map_location: torch.device | str | None = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a clear error if it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = store.torch_load(path, map_location=map_location)
    except ValueError as exc:
        raise ValueError(f"checkpoint {exc}. Delete it, or use another checkpoint_dir or resume=False.") from exc
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        have = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint {path} is not a resnet_lab checkpoint: expected keys {CHECKPOINT_KEYS}, got {have}")
    return state


def state_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, shapes and bytes): equal digests, equal weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
