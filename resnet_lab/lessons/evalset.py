"""Lesson 05: the fixed evaluation set every lesion and loss-landscape slice is measured on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..data import ImageData, normalize, train_val_split
from ..train.core import evaluate_batches

if TYPE_CHECKING:  # pragma: no cover
    from ..train import History

__all__ = ["EvalSet", "make_eval_set", "heldout_eval_set", "evaluate_loss_accuracy"]


@dataclass(frozen=True)
class EvalSet:
    """Normalised float images and labels, already on the device: every lesion and slice uses it."""

    images: Tensor  # float32 (N, 3, 32, 32), standardised with the training split's mean/std
    labels: Tensor  # int64 (N,)
    label: str  # which data: "CIFAR-10" or "synthetic stand-in, not CIFAR-10"

    def __len__(self) -> int:
        return len(self.labels)


def make_eval_set(
    images_uint8: Tensor,
    labels: Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    label: str,
    device: torch.device | str | None = None,
) -> EvalSet:
    """Normalise uint8 images once (``mean``/``std`` of the *training* split) and keep them on ``device``."""
    if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images_uint8.dtype} {tuple(images_uint8.shape)}")
    if labels.ndim != 1 or len(labels) != len(images_uint8) or len(labels) == 0:
        raise ValueError(f"expected one label per image (and at least one image), got {tuple(labels.shape)}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    x = normalize(images_uint8.to(dev), tuple(mean), tuple(std))
    return EvalSet(x, labels.to(dev, torch.int64), label)


def heldout_eval_set(
    data: ImageData, n_eval: int, history: History, *, split_seed: int = 0, device: torch.device | str | None = None
) -> EvalSet:
    """The ``n_eval`` training images that :func:`resnet_lab.train.fit` held out for validation.

    ``fit`` splits with :func:`resnet_lab.data.train_val_split` (``n_val=n_eval``, ``split_seed``), so
    none of the lesson's nets saw these images; they are normalised with the training split's
    mean/std recorded in ``history.meta``.
    """
    mean, std = history.meta.get("mean"), history.meta.get("std")
    if mean is None or std is None:
        raise ValueError("history.meta has no 'mean'/'std': pass the History that fit() (or train_or_load) returned")
    _, val_idx = train_val_split(len(data.y_train), n_eval, seed=split_seed)
    return make_eval_set(data.x_train[val_idx], data.y_train[val_idx], mean=mean, std=std, label=data.label, device=device)


def evaluate_loss_accuracy(model: nn.Module, eval_set: EvalSet, *, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` in eval mode on ``eval_set``.

    The evaluation pass of the training core (:func:`resnet_lab.train.core.evaluate_batches`), which
    restores the model's train/eval mode afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    x, y = eval_set.images, eval_set.labels
    loss, accuracy, _ = evaluate_batches(model, ((x[i : i + batch_size], y[i : i + batch_size])
                                                 for i in range(0, len(y), batch_size)))
    return loss, accuracy
