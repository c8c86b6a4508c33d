"""Lesson 01's hands-on toy: a deep MLP built from a block class the learner writes.

:class:`PlainMLPBlock` is the paper's two-layer block on vectors without the shortcut,
``relu(BN(W2 relu(BN(W1 h))))``; the learner subclasses it and adds the shortcut in ``forward``.
:func:`train_block_stack` stacks any such block class into a deep MLP and trains it full-batch on
the two spirals of :mod:`resnet_lab.lessons.toy`, so plain and residual stacks can be compared
from the same initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..i18n import _
from .toy import one_thread, two_spirals

__all__ = ["PlainMLPBlock", "ResidualMLPBlock", "BlockStack", "StackRun", "train_block_stack", "stack_label"]


class PlainMLPBlock(nn.Module):
    """``relu(bn2(fc2(relu(bn1(fc1(h))))))``: the two-layer block without a shortcut."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.bn2 = nn.BatchNorm1d(width)

    def branch(self, h: Tensor) -> Tensor:
        """The layers of the block, F(h) (no final ReLU)."""
        return self.bn2(self.fc2(torch.relu(self.bn1(self.fc1(h)))))

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(self.branch(h))


class ResidualMLPBlock(PlainMLPBlock):
    """The same layers with the shortcut: ``relu(F(h) + h)`` (the reference for lesson 01's exercise)."""

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(self.branch(h) + h)


class BlockStack(nn.Module):
    """``Linear(2, width)``-BN-ReLU, ``blocks`` blocks of ``block_cls(width)``, ``Linear(width, 2)``: 2 + 2*blocks layers."""

    def __init__(self, block_cls: Callable[[int], nn.Module], blocks: int, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(2, width, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[block_cls(width) for _ in range(blocks)])
        self.head = nn.Linear(width, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


@dataclass(frozen=True)
class StackRun:
    """Training losses of one stack (``nan`` after a divergence) and its final training error."""

    depth: int
    losses: list[float]
    final_error: float

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


def train_block_stack(
    block_cls: Callable[[int], nn.Module], depth: int, *, steps: int = 150, points: int = 256, width: int = 16,
    lr: float = 0.05, seed: int = 0,
) -> StackRun:
    """Train a :class:`BlockStack` of ``depth`` weight layers (``depth = 2 + 2 * blocks``) on the spirals.

    Full-batch SGD with momentum 0.9; the initial weights depend only on ``seed`` and the layer
    shapes, so a plain and a residual block class start from the same weights.
    """
    if depth < 4 or depth % 2:
        raise ValueError(f"depth must be an even number >= 4 (2 + 2 * blocks weight layers), got {depth}")
    x, y = two_spirals(points, seed=0)
    torch.manual_seed(seed)
    net = BlockStack(block_cls, (depth - 2) // 2, width)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    losses: list[float] = []
    with one_thread():
        for __ in range(steps):
            loss = F.cross_entropy(net(x), y)
            if not math.isfinite(loss.item()):
                losses.extend([math.nan] * (steps - len(losses)))
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        net.eval()
        with torch.no_grad():
            error = (net(x).argmax(1) != y).float().mean().item()
    return StackRun(depth, losses, error)


def stack_label(kind: str, depth: int) -> str:
    """Legend label of a stack of ``kind`` ("plain" or "residual") blocks, in the learner's language."""
    return _("{kind} blocks, depth {depth}").format(kind=_(kind), depth=depth)
