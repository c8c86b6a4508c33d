"""The training core: one SGD step, a short loop with a recording hook, and an evaluation pass.

Every trainer in the package is built on these three functions: :func:`resnet_lab.train.fit` (epochs,
checkpoints, DDP around :func:`train_step`), lesson 01's Figure-6 experiment, lesson 02's short
trainings and lesson 05's nets (:func:`train_loop`). They are the loop of lesson 04, written once::

    logits = model(x); loss = criterion(logits, y)          # forward
    optimizer.zero_grad(); loss.backward(); optimizer.step()  # backward and update
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["StepRecord", "autocast", "train_step", "train_loop", "evaluate_batches"]

Criterion = Callable[[Tensor, Tensor], Tensor]


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for ``dtype`` on ``device``'s type; a no-op when ``dtype`` is None (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def train_step(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    lr: float | None = None,
    criterion: Criterion | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[Tensor, Tensor]:
    """One SGD step on the batch ``(x, y)``; returns the detached loss and logits.

    ``lr`` (if given) is set on every parameter group first; the forward pass runs under autocast
    when ``amp_dtype`` is given; ``scaler`` (fp16) scales the loss before ``backward``.
    """
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    loss_fn = criterion if criterion is not None else F.cross_entropy
    with autocast(x.device, amp_dtype):
        logits = model(x)
        loss = loss_fn(logits, y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach(), logits.detach()


@dataclass
class StepRecord:
    """What the hook of :func:`train_loop` sees after each step (``step`` counts steps done, 1-based)."""

    step: int
    lr: float
    loss: Tensor
    logits: Tensor
    y: Tensor


def train_loop(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    lr_at: Callable[[int], float] | None = None,
    start_step: int = 0,
    criterion: Criterion | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    on_step: Callable[[StepRecord], bool | None] | None = None,
) -> int:
    """Train for at most ``steps`` steps in total, taking batches from ``batches``; returns the steps done.

    ``lr_at(step)`` gives the learning rate of step ``step`` (0-based). ``on_step`` is called after
    every step with a :class:`StepRecord` (to record losses, evaluate every k steps...); it returns
    True to stop early (e.g. on a non-finite loss).
    """
    if steps < 0 or start_step < 0:
        raise ValueError(f"steps and start_step must be >= 0, got {steps}, {start_step}")
    step = start_step
    model.train()
    batch_iter = iter(batches)
    while step < steps:  # checked before taking a batch, so no batch is drawn (or augmented) in vain
        try:
            x, y = next(batch_iter)
        except StopIteration:
            break
        lr = lr_at(step) if lr_at is not None else float(optimizer.param_groups[0]["lr"])
        loss, logits = train_step(model, x, y, optimizer, lr=lr, criterion=criterion, amp_dtype=amp_dtype,
                                  scaler=scaler)
        step += 1
        if on_step is not None and on_step(StepRecord(step, lr, loss, logits, y)):
            break
    return step


@torch.no_grad()
def evaluate_batches(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], *, amp_dtype: torch.dtype | None = None
) -> tuple[float, float, int]:
    """Mean cross-entropy, accuracy (fraction) and image count over ``batches``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    try:
        for x, y in batches:
            with autocast(x.device, amp_dtype):
                logits = model(x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate_batches got no batches")
    return loss_sum / n, correct / n, n
