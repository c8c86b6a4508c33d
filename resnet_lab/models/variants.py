"""The variants the source write-ups describe beyond the original ResNet: Wide ResNets and ResNeXt.

* :func:`wide_resnet` -- WRN-d-k of Zagoruyko and Komodakis (2016) for CIFAR: pre-activation
  basic blocks ``k`` times wider than the paper's, depth ``6n + 4``, optional dropout between the
  two convolutions. A stage's first block projects the pre-activated input with a plain 1x1
  convolution, as in the authors' code.
* :func:`cifar_resnext29` -- ResNeXt-29 of Xie et al. (2017) for CIFAR: three stages of three
  bottlenecks whose 3x3 is split into ``cardinality`` groups of ``bottleneck_width`` channels.
* :func:`resnext50_32x4d`, :func:`resnext101_32x8d`, :func:`wide_resnet50_2`,
  :func:`wide_resnet101_2` -- the ImageNet variants, rows of :data:`IMAGENET_STAGES`, equal to
  torchvision's (same layers and names), built from our one :class:`Bottleneck`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import Bottleneck, conv3x3, init_weights, make_stage
from .cifar import CifarResNet
from .imagenet import ResNet, build_imagenet_net
from .validation import validate_positive_int

__all__ = [
    "WRN_BASE_WIDTHS",
    "RESNEXT_STAGE_PLANES",
    "RESNEXT29_BLOCKS",
    "validate_wrn_depth",
    "wide_resnet",
    "CifarResNeXt",
    "cifar_resnext29",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

WRN_BASE_WIDTHS: tuple[int, int, int] = (16, 32, 64)
"""Stem width and the three stage widths of WRN-d-k before widening (the stages get ``k`` times these)."""
RESNEXT_STAGE_PLANES: tuple[int, int, int] = (64, 128, 256)
"""``planes`` of the three CIFAR ResNeXt stages (outputs 4x: 256, 512, 1024); the stem has 64 channels."""
RESNEXT29_BLOCKS = 3
"""Bottlenecks per stage of ResNeXt-29: depth 9 * 3 + 2 = 29."""


def validate_wrn_depth(depth: int) -> int:
    """The WRN depth rule: return ``n`` (blocks per stage) for ``depth = 6n + 4``, n >= 1, else ValueError.

    The 4 are the stem convolution, the classifier and (in the paper's count) two of the 1x1
    projection shortcuts; each of the ``3n`` blocks has two 3x3 convolutions.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"a Wide ResNet has depth 6n+4 with n >= 1 (10, 16, 22, 28, 34, 40, ...), got {depth!r}")
    return (depth - 4) // 6


def wide_resnet(depth: int, k: int, *, num_classes: int = 10, dropout: float = 0.0, in_channels: int = 3) -> CifarResNet:
    """WRN-``depth``-``k`` for 32x32 images (``num_classes`` classes, 10 by default).

    A 16-channel 3x3 stem, then three stages of ``n = (depth - 4) / 6`` pre-activation blocks with
    ``16k``, ``32k``, ``64k`` channels, BN-ReLU, global average pooling and the classifier.
    ``dropout`` (the paper uses 0.3) drops activations between the two convolutions of each block.
    """
    n = validate_wrn_depth(depth)
    validate_positive_int("k (widening factor)", k)
    return CifarResNet(
        n, preact=True, shortcut="B", width=WRN_BASE_WIDTHS[0], stage_widths=tuple(k * w for w in WRN_BASE_WIDTHS),
        dropout=dropout,
        projection_norm=False, num_classes=num_classes, in_channels=in_channels,
    )


class CifarResNeXt(nn.Module):
    """ResNeXt for 32x32 images (Xie et al. 2017, section 5.3), torchvision's attribute names.

    A 64-channel 3x3 stem, three stages of ``n`` bottlenecks (output 256, 512, 1024 channels, the
    3x3 at ``cardinality * bottleneck_width``, doubled each stage; stride on the 3x3), global
    average pooling and the classifier. Depth ``9n + 2``: ResNeXt-29 has n = 3.
    """

    def __init__(
        self, n: int, cardinality: int, bottleneck_width: int, *, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        for name, value in (("n (blocks per stage)", n), ("cardinality", cardinality),
                            ("bottleneck_width", bottleneck_width), ("num_classes", num_classes),
                            ("in_channels", in_channels)):
            validate_positive_int(name, value)
        self.cardinality, self.bottleneck_width = cardinality, bottleneck_width
        stem = RESNEXT_STAGE_PLANES[0]
        self.conv1 = conv3x3(in_channels, stem)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        stages, inplanes = [], stem
        for planes, stride in zip(RESNEXT_STAGE_PLANES, (1, 2, 2)):
            # Bottleneck's inner width int(planes * base_width / 64) * groups = cardinality * bottleneck_width * planes / 64
            stages.append(make_stage(Bottleneck, inplanes, planes, n, stride, shortcut="B",
                                     groups=cardinality, base_width=bottleneck_width))
            inplanes = planes * Bottleneck.expansion
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        init_weights(self)

    def features(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def cifar_resnext29(
    cardinality: int = 8, bottleneck_width: int = 64, *, num_classes: int = 10, in_channels: int = 3
) -> CifarResNeXt:
    """ResNeXt-29 (``cardinality`` x ``bottleneck_width``d) for 32x32 images; 8x64d and 16x64d are the paper's."""
    return CifarResNeXt(RESNEXT29_BLOCKS, cardinality, bottleneck_width, num_classes=num_classes, in_channels=in_channels)


def resnext50_32x4d(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
                    in_channels: int = 3) -> ResNet:
    """ImageNet ResNeXt-50 32x4d (Xie et al. 2017), 1000 classes by default; equal to torchvision's."""
    return build_imagenet_net("resnext50_32x4d", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)


def resnext101_32x8d(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
                     in_channels: int = 3) -> ResNet:
    """ImageNet ResNeXt-101 32x8d, 1000 classes by default; equal to torchvision's."""
    return build_imagenet_net("resnext101_32x8d", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)


def wide_resnet50_2(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
                    in_channels: int = 3) -> ResNet:
    """ImageNet Wide ResNet-50-2 (torchvision's: ResNet-50 with twice the bottleneck width), 1000 classes by default."""
    return build_imagenet_net("wide_resnet50_2", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)


def wide_resnet101_2(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
                     in_channels: int = 3) -> ResNet:
    """ImageNet Wide ResNet-101-2 (ResNet-101 with twice the bottleneck width), 1000 classes by default."""
    return build_imagenet_net("wide_resnet101_2", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)
