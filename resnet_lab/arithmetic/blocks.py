"""Closed forms of the residual blocks, and the PyTorch block each one describes (for the checks).

The shortcut's cost follows THE shortcut rule of :func:`resnet_lab.models.make_shortcut`: the
formula asks the factory which shortcut a block gets (identity, option A or option B) and counts
that shortcut's layers by formula.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..models import (
    BasicBlock,
    Bottleneck,
    PreActBlock,
    Shortcut,
    ShortcutA,
    make_shortcut,
    validate_positive_int,
    validate_shortcut,
)
from .layers import Cost, LayerCost, batchnorm_cost, conv2d_cost

__all__ = ["shortcut_cost", "basic_block_cost", "bottleneck_cost", "preact_block_cost", "make_block"]


def shortcut_cost(
    inplanes: int, out_planes: int, in_size: int, stride: int = 1, shortcut: Shortcut = "B", *, norm: bool = True
) -> tuple[LayerCost, ...]:
    """The layers of the shortcut that :func:`~resnet_lab.models.make_shortcut` builds: none for the
    identity and for option A (parameter-free), a strided 1x1 projection (+ BN if ``norm``) for option B."""
    with torch.device("meta"):  # the factory decides; the meta device makes its answer free
        module = make_shortcut(inplanes, out_planes, stride, shortcut, norm_layer=nn.BatchNorm2d if norm else None)
    if module is None or isinstance(module, ShortcutA):
        return ()
    proj = conv2d_cost("downsample.0", inplanes, out_planes, 1, in_size, stride=stride)
    return (proj, batchnorm_cost("downsample.1", out_planes, proj.out_shape[1])) if norm else (proj,)


def basic_block_cost(
    inplanes: int, planes: int, in_size: int, stride: int = 1, *, shortcut: Shortcut = "B", prefix: str = ""
) -> Cost:
    """A BasicBlock: 3x3 conv (stride here) - BN - ReLU - 3x3 conv - BN, plus the shortcut.

    ``shortcut`` is the option used where the shape changes (A: free, B: 1x1 projection + BN);
    where it does not, the shortcut is the identity and costs nothing.
    """
    validate_shortcut(shortcut)
    validate_positive_int("stride", stride)
    c1 = conv2d_cost("conv1", inplanes, planes, 3, in_size, stride=stride, padding=1)
    size = c1.out_shape[1]
    c2 = conv2d_cost("conv2", planes, planes, 3, size, padding=1)
    layers = (c1, batchnorm_cost("bn1", planes, size), c2, batchnorm_cost("bn2", planes, size))
    return Cost(layers + shortcut_cost(inplanes, planes, in_size, stride, shortcut)).renamed(prefix)


def bottleneck_cost(
    inplanes: int,
    planes: int,
    in_size: int,
    stride: int = 1,
    *,
    expansion: int = 4,
    groups: int = 1,
    base_width: int = 64,
    stride_in_1x1: bool = False,
    shortcut: Shortcut = "B",
    prefix: str = "",
) -> Cost:
    """A Bottleneck: 1x1 reduce - 3x3 - 1x1 expand (each followed by BN), plus the shortcut.

    The inner width is ``int(planes * base_width / 64) * groups`` (64 and 1 give ``planes``), the
    output has ``planes * expansion`` channels. ``stride_in_1x1`` puts the stride on the first 1x1
    (the paper, "v1") instead of the 3x3 (torchvision, "v1.5").
    """
    validate_shortcut(shortcut)
    validate_positive_int("stride", stride)
    validate_positive_int("expansion", expansion)
    validate_positive_int("base_width", base_width)
    width = int(planes * (base_width / 64.0)) * groups
    out_planes = planes * expansion
    stride1, stride3 = (stride, 1) if stride_in_1x1 else (1, stride)
    c1 = conv2d_cost("conv1", inplanes, width, 1, in_size, stride=stride1)
    c2 = conv2d_cost("conv2", width, width, 3, c1.out_shape[1], stride=stride3, padding=1, groups=groups)
    size = c2.out_shape[1]
    c3 = conv2d_cost("conv3", width, out_planes, 1, size)
    layers = (
        c1, batchnorm_cost("bn1", width, c1.out_shape[1]),
        c2, batchnorm_cost("bn2", width, size),
        c3, batchnorm_cost("bn3", out_planes, size),
    )
    return Cost(layers + shortcut_cost(inplanes, out_planes, in_size, stride, shortcut)).renamed(prefix)


def preact_block_cost(
    inplanes: int, planes: int, in_size: int, stride: int = 1, *, shortcut: Shortcut = "B",
    projection_norm: bool = True, prefix: str = "",
) -> Cost:
    """A pre-activation basic block: BN - ReLU - 3x3 conv (stride here) - BN - ReLU - 3x3 conv, plus the shortcut.

    The first BN works on the ``inplanes`` input channels. A Wide ResNet block is this block with
    ``planes = k * 16, k * 32, k * 64`` (dropout costs nothing) and a projection without BN
    (``projection_norm=False``): widening by ``k`` multiplies the 3x3 weights and MACs by ``k**2``.
    """
    validate_shortcut(shortcut)
    validate_positive_int("stride", stride)
    c1 = conv2d_cost("conv1", inplanes, planes, 3, in_size, stride=stride, padding=1)
    size = c1.out_shape[1]
    layers = (batchnorm_cost("bn1", inplanes, in_size), c1, batchnorm_cost("bn2", planes, size),
              conv2d_cost("conv2", planes, planes, 3, size, padding=1))
    return Cost(layers + shortcut_cost(inplanes, planes, in_size, stride, shortcut, norm=projection_norm)).renamed(prefix)


def make_block(
    kind: Literal["basic", "bottleneck", "preact"],
    inplanes: int,
    planes: int,
    stride: int = 1,
    *,
    expansion: int = 4,
    groups: int = 1,
    base_width: int = 64,
    stride_in_1x1: bool = False,
    shortcut: Shortcut = "B",
    projection_norm: bool = True,
) -> nn.Module:
    """The PyTorch block (from :mod:`resnet_lab.models`) that :func:`basic_block_cost`,
    :func:`bottleneck_cost` or :func:`preact_block_cost` describes, with its shortcut from the same
    factory; for checking the formulas."""
    if kind not in ("basic", "bottleneck", "preact"):
        raise ValueError(f"kind must be one of ('basic', 'bottleneck', 'preact'), got {kind!r}")
    validate_shortcut(shortcut)
    if kind == "basic":
        return BasicBlock(inplanes, planes, stride, make_shortcut(inplanes, planes, stride, shortcut))
    if kind == "preact":
        norm = nn.BatchNorm2d if projection_norm else None
        return PreActBlock(inplanes, planes, stride, make_shortcut(inplanes, planes, stride, shortcut, norm_layer=norm))
    validate_positive_int("expansion", expansion)
    # Bottleneck reads its class attribute ``expansion``; a subclass changes it.
    cls = Bottleneck if expansion == 4 else type("Bottleneck", (Bottleneck,), {"expansion": expansion})
    downsample = make_shortcut(inplanes, planes * expansion, stride, shortcut)
    return cls(inplanes, planes, stride, downsample, groups=groups, base_width=base_width, stride_in_1x1=stride_in_1x1)
