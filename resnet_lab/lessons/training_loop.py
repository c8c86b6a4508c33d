"""Lesson 04's hand-written training loop: the paper's schedule in epochs, and the data it loops over.

The lesson has the learner write the SGD step and the evaluation pass and run them in a visible loop
before it switches to :func:`resnet_lab.train.fit`. This module supplies what that loop needs and is not
the point of the lesson: the train/validation loaders built exactly as ``fit`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data import channel_stats, show, train_val_split
from ..i18n import _
from ..loader import DeviceLoader
from ..models import PAPER_TABLE6_ERRORS
from ..train.config import TrainConfig
from .degradation import PAPER_LENGTH

__all__ = ["PAPER_ITERATIONS", "PAPER_BATCH", "PAPER_TRAIN_IMAGES", "SPLIT_TRAIN_IMAGES", "paper_epochs",
           "SplitLoaders", "split_loaders", "split_summary", "best_epoch_summary", "paper_comparison"]

# The paper's CIFAR recipe is written once, in degradation.PAPER_LENGTH (He et al. 2015, section 4.2).
PAPER_ITERATIONS: int = PAPER_LENGTH["iters"]  # training stops at 64k iterations
PAPER_BATCH: int = PAPER_LENGTH["batch"]  # images per iteration
PAPER_TRAIN_IMAGES = PAPER_LENGTH["n_train"] + PAPER_LENGTH["n_val"]  # the reported models train on all 50k
SPLIT_TRAIN_IMAGES: int = PAPER_LENGTH["n_train"]  # the 45k/5k split on which the paper chose 64k (and we train)


def paper_epochs(iterations: int = PAPER_ITERATIONS, batch_size: int = PAPER_BATCH,
                 n_train: int = PAPER_TRAIN_IMAGES) -> float:
    """Epochs of ``iterations`` SGD steps of ``batch_size`` images over ``n_train`` images:
    images seen divided by images per epoch (the one definition the lesson prints and checks)."""
    for name, value in (("iterations", iterations), ("batch_size", batch_size), ("n_train", n_train)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return iterations * batch_size / n_train


@dataclass
class SplitLoaders:
    """The training and validation batches of a run, normalised with the training split's statistics."""

    train: DeviceLoader
    val: DeviceLoader
    mean: tuple[float, ...]
    std: tuple[float, ...]


def split_loaders(x_train: torch.Tensor, y_train: torch.Tensor, config: TrainConfig,
                  device: torch.device | str | None = None) -> SplitLoaders:
    """The loaders ``fit`` would use: ``config.n_val`` images held out (``config.split_seed``), per-channel
    mean/std of the rest, augmented shuffled training batches, plain validation batches."""
    if not config.n_val:
        raise ValueError("the hand-written loop evaluates on a validation split: config.n_val must be > 0")
    train_idx, val_idx = train_val_split(len(y_train), config.n_val, seed=config.split_seed)
    mean, std = channel_stats(x_train[train_idx])
    train = DeviceLoader(x_train[train_idx], y_train[train_idx], batch_size=config.batch_size, mean=mean, std=std,
                         device=device, train=True, seed=config.seed)
    val = DeviceLoader(x_train[val_idx], y_train[val_idx], batch_size=config.eval_batch_size, mean=mean, std=std,
                       device=device, train=False)
    return SplitLoaders(train, val, mean, std)


def split_summary(*, n_fit: int, n_val: int, n_test: int, data_label: str) -> str:
    """The three parts of the data and what each is for (lesson 04, section 1), in the learner's language.

    ``n_fit``: the images SGD trains on; ``n_val``: the validation images every choice is made on;
    ``n_test``: the test images, evaluated once at the end; ``data_label``: the data's label (says so
    when the data is a stand-in)."""
    return "\n".join([
        _("data          : {data}").format(data=show(data_label)),
        _("train split   : {n:,} images  (SGD sees these)").format(n=n_fit),
        _("validation    : {n:,} images  (every choice is made here)").format(n=n_val),
        _("test          : {n:,} images  (evaluated once, at the end)").format(n=n_test),
    ])


def best_epoch_summary(history: Any, data_label: str) -> str:
    """Which epoch ``fit`` kept (the best validation accuracy) out of how many, in the learner's language.

    ``history``: the :class:`resnet_lab.train.History` of the run (``best_val_acc``, ``best_epoch``, length)."""
    return _("best validation accuracy {acc:.2f}% at epoch {epoch} of {epochs} ({data}); "
             "the model holds that epoch's weights").format(
        acc=100 * history.best_val_acc, epoch=history.best_epoch, epochs=len(history), data=show(data_label))


def paper_comparison(gpu: Any, *, model: str, test_accuracy: float, epochs: int, profile_name: str,
                     data_label: str, synthetic: bool) -> str:
    """The paper's recipe and Table 6 errors beside the gpu profile's recipe and the learner's test error
    (lesson 04, section 6), in the learner's language.

    ``gpu``: the gpu profile's training budget (``n_train``, ``n_val``, ``epochs``, ``batch_size``);
    ``model``, ``test_accuracy`` (a fraction), ``epochs``, ``profile_name``, ``data_label``: the learner's run;
    ``synthetic``: True when the run used the stand-in (then it is flagged as not comparable)."""
    lines = [
        _("paper (He et al. 2015): {images:,} training images, {iterations:,} iterations of {batch} = "
          "{epochs:.1f} epochs").format(images=PAPER_TRAIN_IMAGES, iterations=PAPER_ITERATIONS, batch=PAPER_BATCH,
                                        epochs=paper_epochs()),
        _("our gpu profile      : {images:,} training images, {epochs} epochs of batch {batch}").format(
            images=gpu.n_train - gpu.n_val, epochs=gpu.epochs, batch=gpu.batch_size),
    ]
    for depth in (20, 56):
        lines.append(_("  resnet{depth}: the paper's Table 6 test error {error:.2f}%").format(
            depth=depth, error=PAPER_TABLE6_ERRORS[depth]))
    lines.append(_("  cifar_resnet18: not in the paper's Table 6, so there is no paper number to compare with"))
    yours = (_("yours: {model}, {error:.2f}% test error after {epochs} epochs, {profile} profile, {data} "
               "(a stand-in: not comparable with the paper)") if synthetic else
             _("yours: {model}, {error:.2f}% test error after {epochs} epochs, {profile} profile, {data}"))
    lines.append(yours.format(model=model, error=100 * (1 - test_accuracy), epochs=epochs, profile=profile_name,
                              data=show(data_label)))
    return "\n".join(lines)
