"""Closed forms of the variants (lesson 06): the grouped 3x3 of ResNeXt, the widened
pre-activation block of Wide ResNets, and their CIFAR networks. Architecture facts (depth rules,
stage widths of :mod:`resnet_lab.models.variants`) are imported, never restated."""

from __future__ import annotations

from ..models import validate_positive_int, validate_wrn_depth
from ..models.variants import RESNEXT29_BLOCKS, RESNEXT_STAGE_PLANES, WRN_BASE_WIDTHS
from .blocks import bottleneck_cost, preact_block_cost
from .layers import Cost, LayerCost, batchnorm_cost, conv2d_cost, linear_cost

__all__ = [
    "grouped_conv3x3_cost",
    "wide_block_cost",
    "resnext_block_cost",
    "wide_resnet_cost",
    "cifar_resnext29_cost",
]


def grouped_conv3x3_cost(name: str, channels: int, cardinality: int, in_size: int, stride: int = 1) -> LayerCost:
    """ResNeXt's grouped 3x3 on ``channels`` channels split into ``cardinality`` groups.

    Each group maps ``channels / cardinality`` inputs to as many outputs, so weights and MACs are
    ``1 / cardinality`` of the dense 3x3: ``9 * channels**2 / cardinality`` weights.
    """
    validate_positive_int("channels", channels)
    validate_positive_int("cardinality", cardinality)
    if channels % cardinality:
        divisors = [d for d in range(1, channels + 1) if channels % d == 0]
        raise ValueError(f"cardinality must divide the width {channels}; valid cardinalities: {divisors}, "
                         f"got {cardinality}")
    return conv2d_cost(name, channels, channels, 3, in_size, stride=stride, padding=1, groups=cardinality)


def wide_block_cost(
    inplanes: int, base_planes: int, k: int, in_size: int, stride: int = 1, *, prefix: str = ""
) -> Cost:
    """A Wide ResNet block: the pre-activation basic block on ``k * base_planes`` channels, with a plain
    1x1 projection where the shape changes (no BN on it, as in the authors' code)."""
    validate_positive_int("k (widening factor)", k)
    validate_positive_int("base_planes", base_planes)
    return preact_block_cost(inplanes, k * base_planes, in_size, stride, shortcut="B", projection_norm=False,
                             prefix=prefix)


def resnext_block_cost(
    inplanes: int, planes: int, cardinality: int, bottleneck_width: int, in_size: int, stride: int = 1, *,
    prefix: str = "",
) -> Cost:
    """A ResNeXt bottleneck: 1x1 to ``cardinality * bottleneck_width * planes / 64`` channels, the
    grouped 3x3 (stride here), 1x1 to ``4 * planes``; each followed by BN; projection where needed."""
    return bottleneck_cost(inplanes, planes, in_size, stride, groups=cardinality, base_width=bottleneck_width,
                           prefix=prefix)


def _cifar_head(layers: list[LayerCost], channels: int, size: int, num_classes: int, *, final_bn: bool) -> Cost:
    if final_bn:
        layers.append(batchnorm_cost("final_bn", channels, size))
    layers.append(linear_cost("fc", channels, num_classes))
    return Cost(tuple(layers))


def wide_resnet_cost(
    depth: int, k: int, *, num_classes: int = 10, input_size: int = 32, in_channels: int = 3
) -> Cost:
    """Every layer of WRN-``depth``-``k`` (see :func:`resnet_lab.models.wide_resnet`)."""
    n = validate_wrn_depth(depth)
    validate_positive_int("k (widening factor)", k)
    stem = conv2d_cost("conv1", in_channels, WRN_BASE_WIDTHS[0], 3, input_size, padding=1)
    layers: list[LayerCost] = [stem]
    inplanes, size = WRN_BASE_WIDTHS[0], stem.out_shape[1]
    for stage, base in enumerate(WRN_BASE_WIDTHS, start=1):
        for index in range(n):
            stride = 2 if stage > 1 and index == 0 else 1
            cost = wide_block_cost(inplanes, base, k, size, stride, prefix=f"layer{stage}.{index}")
            layers.extend(cost.layers)
            inplanes, size = k * base, cost.out_shape[1]
    return _cifar_head(layers, inplanes, size, num_classes, final_bn=True)


def cifar_resnext29_cost(
    cardinality: int = 8, bottleneck_width: int = 64, *, num_classes: int = 10, input_size: int = 32,
    in_channels: int = 3,
) -> Cost:
    """Every layer of ResNeXt-29 ``cardinality`` x ``bottleneck_width``d (see :func:`resnet_lab.models.cifar_resnext29`)."""
    stem_width = RESNEXT_STAGE_PLANES[0]
    stem = conv2d_cost("conv1", in_channels, stem_width, 3, input_size, padding=1)
    layers: list[LayerCost] = [stem, batchnorm_cost("bn1", stem_width, stem.out_shape[1])]
    inplanes, size = stem_width, stem.out_shape[1]
    for stage, planes in enumerate(RESNEXT_STAGE_PLANES, start=1):
        for index in range(RESNEXT29_BLOCKS):
            stride = 2 if stage > 1 and index == 0 else 1
            cost = resnext_block_cost(inplanes, planes, cardinality, bottleneck_width, size, stride,
                                      prefix=f"layer{stage}.{index}")
            layers.extend(cost.layers)
            inplanes, size = 4 * planes, cost.out_shape[1]
    return _cifar_head(layers, inplanes, size, num_classes, final_bn=False)

