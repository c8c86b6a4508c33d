"""Lesson 05: why residual nets work. Lesions, loss-landscape slices and pre-activation.

Three experiments on trained CIFAR nets, each a small function here so the notebook only narrates:

* **Lesion study** (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively
  Shallow Networks"). Deleting block ``i`` of a residual net means setting its branch to zero,
  ``F(x) = 0``, so the block computes ``relu(shortcut(x))``: the identity for an ordinary block
  (its input is already non-negative), and the parameter-free option-A map (every second pixel,
  zero channels appended) or the learned projection (option B) for a downsampling block. A
  pre-activation block has no ReLU after the addition, so it becomes ``shortcut(x)``.
  A *plain* block has no shortcut. Deleting it means skipping it: the identity where the shape
  stays, and, for a downsampling block (stride 2, channels doubled), the same parameter-free
  option-A map, the only parameter-free way to hand the next block a tensor of the shape it
  expects. So in both nets a deleted block is replaced by the very same function; the difference
  is only whether the rest of the net was trained with that path present.
* **Loss landscape** (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"): 1-D and
  2-D slices ``L(theta + a d1 + b d2)`` along random *filter-normalised* directions: each filter
  (output channel of a convolution, row of the classifier) of the Gaussian direction is rescaled
  to the norm of the same filter of the weights. One-dimensional parameters (BatchNorm scales and
  shifts, biases) get a zero direction, as in Li et al.'s code (``ignore='biasbn'``): they stay at
  their trained values. The loss is evaluated on one fixed set of images with BatchNorm in eval
  mode (running statistics fixed), so a point of the slice is a deterministic function.
* **Pre-activation** (He et al. 2016, "Identity Mappings in Deep Residual Networks"): with BN and
  ReLU moved before the convolutions, a stage computes exactly ``x_L = x_l + sum_i F(x_i)``;
  :func:`unrolled_stage` checks this numerically, for both block layouts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .exercises.core import CheckResult, check_choice, check_number
from .data import ImageData, normalize
from .models import BasicBlock, Bottleneck, PreActBlock, ShortcutA, residual_blocks

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .profiles import WhyBudget
    from .train import History

__all__ = [
    "EvalSet",
    "make_eval_set",
    "heldout_eval_set",
    "evaluate_loss_accuracy",
    "BlockInfo",
    "block_table",
    "DeletedBlock",
    "deleted_blocks",
    "LesionResult",
    "single_block_lesion",
    "random_lesion_sets",
    "RandomLesionResult",
    "random_lesion_study",
    "path_length_counts",
    "surviving_path_counts",
    "surviving_path_fraction",
    "surviving_fraction_of_length",
    "retention",
    "effective_path_length",
    "filter_norms",
    "filter_normalized_direction",
    "perturbed",
    "slice_coordinates",
    "Slice1D",
    "Slice2D",
    "loss_slice_1d",
    "loss_slice_2d",
    "sharpness",
    "unrolled_stage",
    "shortcut_gap",
    "clean_shortcut_gaps",
    "why_train_config",
    "why_model_names",
    "default_cache_dir",
    "train_or_load",
    "lesion_summary",
    "plot_lesion",
    "plot_random_lesion",
    "plot_slices",
    "plot_histories",
    "DELETION_OPTIONS",
    "deletion_kind",
    "check_paths_of_length",
    "check_surviving_fraction",
    "check_deleted_block",
    "check_filter_norm",
    "check_clean_shortcut",
]


# --------------------------------------------------------------------------------------------
# A fixed evaluation set
# --------------------------------------------------------------------------------------------
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
    from .data import train_val_split

    mean, std = history.meta.get("mean"), history.meta.get("std")
    if mean is None or std is None:
        raise ValueError("history.meta has no 'mean'/'std': pass the History that fit() (or train_or_load) returned")
    _, val_idx = train_val_split(len(data.y_train), n_eval, seed=split_seed)
    return make_eval_set(data.x_train[val_idx], data.y_train[val_idx], mean=mean, std=std, label=data.label, device=device)


@torch.no_grad()
def evaluate_loss_accuracy(model: nn.Module, eval_set: EvalSet, *, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` in eval mode on ``eval_set``.

    The model's train/eval mode is restored afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        for start in range(0, len(eval_set), batch_size):
            x = eval_set.images[start : start + batch_size]
            y = eval_set.labels[start : start + batch_size]
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum().item())
    finally:
        model.train(was_training)
    n = len(eval_set)
    return loss_sum / n, correct / n


# --------------------------------------------------------------------------------------------
# Lesions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockInfo:
    """One block of a net, in forward order."""

    index: int
    name: str  # qualified module name, e.g. "layer2.0"
    in_channels: int
    out_channels: int
    stride: int
    residual: bool

    @property
    def downsampling(self) -> bool:
        """True when the block changes the tensor's shape (stride 2 and/or more channels)."""
        return self.stride != 1 or self.in_channels != self.out_channels


def _block_channels(block: nn.Module) -> tuple[int, int]:
    if isinstance(block, Bottleneck):
        return block.conv1.in_channels, block.conv3.out_channels
    if isinstance(block, (BasicBlock, PreActBlock)):
        return block.conv1.in_channels, block.conv2.out_channels
    raise ValueError(f"expected a BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")


