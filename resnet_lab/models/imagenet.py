"""The ImageNet family of He et al. (2015), Table 1, with torchvision's attribute names.

:data:`IMAGENET_STAGES` is the one table of block type and blocks per stage; the builders below,
the variants' builders (ResNeXt, Wide ResNet-50/101) and lesson 03's arithmetic all read it. The ImageNet
builders default to ``num_classes=1000`` like torchvision's; :func:`cifar_resnet18` (a CIFAR-style
stem on the ResNet-18 stages) defaults to CIFAR-10's 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .blocks import BasicBlock, Bottleneck, init_weights, make_stage, validate_init
from .validation import Variant, validate_positive_int, validate_variant

__all__ = [
    "ImageNetSpec",
    "IMAGENET_STAGES",
    "PAPER_IMAGENET_NAMES",
    "imagenet_spec",
    "build_imagenet_net",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "cifar_resnet18",
]

BlockKind = Literal["basic", "bottleneck"]
BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


@dataclass(frozen=True)
class ImageNetSpec:
    """One ImageNet network: block kind, blocks per stage, and the bottleneck's grouping.

    The inner width of a bottleneck is ``int(planes * width_per_group / 64) * groups``.
    """

    block: BlockKind
    layers: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64

    @property
    def block_class(self) -> type[BasicBlock] | type[Bottleneck]:
        return BLOCKS[self.block]


IMAGENET_STAGES: dict[str, ImageNetSpec] = {
    # He et al. 2015, Table 1
    "resnet18": ImageNetSpec("basic", (2, 2, 2, 2)),
    "resnet34": ImageNetSpec("basic", (3, 4, 6, 3)),
    "resnet50": ImageNetSpec("bottleneck", (3, 4, 6, 3)),
    "resnet101": ImageNetSpec("bottleneck", (3, 4, 23, 3)),
    "resnet152": ImageNetSpec("bottleneck", (3, 8, 36, 3)),
}
# The variants keep ResNet-50/101's stages and widen or group the bottleneck's 3x3:
# ResNeXt (Xie et al. 2017, "32x4d": 32 groups of 4 channels per 64 planes) and Wide ResNet-50/101
# (torchvision's: twice the bottleneck width, base width 128).
IMAGENET_STAGES.update({
    "resnext50_32x4d": ImageNetSpec("bottleneck", IMAGENET_STAGES["resnet50"].layers, groups=32, width_per_group=4),
    "resnext101_32x8d": ImageNetSpec("bottleneck", IMAGENET_STAGES["resnet101"].layers, groups=32, width_per_group=8),
    "wide_resnet50_2": ImageNetSpec("bottleneck", IMAGENET_STAGES["resnet50"].layers, width_per_group=128),
    "wide_resnet101_2": ImageNetSpec("bottleneck", IMAGENET_STAGES["resnet101"].layers, width_per_group=128),
})
"""THE table of the ImageNet networks: block type, blocks per stage and bottleneck grouping."""

PAPER_IMAGENET_NAMES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
"""The five networks of He et al. (2015), Table 1."""


def imagenet_spec(name: str) -> ImageNetSpec:
    """The row of :data:`IMAGENET_STAGES` for ``name``, else ValueError naming the valid names."""
    if name not in IMAGENET_STAGES:
        raise ValueError(f"unknown ImageNet network {name!r}; valid names: {', '.join(IMAGENET_STAGES)}")
    return IMAGENET_STAGES[name]


class ResNet(nn.Module):
    """ImageNet ResNets (He et al. 2015, Table 1) with torchvision's attribute names.

    ``cifar_stem=True`` swaps the 7x7/stride-2 stem and max-pool for a 3x3/stride-1 stem, the
    CIFAR-style ResNet-18 that many tutorials train on 32x32 images. ``groups`` and
    ``width_per_group`` widen and group the bottleneck's 3x3 (ResNeXt, Wide ResNet-50/101).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        *,
        residual: bool = True,
        variant: Variant = "v1.5",
        cifar_stem: bool = False,
        init_mode: str = "fan_out",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        validate_positive_int("num_classes", num_classes)
        validate_positive_int("in_channels", in_channels)
        validate_variant(variant)
        if len(layers) != 4:
            raise ValueError(f"layers must give the block count of the 4 stages, got {list(layers)}")
        validate_init(residual, zero_init_residual, init_mode)
        self.residual = residual
        self.variant = variant
        if cifar_stem:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if cifar_stem else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        extra: dict[str, object] = {}
        if block is Bottleneck:
            extra = {"stride_in_1x1": variant == "v1", "groups": groups, "base_width": width_per_group}
        elif groups != 1 or width_per_group != 64:
            raise ValueError("groups and width_per_group widen a Bottleneck; a BasicBlock net needs 1 and 64")
        stages, inplanes = [], 64
        for planes, count, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
            # Option B of the paper: project only where the shape changes.
            stages.append(make_stage(block, inplanes, planes, count, stride, shortcut="B", residual=residual, **extra))
            inplanes = planes * block.expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_weights(self, zero_init_residual, init_mode)

    def features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def build_imagenet_net(
    name: str,
    *,
    num_classes: int = 1000,
    residual: bool = True,
    zero_init_residual: bool = False,
    variant: Variant = "v1.5",
    in_channels: int = 3,
) -> ResNet:
    """The ImageNet network ``name`` from its row of the stage table (``variant`` matters only for bottlenecks)."""
    spec = imagenet_spec(name)
    return ResNet(spec.block_class, spec.layers, num_classes, zero_init_residual, spec.groups, spec.width_per_group,
                  residual=residual, variant=variant, in_channels=in_channels)


def resnet18(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
             in_channels: int = 3) -> ResNet:
    """ImageNet ResNet-18 (He et al. 2015, Table 1), 1000 classes by default; same parameters and names as torchvision's."""
    return build_imagenet_net("resnet18", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)


def resnet34(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
             in_channels: int = 3) -> ResNet:
    """ImageNet ResNet-34 (He et al. 2015, Table 1), 1000 classes by default."""
    return build_imagenet_net("resnet34", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, in_channels=in_channels)


def resnet50(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
             variant: Variant = "v1.5", in_channels: int = 3) -> ResNet:
    """ImageNet ResNet-50, 1000 classes by default; ``variant="v1"`` puts the stride on the first 1x1 as in
    the paper, torchvision's is "v1.5"."""
    return build_imagenet_net("resnet50", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, variant=variant, in_channels=in_channels)


def resnet101(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
              variant: Variant = "v1.5", in_channels: int = 3) -> ResNet:
    """ImageNet ResNet-101 (He et al. 2015, Table 1), 1000 classes by default."""
    return build_imagenet_net("resnet101", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, variant=variant, in_channels=in_channels)


def resnet152(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False,
              variant: Variant = "v1.5", in_channels: int = 3) -> ResNet:
    """ImageNet ResNet-152 (He et al. 2015, Table 1), 1000 classes by default."""
    return build_imagenet_net("resnet152", num_classes=num_classes, residual=residual,
                              zero_init_residual=zero_init_residual, variant=variant, in_channels=in_channels)


def cifar_resnet18(
    num_classes: int = 10, *, residual: bool = True, zero_init_residual: bool = False, in_channels: int = 3
) -> ResNet:
    """CIFAR-style ResNet-18 (10 classes by default): the ResNet-18 stages of 64, 128, 256, 512
    channels behind a 3x3 stride-1 stem without max-pool, for 32x32 images."""
    return ResNet(BasicBlock, IMAGENET_STAGES["resnet18"].layers, num_classes, zero_init_residual,
                  residual=residual, cifar_stem=True, in_channels=in_channels)
