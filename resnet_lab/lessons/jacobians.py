"""Lesson 02: block Jacobians and their singular values, and the "-1" correction.

* :func:`block_jacobians` by :func:`torch.autograd.functional.jacobian`; for a pre-activation block
  ``J_block = I + J_F`` exactly; :func:`stage_spectra` follows the spectra through a stage;
* the "-1" correction: a branch scaled so that dF/dx is about -1 cancels the shortcut's +1
  (:class:`ScaledBranchBlock`, :func:`branch_scale_sweep`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models import BasicBlock, Bottleneck, PreActBlock

__all__ = [
    "jacobian",
    "block_jacobians",
    "singular_values",
    "stage_spectra",
    "ScaledBranchBlock",
    "ScaleSweep",
    "branch_scale_sweep",
]

Block = BasicBlock | Bottleneck | PreActBlock


def jacobian(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The Jacobian of ``fn`` at ``x`` as a matrix (outputs x inputs), by autograd."""
    J = torch.autograd.functional.jacobian(fn, x.detach(), vectorize=True)
    return J.reshape(fn(x.detach()).numel(), x.numel())


def block_jacobians(block: Block, x: Tensor) -> dict[str, Tensor]:
    """Jacobians of a block's parts at ``x`` (use eval mode, e.g. after :func:`calibrate_batchnorm`).

    Keys: ``"block"`` (the whole forward), ``"branch"`` (F), ``"shortcut"`` and ``"sum"`` (the
    pre-activation ``shortcut(x) + F(x)``). For a :class:`PreActBlock` the forward *is* the sum,
    so ``J_block = I + J_F`` exactly. A :class:`BasicBlock` applies a ReLU after the addition, so
    ``J_block = D (I + J_F)`` with ``D`` the diagonal 0/1 mask of that ReLU, and ``J_sum = I + J_F``.
    """
    if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
        raise ValueError(f"block must be a BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
    if block.training and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in block.modules()):
        raise ValueError("put the block in eval mode (calibrate_batchnorm does it): in train mode BN mixes the images of a batch")
    return {
        "block": jacobian(block, x),
        "branch": jacobian(block.branch, x),
        "shortcut": jacobian(block.shortcut, x),
        "sum": jacobian(lambda t: block.shortcut(t) + block.branch(t), x),
    }


def singular_values(J: Tensor) -> Tensor:
    """Singular values of a Jacobian, largest first (non-finite entries raise a ValueError)."""
    if not torch.isfinite(J).all():
        raise ValueError("the Jacobian holds inf or nan values; the net overflowed")
    return torch.linalg.svdvals(J.double()).float()


def stage_spectra(stage: nn.Module, x: Tensor) -> tuple[list[Tensor], Tensor]:
    """Singular values of each block's Jacobian along the forward pass through ``stage``, and of the whole stage.

    ``stage`` is a sequence of blocks (e.g. ``net.layer1``) in eval mode; ``x`` its input (one image).
    The whole stage's Jacobian is the product of the blocks' (chain rule), so its spectrum shows
    how the blocks' spectra compound with depth.
    """
    per_block, h = [], x.detach()
    for block in stage:  # type: ignore[attr-defined]
        per_block.append(singular_values(jacobian(block, h)))
        h = block(h).detach()
    return per_block, singular_values(jacobian(stage, x))


class ScaledBranchBlock(nn.Module):
    """``y = x + scale * G(x)``, with ``G`` a 3x3 convolution that starts near the identity.

    ``G``'s kernel is the identity (a Dirac delta) plus a little noise, so ``dG/dx`` is close to
    ``I`` and ``dF/dx = scale * dG/dx`` is close to ``scale * I``. ``scale = -1`` makes the branch
    cancel the shortcut: ``dy/dx = I + dF/dx`` is close to zero.
    """

    def __init__(self, channels: int, scale: float, *, noise: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            nn.init.dirac_(self.conv.weight)
            self.conv.weight.add_(noise * torch.randn(self.conv.weight.shape, generator=g))

    def branch(self, x: Tensor) -> Tensor:
        return self.scale * self.conv(x)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


@dataclass(frozen=True)
class ScaleSweep:
    """Result of :func:`branch_scale_sweep`, one entry per scale."""

    scales: tuple[float, ...]
    branch_diag: tuple[float, ...]  # mean diagonal entry of dF/dx (measured)
    block_gain: tuple[float, ...]  # ||dL/dx|| / ||dL/dy|| through one block
    stack_gain: tuple[float, ...]  # the same through ``blocks`` stacked blocks
    blocks: int


def branch_scale_sweep(
    scales: Sequence[float], *, channels: int = 4, size: int = 6, blocks: int = 10, noise: float = 0.01, seed: int = 0
) -> ScaleSweep:
    """For each branch scale, measure dF/dx and how much gradient gets through the block(s).

    The gradient arriving at the output is a fixed random vector ``g``; the gain is
    ``||J^T g|| / ||g||`` computed by autograd. A stack uses ``blocks`` blocks of the same scale
    (each with its own noise).
    """
    if blocks < 1:
        raise ValueError(f"blocks must be a positive integer, got {blocks}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=gen)
    g = torch.randn(1, channels, size, size, generator=gen)
    diag, gain1, gain_n = [], [], []
    for s in scales:
        stack = nn.Sequential(*[ScaledBranchBlock(channels, s, noise=noise, seed=seed + i) for i in range(blocks)])
        first: ScaledBranchBlock = stack[0]  # type: ignore[assignment]
        diag.append(torch.diagonal(jacobian(first.branch, x)).mean().item())
        xi = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(first(xi), xi, g)
        gain1.append((gx.norm() / g.norm()).item())
        xi = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(stack(xi), xi, g)
        gain_n.append((gx.norm() / g.norm()).item())
    return ScaleSweep(tuple(float(s) for s in scales), tuple(diag), tuple(gain1), tuple(gain_n), blocks)
