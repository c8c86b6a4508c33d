"""Lesson 04's hand-written training loop: the paper's schedule in epochs, and the data it loops over.

The lesson has the learner write the SGD step and the evaluation pass and run them in a visible loop
before it switches to :func:`resnet_lab.train.fit`. This module supplies what that loop needs and is not
the point of the lesson: the train/validation loaders built exactly as ``fit`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import channel_stats, train_val_split
from ..loader import DeviceLoader
from ..train.config import TrainConfig
from .degradation import PAPER_LENGTH

__all__ = ["PAPER_ITERATIONS", "PAPER_BATCH", "PAPER_TRAIN_IMAGES", "SPLIT_TRAIN_IMAGES", "paper_epochs",
           "SplitLoaders", "split_loaders"]

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