def block_table(model: nn.Module) -> list[BlockInfo]:
    """The blocks of ``model`` in forward order (index, name, channels, stride, residual or plain)."""
    table = []
    for i, (name, block) in enumerate(residual_blocks(model)):
        cin, cout = _block_channels(block)
        table.append(BlockInfo(i, name, cin, cout, int(block.stride), bool(block.residual)))  # type: ignore[arg-type]
    if not table:
        raise ValueError("the model has no BasicBlock, Bottleneck or PreActBlock to delete")
    return table


class DeletedBlock(nn.Module):
    """What a block becomes when it is deleted: its branch set to zero, only the shortcut path left.

    * residual block: ``relu(shortcut(x))`` (``shortcut(x)`` for a pre-activation block, which has
      no ReLU after the addition); the shortcut is the block's own (identity, option A or B).
    * plain block (no shortcut): the identity when the shape stays, else the parameter-free
      option-A map (every ``stride``-th pixel, zero channels appended), followed by the ReLU the
      block would have applied.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        cin, cout = _block_channels(block)
        stride = int(block.stride)  # type: ignore[arg-type]
        path: nn.Module | None
        if getattr(block, "residual", True):
            path = block.downsample  # type: ignore[assignment]
        elif stride != 1 or cin != cout:
            if cout < cin:
                raise ValueError(f"cannot skip a plain block that reduces channels ({cin} -> {cout})")
            path = ShortcutA(cin, cout, stride)
        else:
            path = None
        self.path = path
        # A pre-activation block's projection reads BN-ReLU of the input (models.PreActBlock's default).
        preact = path is not None and getattr(block, "residual", True) and getattr(block, "shortcut_preactivated", False)
        self.pre: nn.Module | None = nn.Sequential(block.bn1, nn.ReLU()) if preact else None  # type: ignore[arg-type]
        self.final_relu = not isinstance(block, PreActBlock)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre is not None:
            x = self.pre(x)
        out = x if self.path is None else self.path(x)
        return F.relu(out) if self.final_relu else out


def _check_indices(indices: Iterable[int], n_blocks: int) -> list[int]:
    out = list(indices)
    for i in out:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_blocks:
            raise ValueError(f"block indices must be integers in 0..{n_blocks - 1}, got {i!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"block indices must be distinct, got {out}")
    return out


@contextmanager
def deleted_blocks(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Temporarily replace the blocks ``indices`` (forward order) by :class:`DeletedBlock`.

    ``with deleted_blocks(net, [3]): net(x)`` runs the net without its 4th block; the original
    blocks are back afterwards, also when an exception is raised.
    """
    blocks = residual_blocks(model)
    chosen = _check_indices(indices, len(blocks))
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for i in chosen:
            name, block = blocks[i]
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            replacement = DeletedBlock(block)
            setattr(parent, child, replacement)
            swapped.append((parent, child, block))
        yield model
    finally:
        for parent, child, block in reversed(swapped):
            setattr(parent, child, block)


@dataclass(frozen=True)
class LesionResult:
    """Accuracy and loss of a net with one block deleted at a time."""

    blocks: list[BlockInfo]
    baseline_loss: float
    baseline_accuracy: float
    loss: list[float]  # loss[i]: block i deleted
    accuracy: list[float]
    label: str  # which data

    @property
    def drop(self) -> list[float]:
        """Accuracy lost by deleting each block (baseline minus lesioned)."""
        return [self.baseline_accuracy - a for a in self.accuracy]


def single_block_lesion(model: nn.Module, eval_set: EvalSet, *, batch_size: int = 500) -> LesionResult:
    """Delete each block in turn, at test time, and measure loss and accuracy on ``eval_set``."""
    blocks = block_table(model)
    base_loss, base_acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
    losses, accs = [], []
    for info in blocks:
        with deleted_blocks(model, [info.index]):
            loss, acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
        losses.append(loss)
        accs.append(acc)
    return LesionResult(blocks, base_loss, base_acc, losses, accs, eval_set.label)


