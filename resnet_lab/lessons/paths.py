"""The path view of a residual net (Veit et al. 2016), used by lessons 02 and 05.

The chain rule through ``n`` residual blocks expands into ``2^n`` paths, ``comb(n, l)`` of them
through exactly ``l`` branches (:func:`path_counts`). Lesson 02 splits a real gradient by path
length (:func:`path_gradients_by_length`, checked against :func:`path_gradients_brute_force` and
autograd); lesson 05 counts the paths that survive deleted blocks (:func:`surviving_path_counts`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..i18n import _
from ..models import BasicBlock, Bottleneck, PreActBlock, residual_blocks
from .probing import block_inputs

__all__ = [
    "path_counts",
    "surviving_path_counts",
    "surviving_path_fraction",
    "surviving_fraction_of_length",
    "path_gradients_by_length",
    "path_gradients_brute_force",
    "NetworkPaths",
    "network_path_gradients",
    "path_measurement_lines",
]


def path_counts(n: int) -> list[int]:
    """Number of paths of each length 0..n through ``n`` residual blocks: ``C(n, k)``, summing to 2^n."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer (number of blocks), got {n!r}")
    return [math.comb(n, k) for k in range(n + 1)]


def _validate_nk(n_blocks: int, k: int) -> None:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
        raise ValueError(f"n_blocks must be an integer >= 0, got {n_blocks!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_blocks:
        raise ValueError(f"k must be an integer in 0..{n_blocks}, got {k!r}")


def surviving_path_counts(n_blocks: int, k: int) -> list[int]:
    """Paths of each length 0..n that avoid every one of ``k`` deleted blocks: ``comb(n - k, l)``.

    A path survives when it takes the shortcut at each deleted block, so it is a path through the
    other ``n - k`` blocks; none is longer than ``n - k``.
    """
    _validate_nk(n_blocks, k)
    return [math.comb(n_blocks - k, length) for length in range(n_blocks + 1)]


def surviving_path_fraction(n_blocks: int, k: int) -> float:
    """Fraction of the ``2**n`` paths left after deleting ``k`` blocks (it is ``2**-k``)."""
    return sum(surviving_path_counts(n_blocks, k)) / 2**n_blocks


def surviving_fraction_of_length(n_blocks: int, k: int, length: int) -> float:
    """Fraction of the paths of ``length`` that survive ``k`` deleted blocks: ``comb(n-k, l) / comb(n, l)``.

    Short paths survive far more often than long ones: for ``length = 1`` it is ``(n - k) / n``.
    """
    _validate_nk(n_blocks, k)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= n_blocks:
        raise ValueError(f"length must be an integer in 0..{n_blocks}, got {length!r}")
    return math.comb(n_blocks - k, length) / math.comb(n_blocks, length)


def _linearised_blocks(blocks: Sequence[nn.Module], x: Tensor) -> list[tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]]:
    """For each block at its operating point: (vjp through the shortcut, vjp through the branch).

    The post-addition ReLU of a BasicBlock/Bottleneck is frozen as a 0/1 mask ``D`` at the
    operating point, so the block's Jacobian splits exactly into ``D J_shortcut + D J_branch``.
    """
    parts = []
    h = x.detach()
    for block in blocks:
        if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
            raise ValueError(f"blocks must be BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
        if not block.residual:
            raise ValueError("a plain block (residual=False) has a single path; the decomposition needs residual=True")
        xi = h.clone().requires_grad_(True)
        skip = block.shortcut(xi)
        branch = block.branch(xi)
        pre = skip + branch
        mask = (pre > 0).to(pre.dtype) if not isinstance(block, PreActBlock) else torch.ones_like(pre)

        def vjp(out: Tensor, xi: Tensor = xi, mask: Tensor = mask) -> Callable[[Tensor], Tensor]:
            return lambda v: torch.autograd.grad(out, xi, v * mask, retain_graph=True)[0]

        parts.append((vjp(skip), vjp(branch)))
        with torch.no_grad():
            h = block(h)
    return parts


def path_gradients_by_length(blocks: Sequence[nn.Module], x: Tensor, grad_out: Tensor) -> list[Tensor]:
    """The gradient at the input of ``blocks`` split by path length: entry ``k`` sums all paths through ``k`` branches.

    ``grad_out`` is dL/d(output of the last block). The backward chain rule through a residual
    block is ``v -> D J_s^T v + D J_F^T v``; expanding the product over ``n`` blocks gives ``2^n``
    terms, one per choice of shortcut or branch in every block. Grouping them by the number of
    branches taken (dynamic programming, n(n+1)/2 vector-Jacobian products instead of n 2^n)
    gives ``n + 1`` tensors whose sum is the ordinary gradient.
    """
    parts = _linearised_blocks(blocks, x)
    by_len: list[Tensor] = [grad_out.detach()]
    for vjp_skip, vjp_branch in reversed(parts):
        new = [vjp_skip(by_len[0])]
        for k in range(1, len(by_len)):
            new.append(vjp_skip(by_len[k]) + vjp_branch(by_len[k - 1]))
        new.append(vjp_branch(by_len[-1]))
        by_len = new
    return by_len


def path_gradients_brute_force(blocks: Sequence[nn.Module], x: Tensor, grad_out: Tensor) -> dict[tuple[int, ...], Tensor]:
    """Every one of the 2^n path contributions, keyed by the 0/1 choice per block (1: through the branch)."""
    parts = _linearised_blocks(blocks, x)
    out = {}
    for choice in itertools.product((0, 1), repeat=len(parts)):
        v = grad_out.detach()
        for (vjp_skip, vjp_branch), c in zip(reversed(parts), reversed(choice)):
            v = vjp_branch(v) if c else vjp_skip(v)
        out[choice] = v
    return out


@dataclass(frozen=True)
class NetworkPaths:
    """Path decomposition of a whole CIFAR net's gradient at the input of its first block."""

    by_length: list[Tensor]  # summed contribution of the paths of each length
    full: Tensor  # dL/d(input of the first block), by ordinary autograd
    blocks: int

    @property
    def norms(self) -> list[float]:
        return [t.norm().item() for t in self.by_length]

    @property
    def max_error(self) -> float:
        """Largest |sum over lengths - autograd gradient|, relative to the gradient's largest entry."""
        total = torch.stack(self.by_length).sum(0)
        return ((total - self.full).abs().max() / self.full.abs().max()).item()


def network_path_gradients(model: nn.Module, x: Tensor, y: Tensor) -> NetworkPaths:
    """Split dL/d(input of the first block) of a CIFAR ResNet into path lengths and compare with autograd.

    The model is used as it is (use eval mode so BN treats images separately, as in a lesion study).
    """
    blocks = [b for _, b in residual_blocks(model)]
    if not blocks or not hasattr(model, "layer1"):
        raise ValueError("model must be a CIFAR ResNet from resnet_lab.models.cifar_resnet")
    inputs = block_inputs(model, x)
    first = next(iter(inputs.values()))
    h0 = first.clone().requires_grad_(True)
    h = h0
    for b in blocks:
        h = b(h)
    hn = h.detach().requires_grad_(True)
    head = torch.relu(model.final_bn(hn)) if model.preact else hn  # what CifarResNet.features does after the blocks
    loss = F.cross_entropy(model.fc(torch.flatten(model.avgpool(head), 1)), y)
    (g_out,) = torch.autograd.grad(loss, hn)
    (full,) = torch.autograd.grad(h, h0, g_out)
    return NetworkPaths(path_gradients_by_length(blocks, first, g_out), full.detach(), len(blocks))


def path_measurement_lines(measured: dict[str, Any]) -> list[str]:
    """One line per measured net (label -> :class:`~resnet_lab.lessons.product_formula.PathMeasurement`):
    its blocks, how closely the path split sums to autograd's gradient, the path length that contributes
    most, and how much of ``||dL/dx_L||`` the shortcut-only path delivers (the scalar formula says 1)."""
    lines = []
    for label, m in measured.items():
        norms = m.paths.norms
        lines.append(_("{label:20s}: {blocks} blocks; |sum over path lengths - autograd| / max = {error:.1e}; "
                       "largest contribution from length {length}; shortcut-only path delivers {gain:.2f} x "
                       "||dL/dx_L|| (the scalar formula says 1)").format(
            label=_(label), blocks=m.paths.blocks, error=m.paths.max_error, length=norms.index(max(norms)),
            gain=m.shortcut_path))
    return lines
