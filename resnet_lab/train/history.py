"""The record of a run (:class:`History`) and of an evaluation (:class:`EvalResult`), plain types only."""

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


_SERIES = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "epoch_time_s")


@dataclass
class History:
    """Per-epoch record of a run, plain Python types only (JSON- and ``weights_only``-safe).

    Accuracies are fractions in [0, 1]. ``val_*`` are None when the run had no validation split.
    ``train_loss`` is the training objective (with label smoothing if used); ``val_loss`` is the
    plain cross-entropy. ``images_per_s`` counts training images over the training part of the epoch;
    ``epoch_time_s`` is the whole epoch's wall time, evaluation included.
    """

    epoch: list[int] = field(default_factory=list)  # epochs completed (1-based)
    step: list[int] = field(default_factory=list)  # SGD steps completed at the end of the epoch
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)  # learning rate of the epoch's last step
    images_per_s: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # model, data, mean/std, steps, resumes, interruptions

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **values: Any) -> None:
        for name in _SERIES:
            getattr(self, name).append(values[name])

    @property
    def best_epoch(self) -> int | None:
        """Epoch (1-based) with the highest validation accuracy (None without validation)."""
        scored = [(acc, e) for e, acc in zip(self.epoch, self.val_acc) if acc is not None]
        if not scored:
            return None
        best = max(acc for acc, _ in scored)
        return next(e for acc, e in scored if acc == best)

    @property
    def best_val_acc(self) -> float | None:
        accs = [a for a in self.val_acc if a is not None]
        return max(accs) if accs else None

    @property
    def total_time_s(self) -> float:
        return float(sum(self.epoch_time_s))

    def to_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in _SERIES} | {"meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        missing = [name for name in _SERIES if name not in d]
        if missing:
            raise ValueError(f"not a training history: missing {', '.join(missing)}")
        return cls(**{name: list(d[name]) for name in _SERIES}, meta=dict(d.get("meta", {})))


@dataclass
class EvalResult:
    """Loss (mean cross-entropy), accuracy (fraction) and the logits (CPU float32) of an evaluation."""

    loss: float
    accuracy: float
    logits: Tensor
    labels: Tensor

    @property
    def probs(self) -> Tensor:
        return self.logits.softmax(dim=1)

    @property
    def predictions(self) -> Tensor:
        return self.logits.argmax(dim=1)

    @property
    def n(self) -> int:
        return len(self.labels)

    def __str__(self) -> str:
        return f"loss {self.loss:.4f}, accuracy {100 * self.accuracy:.2f}% on {self.n} images"