def random_lesion_sets(
    n_blocks: int, k: int, n_samples: int, *, seed: int = 0, candidates: Sequence[int] | None = None
) -> list[tuple[int, ...]]:
    """Up to ``n_samples`` distinct sets of ``k`` blocks to delete, drawn from ``candidates``.

    When there are no more than ``n_samples`` such sets (``comb(len(candidates), k)``), all of them
    are returned, in lexicographic order; otherwise ``n_samples`` distinct ones drawn at random
    (a local generator seeded with ``seed``; the global RNG is not touched). Each set is sorted.
    """
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ValueError(f"n_blocks must be a positive integer, got {n_blocks!r}")
    pool = sorted(range(n_blocks) if candidates is None else _check_indices(candidates, n_blocks))
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(pool):
        raise ValueError(f"k must be an integer in 0..{len(pool)} (the number of candidate blocks), got {k!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    total = math.comb(len(pool), k)
    if total <= n_samples:
        return [tuple(s) for s in itertools.combinations(pool, k)]
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < n_samples:
        s = tuple(sorted(rng.sample(pool, k)))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


@dataclass(frozen=True)
class RandomLesionResult:
    """Accuracies of a net with random sets of ``k`` blocks deleted, for several ``k``."""

    n_blocks: int
    candidates: list[int]  # blocks that could be drawn
    sets: dict[int, list[tuple[int, ...]]]  # k -> the deleted sets
    accuracy: dict[int, list[float]]  # k -> accuracy with each set deleted
    label: str

    @property
    def ks(self) -> list[int]:
        return sorted(self.accuracy)

    def mean(self, k: int) -> float:
        return sum(self.accuracy[k]) / len(self.accuracy[k])

    def std(self, k: int) -> float:
        a = self.accuracy[k]
        m = self.mean(k)
        return math.sqrt(sum((v - m) ** 2 for v in a) / len(a))


def random_lesion_study(
    model: nn.Module,
    eval_set: EvalSet,
    ks: Iterable[int],
    n_samples: int,
    *,
    seed: int = 0,
    candidates: Sequence[int] | None = None,
    batch_size: int = 500,
) -> RandomLesionResult:
    """Delete random sets of ``k`` blocks (``n_samples`` sets per ``k``) and record the accuracies."""
    n = len(block_table(model))
    pool = list(range(n)) if candidates is None else sorted(_check_indices(candidates, n))
    sets: dict[int, list[tuple[int, ...]]] = {}
    accs: dict[int, list[float]] = {}
    for k in ks:
        sets[k] = random_lesion_sets(n, k, n_samples, seed=seed + 7919 * k, candidates=pool)
        accs[k] = []
        for s in sets[k]:
            with deleted_blocks(model, s):
                accs[k].append(evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)[1])
    return RandomLesionResult(n, pool, sets, accs, eval_set.label)


