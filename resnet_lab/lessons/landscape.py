"""Lesson 05: loss-landscape slices (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets").

1-D and 2-D slices ``L(theta + a d1 + b d2)`` along random *filter-normalised* directions: each
filter (output channel of a convolution, row of the classifier) of the Gaussian direction is
rescaled to the norm of the same filter of the weights. One-dimensional parameters (BatchNorm
scales and shifts, biases) get a zero direction, as in Li et al.'s code (``ignore='biasbn'``):
they stay at their trained values. The loss is evaluated on one fixed set of images with
BatchNorm in eval mode (running statistics fixed), so a point of the slice is a deterministic
function. The figure is :func:`resnet_lab.plots.plot_slices`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import show
from ..i18n import _
from .evalset import EvalSet, evaluate_loss_accuracy

__all__ = [
    "filter_norms",
    "filter_normalized_direction",
    "perturbed",
    "slice_coordinates",
    "Slice1D",
    "Slice2D",
    "loss_slice_1d",
    "loss_slice_2d",
    "sharpness",
    "landscape_report",
]


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


def _validate_direction(model: nn.Module, direction: Mapping[str, Tensor]) -> None:
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
        _validate_direction(model, d)
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


def landscape_report(slices_1d: Mapping[str, Slice1D], slices_2d: Mapping[str, Slice2D], data_label: str,
                     *, radius: float = 0.5) -> str:
    """The lines that read the loss slices of several nets (same keys in ``slices_1d`` and ``slices_2d``):
    per net, the loss at the trained weights, the mean rise within ``|alpha| <= radius``
    (:func:`sharpness`) and the highest loss on the 2-D grid; then which net's loss rises more slowly
    around its minimum.
    """
    rise = {key: sharpness(s, radius=radius) for key, s in slices_1d.items()}
    edge = {key: max(max(row) for row in s.loss) for key, s in slices_2d.items()}
    at0 = {key: s.loss[s.alphas.index(0.0)] for key, s in slices_1d.items()}
    lines = [_("Your run ({data}):").format(data=show(data_label))]
    for key in rise:
        lines.append(_("  {net:8s}: loss at the trained weights {loss:.3f}; mean rise within |alpha| <= {radius:g}: "
                       "{rise:.3f}; highest loss on the 2-D grid: {highest:.3g}").format(
            net=key, loss=at0[key], radius=radius, rise=rise[key], highest=edge[key]))
    flatter = min(rise, key=lambda key: rise[key])
    lines.append(_("Around its minimum the {net} net's loss rises more slowly along these directions "
                   "({flatter:.3f} vs {steeper:.3f}).").format(
        net=_(flatter), flatter=rise[flatter], steeper=max(rise.values())))
    return "\n".join(lines)
