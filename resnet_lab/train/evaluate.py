"""Evaluation of a model on uint8 images with the training split's normalization, and the one final test."""

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
from ..data import ImageData, show
from ..i18n import _
from ..loader import DeviceLoader
from .core import autocast as _autocast
from .history import EvalResult, History
from .schedule import resolve_amp


def _evaluate_loader(model: nn.Module, loader: DeviceLoader, amp_dtype: torch.dtype | None) -> EvalResult:
    was_training = model.training
    model.eval()
    logits_list: list[Tensor] = []
    labels_list: list[Tensor] = []
    try:
        with torch.inference_mode(), _autocast(loader.device, amp_dtype):
            for x, y in loader.epoch(0):
                logits_list.append(model(x).float().cpu())
                labels_list.append(y.cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(logits_list)
    labels = torch.cat(labels_list)
    loss = nn.functional.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).double().mean().item()
    return EvalResult(loss, acc, logits, labels)


def _resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def evaluate(
    model: nn.Module,
    images_uint8: Tensor,
    labels: Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str | None = None,
    batch_size: int = 512,
    amp: str = "off",
    channels_last: bool = False,
) -> EvalResult:
    """Loss and accuracy of ``model`` (in eval mode, no augmentation) on uint8 images.

    ``mean``/``std`` must be those of the training split (``History.meta['mean']``/``['std']``).
    The model is moved to ``device`` (default: CUDA if available, else the CPU).
    """
    dev = _resolve_device(device)
    model.to(dev)
    loader = DeviceLoader(
        images_uint8, labels, batch_size=batch_size, mean=mean, std=std, device=dev, train=False,
        channels_last=channels_last,
    )
    return _evaluate_loader(model, loader, resolve_amp(amp, dev))


def final_test(
    model: nn.Module,
    data: ImageData,
    history: History,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 512,
    verbose: bool = True,
) -> EvalResult:
    """The one test-set evaluation of a finished run, with the training split's normalisation.

    Call it once, after every choice (model, epochs, checkpoint) was made on validation data.
    """
    mean, std = history.meta.get("mean"), history.meta.get("std")
    if mean is None or std is None:
        raise ValueError("history.meta has no 'mean'/'std': pass the History that fit() returned")
    result = evaluate(model, data.x_test, data.y_test, mean=mean, std=std, device=device, batch_size=batch_size)
    if verbose:
        print(_("test accuracy (reported once): {accuracy:.2f}% on {n} test images ({data})").format(
            accuracy=100 * result.accuracy, n=result.n, data=show(data.label)))
    return result
