"""A stage-by-stage shape trace of a real model: what each top-level part (stem, stages, pooling,
classifier) outputs for an input of a given shape, and how many parameters it holds.

``format_trace(shape_trace(cifar_resnet(20), (1, 3, 32, 32)))`` prints the paper's Table 1 for the
CIFAR family as the model actually computes it (d2l prints the same for its ResNet-18).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TraceRow", "shape_trace", "format_trace"]


@dataclass(frozen=True)
class TraceRow:
    """One part of the model: its attribute name, class, output shape and parameter count."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    blocks: int  # residual blocks inside (a stage's length; 0 for stems, pools and classifiers)


def _blocks_in(module: nn.Module) -> int:
    return len(module) if isinstance(module, nn.Sequential) and any(
        hasattr(m, "branch") for m in module) else 0


def shape_trace(model: nn.Module, input_shape: Sequence[int], *, blocks: bool = False) -> list[TraceRow]:
    """Run one zero input of ``input_shape`` through ``model`` (eval mode, no gradient) and record the
    output shape of every top-level child in the order they ran (``blocks=True``: every block of a
    stage as its own row). ``nn.Identity`` parts are left out. The model's mode is restored."""
    rows: list[tuple[int, TraceRow]] = []
    handles = []
    order = [0]

    def add(name: str, module: nn.Module) -> None:
        def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            order[0] += 1
            rows.append((order[0], TraceRow(name, type(mod).__name__, tuple(output.shape),
                                            sum(p.numel() for p in mod.parameters()), _blocks_in(mod))))
        handles.append(module.register_forward_hook(hook))

    for name, child in model.named_children():
        if isinstance(child, nn.Identity):
            continue
        if blocks and _blocks_in(child):
            for i, block in enumerate(child):
                add(f"{name}.{i}", block)
        else:
            add(name, child)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(*input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [row for _, row in sorted(rows, key=lambda r: r[0])]


def format_trace(rows: Sequence[TraceRow], input_shape: Sequence[int] | None = None) -> str:
    """The trace as a fixed-width table: part, class, blocks, output shape (C x H x W for maps), parameters."""
    lines = [f"{'part':<10}{'kind':<20}{'blocks':>7}  {'output':<18}{'parameters':>12}", "-" * 67]
    if input_shape is not None:
        lines.append(f"{'input':<10}{'':<20}{'':>7}  {' x '.join(map(str, input_shape[1:])):<18}{'':>12}")
    for r in rows:
        shape = " x ".join(map(str, r.output_shape[1:]))
        lines.append(f"{r.name:<10}{r.kind:<20}{r.blocks or '':>7}  {shape:<18}{r.params:>12,}")
    lines.append(f"{'total':<10}{'':<20}{'':>7}  {'':<18}{sum(r.params for r in rows):>12,}")
    return "\n".join(lines)
