"""Closed forms of whole networks, and the PyTorch networks they describe (built on the meta device).

The architecture facts come from :mod:`resnet_lab.models`: the ImageNet stage table
(:data:`~resnet_lab.models.IMAGENET_STAGES`), the 6n+2 rule (:func:`~resnet_lab.models.validate_cifar_depth`)
and the paper's depth list (:data:`~resnet_lab.models.PAPER_CIFAR_DEPTHS`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..models import (
    PAPER_IMAGENET_NAMES,
    Shortcut,
    Variant,
    build_imagenet_net,
    cifar_resnet,
    imagenet_spec,
    validate_cifar_depth,
    validate_positive_int,
    validate_shortcut,
    validate_variant,
)
from .blocks import basic_block_cost, bottleneck_cost
from .layers import Cost, LayerCost, batchnorm_cost, conv2d_cost, conv_output_size, linear_cost

__all__ = [
    "IMAGENET_NAMES",
    "imagenet_resnet_cost",
    "cifar_resnet_cost",
    "build_imagenet",
    "build_torchvision",
    "build_cifar",
]

IMAGENET_NAMES: tuple[str, ...] = PAPER_IMAGENET_NAMES
"""The ImageNet ResNets of the paper's Table 1 (the same object as ``models.PAPER_IMAGENET_NAMES``)."""


def imagenet_resnet_cost(
    name: str, *, variant: Variant = "v1.5", input_size: int = 224, num_classes: int = 1000, in_channels: int = 3
) -> Cost:
    """Every layer of an ImageNet network (``resnet18`` ... ``resnet152``, or any row of
    ``models.IMAGENET_STAGES``) at ``input_size`` pixels.

    Stem: 7x7 conv, stride 2 (224 -> 112), BN, 3x3 max-pool, stride 2 (112 -> 56). Four stages of
    64, 128, 256, 512 ``planes``; stages 2-4 halve the size in their first block, whose shortcut
    is a projection (option B) like every shortcut that changes shape. Then global average pooling
    and a ``num_classes``-way fully connected layer. ``variant`` only matters for bottleneck nets.
    """
    spec = imagenet_spec(name)
    validate_variant(variant)
    validate_positive_int("input_size", input_size)
    validate_positive_int("num_classes", num_classes)
    stem = conv2d_cost("conv1", in_channels, 64, 7, input_size, stride=2, padding=3)
    size = stem.out_shape[1]
    layers: list[LayerCost] = [stem, batchnorm_cost("bn1", 64, size)]
    size = conv_output_size(size, 3, stride=2, padding=1)  # the max-pool: no parameters, no MACs
    inplanes = 64
    expansion = spec.block_class.expansion
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), spec.layers), start=1):
        for index in range(count):
            stride = 2 if stage > 1 and index == 0 else 1
            prefix = f"layer{stage}.{index}"
            if spec.block == "basic":
                cost = basic_block_cost(inplanes, planes, size, stride, shortcut="B", prefix=prefix)
            else:
                cost = bottleneck_cost(inplanes, planes, size, stride, groups=spec.groups,
                                       base_width=spec.width_per_group, stride_in_1x1=variant == "v1",
                                       shortcut="B", prefix=prefix)
            layers.extend(cost.layers)
            inplanes, size = planes * expansion, cost.out_shape[1]
    layers.append(linear_cost("fc", inplanes, num_classes))
    return Cost(tuple(layers))


def cifar_resnet_cost(
    depth: int, *, shortcut: Shortcut = "A", width: int = 16, num_classes: int = 10, input_size: int = 32,
    in_channels: int = 3,
) -> Cost:
    """Every layer of the paper's CIFAR ResNet of ``depth = 6n + 2`` layers (section 4.2).

    3x3 stem conv and BN; three stages of ``n`` BasicBlocks with ``width``, ``2*width``,
    ``4*width`` channels on 32, 16, 8 pixels; global average pooling; a linear classifier.
    """
    n = validate_cifar_depth(depth)
    validate_shortcut(shortcut)
    validate_positive_int("width", width)
    validate_positive_int("num_classes", num_classes)
    stem = conv2d_cost("conv1", in_channels, width, 3, input_size, padding=1)
    size = stem.out_shape[1]
    layers: list[LayerCost] = [stem, batchnorm_cost("bn1", width, size)]
    inplanes = width
    for stage, planes in enumerate((width, 2 * width, 4 * width), start=1):
        for index in range(n):
            stride = 2 if stage > 1 and index == 0 else 1
            cost = basic_block_cost(inplanes, planes, size, stride, shortcut=shortcut, prefix=f"layer{stage}.{index}")
            layers.extend(cost.layers)
            inplanes, size = planes, cost.out_shape[1]
    layers.append(linear_cost("fc", inplanes, num_classes))
    return Cost(tuple(layers))


def _on(device: torch.device | str, builder: Callable[[], nn.Module]) -> nn.Module:
    with torch.device(device):
        return builder()


def build_imagenet(name: str, *, variant: Variant = "v1.5", device: torch.device | str = "meta") -> nn.Module:
    """Our ``resnet_lab.models`` ImageNet network, built on ``device`` (``meta``: shapes only, instant)."""
    imagenet_spec(name)
    validate_variant(variant)
    return _on(device, lambda: build_imagenet_net(name, variant=variant))


def build_torchvision(name: str, *, device: torch.device | str = "meta") -> nn.Module:
    """torchvision's network of the same name (no weights, nothing downloaded); its bottleneck is "v1.5"."""
    imagenet_spec(name)
    import torchvision

    return _on(device, lambda: getattr(torchvision.models, name)(weights=None))


def build_cifar(depth: int, *, shortcut: Shortcut = "A", device: torch.device | str = "meta") -> nn.Module:
    """The paper's CIFAR ResNet from ``resnet_lab.models``, built on ``device``."""
    return _on(device, lambda: cifar_resnet(depth, shortcut=shortcut))