def _check_nk(n_blocks: int, k: int) -> None:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
        raise ValueError(f"n_blocks must be an integer >= 0, got {n_blocks!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_blocks:
        raise ValueError(f"k must be an integer in 0..{n_blocks}, got {k!r}")


def path_length_counts(n_blocks: int) -> list[int]:
    """Paths of each length 0..n through ``n`` residual blocks: ``comb(n, l)`` (each block: branch or skip)."""
    _check_nk(n_blocks, 0)
    return [math.comb(n_blocks, length) for length in range(n_blocks + 1)]


def surviving_path_counts(n_blocks: int, k: int) -> list[int]:
    """Paths of each length 0..n that avoid every one of ``k`` deleted blocks: ``comb(n - k, l)``.

    A path survives when it takes the shortcut at each deleted block, so it is a path through the
    other ``n - k`` blocks; none is longer than ``n - k``.
    """
    _check_nk(n_blocks, k)
    return [math.comb(n_blocks - k, length) for length in range(n_blocks + 1)]


def surviving_path_fraction(n_blocks: int, k: int) -> float:
    """Fraction of the ``2**n`` paths left after deleting ``k`` blocks (it is ``2**-k``)."""
    return sum(surviving_path_counts(n_blocks, k)) / sum(path_length_counts(n_blocks))


def surviving_fraction_of_length(n_blocks: int, k: int, length: int) -> float:
    """Fraction of the paths of ``length`` that survive ``k`` deleted blocks: ``comb(n-k, l) / comb(n, l)``.

    Short paths survive far more often than long ones: for ``length = 1`` it is ``(n - k) / n``.
    """
    _check_nk(n_blocks, k)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= n_blocks:
        raise ValueError(f"length must be an integer in 0..{n_blocks}, got {length!r}")
    return math.comb(n_blocks - k, length) / math.comb(n_blocks, length)


def retention(result: RandomLesionResult, chance: float) -> dict[int, float]:
    """Accuracy above chance kept after deleting k blocks, as a fraction of the intact net's (k = 0 is 1).

    ``(mean accuracy(k) - chance) / (accuracy(0) - chance)``; needs k = 0 among the measured ks and an
    intact net better than chance.
    """
    if 0 not in result.accuracy:
        raise ValueError("retention needs the intact net: include k = 0 in the study's ks")
    base = result.mean(0) - chance
    if base <= 0:
        raise ValueError(f"the intact net is not better than chance ({result.mean(0):.3f} <= {chance:.3f})")
    return {k: (result.mean(k) - chance) / base for k in result.ks}


def effective_path_length(result: RandomLesionResult, chance: float) -> tuple[int, dict[int, float]]:
    """The path length ``l`` whose survival curve ``comb(n-k, l)/comb(n, l)`` best matches :func:`retention`.

    Veit et al.'s reading: if a residual net behaves like an ensemble of its paths and relies
    mostly on paths of about ``l`` blocks, it loses accuracy as those paths disappear. Returns
    ``(l, {l: mean squared gap})`` over ``l = 1..n``.
    """
    kept = retention(result, chance)
    errors = {
        length: sum((kept[k] - surviving_fraction_of_length(result.n_blocks, k, length)) ** 2 for k in kept) / len(kept)
        for length in range(1, result.n_blocks + 1)
    }
    return min(errors, key=lambda length: errors[length]), errors


# --------------------------------------------------------------------------------------------
# Loss landscape
# --------------------------------------------------------------------------------------------
def filter_norms(t: Tensor) -> Tensor:
    """Euclidean norm of each filter (slice along dim 0) of a weight tensor with >= 2 dims."""
    if t.ndim < 2:
        raise ValueError(f"filters need a tensor with >= 2 dims (conv or linear weight), got shape {tuple(t.shape)}")
    return t.detach().reshape(t.shape[0], -1).norm(dim=1)


def filter_normalized_direction(model: nn.Module, *, seed: int = 0) -> dict[str, Tensor]:
    """A random direction in weight space, filter-normalised as in Li et al. (2018).

    For every weight with >= 2 dims (convolution kernels, the classifier matrix) a Gaussian
    tensor is drawn (from a CPU generator seeded with ``seed``, so the direction is the same on any
    device) and each filter ``d_i`` is rescaled to ``d_i / |d_i| * |w_i|``. One-dimensional
    parameters (BatchNorm scale/shift, biases) get zeros: moving them would change the scale of a
    layer's output and dominate the picture, so Li et al. leave them out. Buffers (BN running
    statistics) are not parameters and are never moved.
    """
    g = torch.Generator().manual_seed(seed)
    direction: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        if p.ndim <= 1:
            direction[name] = torch.zeros_like(p, memory_format=torch.contiguous_format).detach()
            continue
        d = torch.randn(p.shape, generator=g, dtype=torch.float32).to(device=p.device, dtype=p.dtype)
        scale = filter_norms(p) / (filter_norms(d) + 1e-10)
        direction[name] = d * scale.view(-1, *([1] * (p.ndim - 1)))
    return direction


def _check_direction(model: nn.Module, direction: Mapping[str, Tensor]) -> None:
    params = dict(model.named_parameters())
    if set(direction) != set(params):
        missing = sorted(set(params) - set(direction))[:3]
        extra = sorted(set(direction) - set(params))[:3]
        raise ValueError(
            f"a direction needs one tensor per parameter of the model (use filter_normalized_direction(model)); "
            f"missing {missing}, unexpected {extra}"
        )
    for name, p in params.items():
        if direction[name].shape != p.shape:
            raise ValueError(f"direction[{name!r}] has shape {tuple(direction[name].shape)}, the parameter {tuple(p.shape)}")


@contextmanager
def perturbed(
    model: nn.Module, directions: Sequence[Mapping[str, Tensor]], coefficients: Sequence[float]
) -> Iterator[nn.Module]:
    """Temporarily move the weights to ``theta + sum_j c_j d_j``; the exact weights come back afterwards."""
    if len(directions) != len(coefficients):
        raise ValueError(f"need one coefficient per direction, got {len(directions)} directions, {len(coefficients)} coefficients")
    for d in directions:
        _check_direction(model, d)
    params = dict(model.named_parameters())
    saved = {name: p.detach().clone() for name, p in params.items()}
    try:
        with torch.no_grad():
            for name, p in params.items():
                for d, c in zip(directions, coefficients):
                    if c:
                        p.add_(d[name], alpha=float(c))
        yield model
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(saved[name])


def slice_coordinates(points: int, radius: float = 1.0) -> list[float]:
    """``points`` equally spaced values in ``[-radius, radius]``; an odd count so 0 is exactly one of them."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 3 or points % 2 == 0:
        raise ValueError(f"points must be an odd integer >= 3 (3, 5, 7, ...) so that 0 is a grid point, got {points!r}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    half = (points - 1) // 2
    return [radius * (i - half) / half for i in range(points)]


@dataclass(frozen=True)
class Slice1D:
    """Loss and accuracy along ``theta + alpha * d``."""

    alphas: list[float]
    loss: list[float]
    accuracy: list[float]
    label: str


@dataclass(frozen=True)
class Slice2D:
    """Loss and accuracy on the plane ``theta + alpha * d1 + beta * d2``; ``loss[j][i]`` at (alphas[i], betas[j])."""

    alphas: list[float]
    betas: list[float]
    loss: list[list[float]]
    accuracy: list[list[float]]
    label: str


def loss_slice_1d(
    model: nn.Module,
    eval_set: EvalSet,
    direction: Mapping[str, Tensor],
    alphas: Sequence[float],
    *,
    batch_size: int = 500,
) -> Slice1D:
    """The loss of ``model`` moved by ``alpha * direction`` for each alpha (BN in eval mode)."""
    losses, accs = [], []
    for a in alphas:
        with perturbed(model, [direction], [a]):
            loss, acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
        losses.append(loss)
        accs.append(acc)
    return Slice1D([float(a) for a in alphas], losses, accs, eval_set.label)


def loss_slice_2d(
    model: nn.Module,
    eval_set: EvalSet,
    d1: Mapping[str, Tensor],
    d2: Mapping[str, Tensor],
    alphas: Sequence[float],
    betas: Sequence[float],
    *,
    batch_size: int = 500,
) -> Slice2D:
    """The loss on a grid of the plane spanned by ``d1`` (alphas) and ``d2`` (betas) through the weights."""
    loss_grid, acc_grid = [], []
    for b in betas:
        row_l, row_a = [], []
        for a in alphas:
            with perturbed(model, [d1, d2], [a, b]):
                loss, acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
            row_l.append(loss)
            row_a.append(acc)
        loss_grid.append(row_l)
        acc_grid.append(row_a)
    return Slice2D([float(a) for a in alphas], [float(b) for b in betas], loss_grid, acc_grid, eval_set.label)


def sharpness(s: Slice1D, radius: float = 0.5) -> float:
    """Mean loss increase over the points with ``0 < |alpha| <= radius``, relative to alpha = 0.

    A crude single number for "how fast the loss rises around the minimum" along the slice.
    """
    if 0.0 not in s.alphas:
        raise ValueError("the slice has no point at alpha = 0 (use slice_coordinates with an odd count)")
    base = s.loss[s.alphas.index(0.0)]
    rises = [loss - base for a, loss in zip(s.alphas, s.loss) if 0 < abs(a) <= radius]
    if not rises:
        raise ValueError(f"no slice point with 0 < |alpha| <= {radius}; the alphas are {s.alphas}")
    return sum(rises) / len(rises)


# --------------------------------------------------------------------------------------------
# Pre-activation: the clean shortcut
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def unrolled_stage(blocks: Sequence[nn.Module], x: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``blocks`` on ``x`` and also build ``x + sum_i F(x_i)`` from the branch outputs.

    Returns ``(output, unrolled)``. For pre-activation blocks with identity shortcuts they are
    equal (He et al. 2016, eq. 4); for the original blocks the ReLU after each addition breaks the
    sum. Blocks with a downsampling shortcut are refused: the sum needs identity shortcuts.
    """
    if len(blocks) == 0:
        raise ValueError("need at least one block")
    total = x.clone()
    h = x
    for block in blocks:
        if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
            raise ValueError(f"expected BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
        if block.downsample is not None or not block.residual:
            raise ValueError("unrolled_stage needs residual blocks with identity shortcuts (no downsampling, not plain)")
        total = total + block.branch(h)
        h = block(h)
    return h, total


def shortcut_gap(blocks: Sequence[nn.Module], x: Tensor) -> float:
    """``|output - (x + sum F(x_i))| / |output|``: 0 for a clean identity path, > 0 otherwise."""
    was = [b.training for b in blocks]
    for b in blocks:
        b.eval()
    try:
        out, unrolled = unrolled_stage(blocks, x)
    finally:
        for b, w in zip(blocks, was):
            b.train(w)
    return float((out - unrolled).norm() / out.norm().clamp_min(1e-12))


def clean_shortcut_gaps(model: nn.Module, images: Tensor) -> dict[str, float]:
    """:func:`shortcut_gap` of every stage of a CIFAR net (its identity-shortcut blocks), on real feature maps.

    The input of each stage is captured with a forward pre-hook while ``images`` go through the
    model in eval mode; a stage's first block is left out when it downsamples.
    """
    captured: dict[str, Tensor] = {}
    stages = [name for name in ("layer1", "layer2", "layer3", "layer4") if hasattr(model, name)]
    if not stages:
        raise ValueError("expected a CIFAR/ImageNet ResNet with stages layer1, layer2, ...")
    hooks = []
    for name in stages:
        stage = getattr(model, name)
        blocks = list(stage)
        first = blocks[0]
        if getattr(first, "downsample", None) is not None:
            hooks.append(blocks[1].register_forward_pre_hook(lambda m, a, name=name: captured.__setitem__(name, a[0])) if len(blocks) > 1 else None)
        else:
            hooks.append(first.register_forward_pre_hook(lambda m, a, name=name: captured.__setitem__(name, a[0])))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        model.train(was)
        for h in hooks:
            if h is not None:
                h.remove()
    gaps = {}
    for name in stages:
        blocks = [b for b in getattr(model, name) if getattr(b, "downsample", None) is None]
        if name in captured and blocks:
            gaps[name] = shortcut_gap(blocks, captured[name])
    return gaps


# --------------------------------------------------------------------------------------------
# Training the lesson's nets (through resnet_lab.train.fit), with a disk cache
# --------------------------------------------------------------------------------------------
def why_model_names(budget: WhyBudget) -> dict[str, str]:
    """The model names of the lesson: ``residual``/``plain`` at ``budget.depth``, ``original``/``preact`` at ``preact_depth``."""
    return {
        "residual": f"resnet{budget.depth}",
        "plain": f"plain{budget.depth}",
        "original": f"resnet{budget.preact_depth}",
        "preact": f"preact_resnet{budget.preact_depth}",
    }


def why_train_config(budget: WhyBudget, model: str, *, seed: int = 0, lr: float = 0.1) -> Any:
    """A :class:`resnet_lab.train.TrainConfig` for ``model`` sized by the lesson's budget.

    ``budget.n_eval`` training images are held out as the validation split (also the lesson's
    fixed evaluation set); the run lasts ``budget.train_iters`` steps (pass them to ``fit`` as
    ``max_iters``); ``epochs`` is just large enough to contain them.
    """
    from .train import TrainConfig

    n_fit = budget.n_train - budget.n_eval
    if n_fit < budget.batch:
        raise ValueError(f"budget leaves {n_fit} training images after holding out n_eval={budget.n_eval}; need >= batch={budget.batch}")
    steps_per_epoch = n_fit // budget.batch
    epochs = max(1, math.ceil(budget.train_iters / steps_per_epoch))
    depth = int("".join(ch for ch in model if ch.isdigit()) or 0)
    # He et al. (2015) warm up their 110-layer net (lr 0.01 for the first ~400 iterations); so do we.
    warmup = 1.0 if depth >= 110 and epochs > 1 else 0.0
    return TrainConfig(
        model=model, epochs=epochs, batch_size=budget.batch, lr=lr, n_val=budget.n_eval, seed=seed,
        width=budget.width, eval_batch_size=500, amp="off", warmup_epochs=warmup,
    )


def default_cache_dir() -> Path:
    """Where trained lesson-05 nets are kept: ``$XDG_CACHE_HOME`` or ``~/.cache``, then ``resnet_lab/models/05_why``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "resnet_lab" / "models" / "05_why"


def _cache_key(config: Any, max_iters: int, data: ImageData) -> str:
    from . import __version__

    payload = {
        "config": {k: v for k, v in config.to_dict().items() if k not in ("checkpoint_dir", "resume", "num_workers")},
        "max_iters": max_iters,
        "data": data.source,
        "n_train": len(data.y_train),
        "torch": torch.__version__.split("+")[0],
        "resnet_lab": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_or_load(
    model_name: str,
    data: ImageData,
    budget: WhyBudget,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    progress: bool = True,
) -> tuple[nn.Module, History, bool]:
    """Train ``model_name`` with :func:`resnet_lab.train.fit` for ``budget.train_iters`` steps, or load it.

    The weights and history are cached in ``cache_dir`` (default :func:`default_cache_dir`) under a
    key made of the whole configuration and the data, written atomically and read with
    ``weights_only=True``. ``retrain=True`` ignores the cache. Returns ``(model, history, from_cache)``
    with the model in eval mode on ``device``.
    """
    from .train import History, fit, load_checkpoint, make_model, save_checkpoint

    config = why_train_config(budget, model_name, seed=seed)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{model_name}-w{budget.width}-{_cache_key(config, budget.train_iters, data)}.pt"
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = make_model(config, num_classes=len(data.classes))
    if path.exists() and not retrain:
        try:
            state = load_checkpoint(path, map_location=dev)
            model.load_state_dict(state["model"])
            return model.to(dev).eval(), History.from_dict(state["history"]), True
        except (ValueError, RuntimeError, KeyError):
            pass  # a damaged or foreign file: train again and overwrite it
    history = fit(model, data, config, device=dev, progress=progress, max_iters=budget.train_iters,
                  verbose=False, restore_best=False)
    save_checkpoint(path, {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "optimizer": {},
        "epoch": len(history), "batch": 0, "step": history.step[-1] if history.step else 0,
        "history": history.to_dict(), "config": config.to_dict(),
    })
    return model.eval(), history, False


# --------------------------------------------------------------------------------------------
# Summaries and figures
# --------------------------------------------------------------------------------------------
def lesion_summary(results: Mapping[str, LesionResult], *, chance: float = 0.1) -> dict[str, dict[str, float]]:
    """Per net: intact accuracy, and what one deleted block leaves, for ordinary and downsampling blocks.

    ``kept_*`` is the accuracy above ``chance`` that is left, as a fraction of the intact net's
    (1: no harm, 0: chance level), averaged over the blocks of that kind; ``drop_*`` the mean
    accuracy lost; ``worst_block`` the block whose deletion hurts most.
    """
    out: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        span = r.baseline_accuracy - chance
        if span <= 0:
            raise ValueError(f"{name}: the intact net ({r.baseline_accuracy:.3f}) is not better than chance ({chance:.3f})")
        groups: dict[str, list[int]] = {"ordinary": [], "downsampling": []}
        for b in r.blocks:
            groups["downsampling" if b.downsampling else "ordinary"].append(b.index)
        row: dict[str, float] = {"baseline": r.baseline_accuracy}
        for kind, idx in groups.items():
            row[f"drop_{kind}"] = sum(r.drop[i] for i in idx) / len(idx) if idx else float("nan")
            row[f"kept_{kind}"] = sum((r.accuracy[i] - chance) / span for i in idx) / len(idx) if idx else float("nan")
        worst = min(range(len(r.accuracy)), key=lambda i: r.accuracy[i])
        row["worst_block"] = float(worst)
        row["worst_accuracy"] = r.accuracy[worst]
        out[name] = row
    return out


def _color(name: str) -> str:
    from .plots import PLAIN_COLOR, RESIDUAL_COLOR

    return PLAIN_COLOR if "plain" in name else (RESIDUAL_COLOR if "resid" in name or "orig" in name else "tab:green")


def plot_lesion(results: Mapping[str, LesionResult], *, num_classes: int = 10, ax: Any = None) -> Figure:
    """Accuracy against the deleted block, one line per net; downsampling blocks shaded."""
    import matplotlib.pyplot as plt

    from .plots import data_title

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.8))
    else:
        fig = ax.figure
    first = next(iter(results.values()))
    for b in first.blocks:
        if b.downsampling:
            ax.axvspan(b.index - 0.5, b.index + 0.5, color="0.88", zorder=0)
    for name, r in results.items():
        c = _color(name)
        idx = [b.index for b in r.blocks]
        ax.plot(idx, [100 * a for a in r.accuracy], "o-", color=c, label=f"{name}: one block deleted")
        ax.axhline(100 * r.baseline_accuracy, color=c, ls="--", lw=1, label=f"{name}: no block deleted")
    ax.axhline(100 / num_classes, color="0.4", ls=":", lw=1, label="chance")
    ax.set_xticks([b.index for b in first.blocks])
    ax.set_xticklabels([f"{b.index}\n{b.name}" for b in first.blocks], fontsize=7)
    ax.set_xlabel("deleted block (grey: downsampling block)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(data_title("Lesion study: delete one block at test time", first.label))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_random_lesion(
    results: Mapping[str, RandomLesionResult], k: int, *, num_classes: int = 10, lengths: Sequence[int] = (1, 2, 3)
) -> Figure:
    """Three panels for ``k`` deleted blocks: path lengths before/after, accuracy against k, and the
    accuracy kept (above chance) next to the fraction of paths of each length that survive."""
    import matplotlib.pyplot as plt

    from .plots import data_title

    first = next(iter(results.values()))
    n = first.n_blocks
    chance = 1 / num_classes
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 3.9))
    ls = list(range(n + 1))
    ax1.bar([x - 0.2 for x in ls], path_length_counts(n), width=0.4, color="0.6", label=f"all 2^{n} = {2 ** n} paths")
    ax1.bar([x + 0.2 for x in ls], surviving_path_counts(n, k), width=0.4, color="tab:blue",
            label=f"2^{n - k} = {2 ** (n - k)} avoid the {k} deleted")
    ax1.set_xlabel("path length l (residual branches on the path)")
    ax1.set_ylabel("number of paths")
    ax1.set_title(f"{n} blocks: comb({n}, l) paths of length l", fontsize=10)
    ax1.legend(fontsize=8)
    for name, r in results.items():
        c = _color(name)
        ks = r.ks
        ax2.errorbar(ks, [100 * r.mean(j) for j in ks], yerr=[100 * r.std(j) for j in ks], fmt="o-", color=c,
                     capsize=3, label=f"{name}: mean ± std over sets")
        if k in r.accuracy:
            ax2.scatter([k] * len(r.accuracy[k]), [100 * a for a in r.accuracy[k]], color=c, s=14, alpha=0.5)
        if 0 in r.accuracy and r.mean(0) > chance:
            kept = retention(r, chance)
            ax3.plot(ks, [kept[j] for j in ks], "o-", color=c, label=f"{name}: accuracy kept")
    for length, style in zip(lengths, ("--", "-.", ":", (0, (1, 3)))):
        if length <= n:
            ks = first.ks
            ax3.plot(ks, [surviving_fraction_of_length(n, j, length) for j in ks], ls=style, color="0.35",
                     label=f"paths of length {length} left")
    ax3.plot(first.ks, [surviving_path_fraction(n, j) for j in first.ks], color="0.75", lw=3, zorder=0,
             label="all paths left (2^-k)")
    for ax in (ax2, ax3):
        ax.axvline(k, color="0.6", lw=1)
        ax.set_xlabel("k, blocks deleted at random")
        ax.set_xticks(first.ks)
    ax2.axhline(100 * chance, color="0.4", ls=":", lw=1, label="chance")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title(data_title("Random k-block lesions", first.label), fontsize=10)
    ax2.legend(fontsize=7)
    ax3.axhline(0, color="0.4", lw=0.8)
    ax3.set_ylim(-0.15, 1.1)
    ax3.set_ylabel("fraction kept")
    ax3.set_title("accuracy above chance kept vs paths kept", fontsize=10)
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_slices(slices_1d: Mapping[str, Slice1D], slices_2d: Mapping[str, Slice2D], *, max_loss: float | None = None) -> Figure:
    """The 1-D slices of all nets in one panel, then one contour plot per 2-D slice, same levels."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import data_title

    label = next(iter(slices_1d.values())).label
    fig, axes = plt.subplots(1, 1 + len(slices_2d), figsize=(4.4 * (1 + len(slices_2d)) + 1, 4.1), layout="constrained")
    ax = axes[0]
    for name, s in slices_1d.items():
        ax.plot(s.alphas, s.loss, "o-", ms=3, color=_color(name), label=name)
    ax.set_xlabel("alpha (step along a filter-normalised direction)")
    ax.set_ylabel("loss")
    ax.set_title("1-D slices")
    ax.legend(fontsize=8)
    all_losses = np.array([v for s in slices_2d.values() for row in s.loss for v in row])
    lo = float(all_losses.min())
    hi = float(all_losses.max()) if max_loss is None else min(float(all_losses.max()), max_loss)
    levels = np.geomspace(max(lo, 1e-3), max(hi, lo * 1.01 + 1e-3), 16)
    for ax, (name, s) in zip(axes[1:], slices_2d.items()):
        z = np.clip(np.array(s.loss), None, levels[-1])
        cs = ax.contourf(s.alphas, s.betas, z, levels=levels, cmap="viridis",
                         norm=plt.matplotlib.colors.LogNorm(levels[0], levels[-1]))
        ax.contour(s.alphas, s.betas, z, levels=levels, colors="k", linewidths=0.4)
        ax.plot([0], [0], "r*", ms=9)
        ax.set_title(f"2-D slice: {name}")
        ax.set_xlabel("alpha (direction 1)")
        ax.set_ylabel("beta (direction 2)")
        ax.set_aspect("equal")
    bar = fig.colorbar(cs, ax=list(axes[1:]), label="loss (log scale, same levels in every panel)")
    ticks = levels[::3]
    bar.set_ticks(ticks, labels=[f"{v:.3g}" for v in ticks])
    bar.minorticks_off()
    fig.suptitle(data_title("Loss around the trained weights", label), fontsize=11)
    return fig


def plot_histories(histories: Mapping[str, History], *, title: str = "Training") -> Figure:
    """Training loss and validation accuracy per epoch for each run (x axis: SGD steps)."""
    import matplotlib.pyplot as plt

    from .plots import data_title

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    label = ""
    for name, h in histories.items():
        c = _color(name)
        ax1.plot(h.step, h.train_loss, "o-", ms=3, color=c, label=name)
        ax2.plot(h.step, [100 * (a or 0.0) for a in h.val_acc], "o-", ms=3, color=c, label=name)
        label = h.meta.get("data", label)
    ax1.set_xlabel("SGD steps")
    ax1.set_ylabel("training loss (per epoch)")
    ax2.set_xlabel("SGD steps")
    ax2.set_ylabel("validation accuracy (%)")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.suptitle(data_title(title, label), fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Exercise checkers
# --------------------------------------------------------------------------------------------
DELETION_OPTIONS: tuple[str, ...] = (
    "zeros",
    "the input unchanged",
    "F(x), the branch alone",
    "the input subsampled, with zero channels appended",
    "a learned 1x1 projection of the input",
)


def deletion_kind(block: nn.Module) -> str:
    """Which of :data:`DELETION_OPTIONS` a deleted ``block`` hands to the next block (read off :class:`DeletedBlock`)."""
    path = DeletedBlock(block).path
    if path is None:
        return DELETION_OPTIONS[1]
    if isinstance(path, ShortcutA):
        return DELETION_OPTIONS[3]
    return DELETION_OPTIONS[4]


def check_paths_of_length(answer: object, n_blocks: int, length: int) -> CheckResult:
    """How many paths of ``length`` residual branches run through ``n_blocks`` blocks?"""
    if not 0 <= length <= n_blocks:
        raise ValueError(f"length must be in 0..{n_blocks}, got {length}")
    expected = path_length_counts(n_blocks)[length]
    return check_number(answer, expected, why=(
        f"a path picks, at each of the {n_blocks} blocks, the branch or the shortcut; choosing which {length} "
        f"blocks it goes through gives comb({n_blocks}, {length}) = {expected} paths."))  # type: ignore[arg-type]


def check_surviving_fraction(answer: object, n_blocks: int, k: int) -> CheckResult:
    """What fraction of the paths is left after deleting ``k`` of ``n_blocks`` blocks?"""
    expected = surviving_path_fraction(n_blocks, k)
    return check_number(answer, expected, rel_tol=1e-3, why=(
        f"a path survives if it takes the shortcut at each of the {k} deleted blocks: 2**{n_blocks - k} of the "
        f"2**{n_blocks} paths, a fraction 2**-{k} = {expected:g}, whatever n is."))  # type: ignore[arg-type]


def check_deleted_block(answer: object, block: nn.Module) -> CheckResult:
    """What does ``block``, once deleted, pass on to the next block? (one of :data:`DELETION_OPTIONS`)"""
    expected = deletion_kind(block)
    cin, cout = _block_channels(block)
    return check_choice(answer, expected, DELETION_OPTIONS, why=(
        f"the block maps {cin} to {cout} channels with stride {int(block.stride)}; with its branch gone only "  # type: ignore[arg-type]
        "its shortcut path is left, and the ReLU of a non-negative input changes nothing."))


def check_filter_norm(answer: object, model: nn.Module, direction: Mapping[str, Tensor], name: str, index: int) -> CheckResult:
    """What is the norm of filter ``index`` of ``direction[name]``?"""
    params = dict(model.named_parameters())
    if name not in params or params[name].ndim < 2:
        valid = [n for n, p in params.items() if p.ndim >= 2]
        raise ValueError(f"name must be a weight with filters, one of {valid[:4]}..., got {name!r}")
    w = params[name]
    if not 0 <= index < w.shape[0]:
        raise ValueError(f"index must be in 0..{w.shape[0] - 1}, got {index}")
    expected = float(filter_norms(w)[index])
    return check_number(answer, expected, rel_tol=1e-3, why=(
        f"filter normalisation rescales each filter of the direction to the norm of the same filter of the "
        f"weights, here |w[{index}]| = {expected:.4g}."))


def check_clean_shortcut(answer: object, seed: int = 0) -> CheckResult:
    """Which layout, 'original' or 'pre-activation', makes ``stage(x) == x + sum F(x_i)`` hold exactly?

    The expected answer is computed: two stages of three random blocks each are run on a random
    input and :func:`shortcut_gap` decides.
    """
    from .models import cifar_resnet

    options = ("original", "pre-activation")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x = torch.randn(2, 4, 8, 8)
        gaps = {}
        for name, preact in zip(options, (False, True)):
            net = cifar_resnet(20, width=4, preact=preact).eval()
            stage = list(net.layer1)
            for b in stage:  # random BN statistics, so the blocks are not near the identity
                for m in b.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.running_mean.normal_()
                        m.running_var.uniform_(0.5, 2.0)
                        m.bias.data.normal_()
            gaps[name] = shortcut_gap(stage, x)
    expected = min(gaps, key=lambda k: gaps[k])
    return check_choice(answer, expected, options, why=(
        f"relative gap |stage(x) - (x + sum F)| / |stage(x)|: original {gaps['original']:.3g}, "
        f"pre-activation {gaps['pre-activation']:.1e}. Nothing follows the addition in a pre-activation block, "
        "so the identity path runs through the whole stage untouched."))
