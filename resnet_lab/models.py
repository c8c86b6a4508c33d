"""Residual and plain networks: the blocks, the paper's CIFAR family and the ImageNet family.

The code follows the layout of torchvision's ``models/resnet.py`` (same attribute names, so
state_dicts load both ways) and adds what a lesson needs:

* every block has a ``residual`` switch. With ``residual=False`` the block is the *plain*
  counterpart of the paper: the same layers in the same order, only the ``+ identity`` is gone.
* the CIFAR family of He et al. (2015), section 4.2, with depth ``6n + 2`` and the paper's
  shortcut options "A" (parameter-free: subsample + zero channels) and "B" (1x1 projection + BN).
* the ImageNet family with the bottleneck stride either where the paper puts it ("v1", on the
  first 1x1 convolution) or where torchvision puts it ("v1.5", on the 3x3 convolution).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "conv3x3",
    "conv1x1",
    "ShortcutA",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "CifarResNet",
    "ResNet",
    "cifar_resnet",
    "cifar_depths",
    "cifar_resnet18",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "MODEL_NAMES",
    "build_model",
    "count_parameters",
    "residual_blocks",
    "SHORTCUTS",
    "VARIANTS",
    "check_positive_int",
    "check_shortcut",
    "check_variant",
]

Shortcut = Literal["A", "B"]
Variant = Literal["v1", "v1.5"]
SHORTCUTS: tuple[str, ...] = ("A", "B")
VARIANTS: tuple[str, ...] = ("v1", "v1.5")
_INIT_MODES = ("fan_out", "fan_in")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding and no bias (a BatchNorm follows, its shift makes a bias redundant)."""
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ShortcutA(nn.Module):
    """The paper's option A: a parameter-free shortcut for a change of shape.

    Spatial size is halved by taking every ``stride``-th pixel and the extra channels are
    zeros, so the shortcut adds no parameter (He et al. 2015, section 3.3, option A).
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"option A can only add channels, got {in_planes} -> {out_planes}")
        self.in_planes = in_planes
        self.out_planes = out_planes
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_planes - self.in_planes
        if extra:
            # F.pad pads the last dims first: (W_left, W_right, H_top, H_bottom, C_front, C_back).
            x = F.pad(x, (0, 0, 0, 0, 0, extra))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_planes}->{self.out_planes}, stride={self.stride}, parameter-free"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; ``out = relu(F(x) + x)`` (residual) or ``relu(F(x))`` (plain)."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise ValueError("BasicBlock does not support dilation > 1")
        # The stride sits on the first convolution: it is the one that downsamples.
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def branch(self, x: Tensor) -> Tensor:
        """The residual function F(x): everything but the shortcut and the final ReLU."""
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        return self.bn2(out)

    def shortcut(self, x: Tensor) -> Tensor:
        """The identity (or projection) path that the branch is added to."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.residual:
            identity = self.shortcut(x)
            out = out + identity  # the one line that makes the net residual
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand by ``expansion`` = 4), plus the shortcut.

    ``stride_in_1x1=True`` puts the downsampling stride on the first 1x1 convolution as in the
    paper ("v1"); ``False`` puts it on the 3x3 convolution as torchvision does ("v1.5"), which
    costs more FLOPs because the first 1x1 then runs at full resolution (4x the positions); the
    3x3 costs the same in both.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        stride1, stride3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, stride1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual
        self.stride_in_1x1 = stride_in_1x1

    def branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.residual:
            identity = self.shortcut(x)
            out = out + identity
        return self.relu(out)


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016, "Identity Mappings in Deep Residual Networks").

    BN and ReLU come *before* each convolution and nothing follows the addition, so the
    shortcut is a clean identity from block to block: ``x_{l+1} = x_l + F(x_l)``.
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: Callable[..., nn.Module] | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def branch(self, x: Tensor) -> Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        return self.conv2(self.relu(self.bn2(out)))

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.residual:
            out = out + self.shortcut(x)
        return out


BlockType = type[BasicBlock] | type[Bottleneck] | type[PreActBlock]


def check_positive_int(name: str, value: int) -> None:
    """ValueError unless ``value`` is an int >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")


def check_shortcut(shortcut: str) -> None:
    """ValueError unless ``shortcut`` is one of the paper's options "A" or "B"."""
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS} (A: zero-padding, B: projection), got {shortcut!r}")


def check_variant(variant: str) -> None:
    """ValueError unless ``variant`` is "v1" (stride on the first 1x1) or "v1.5" (on the 3x3)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS} (v1: stride on the 1x1, v1.5: on the 3x3), got {variant!r}")


def _init_weights(model: nn.Module, zero_init_residual: bool, init_mode: str) -> None:
    """He (Kaiming) normal initialisation of every convolution, BN to (1, 0).

    ``zero_init_residual`` sets the last BN scale of each residual branch to zero, so each block
    starts as the identity (Goyal et al. 2017); it is meaningless for a plain net.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=init_mode, nonlinearity="relu")  # type: ignore[arg-type]
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                nn.init.constant_(m.bn2.weight, 0)
            elif isinstance(m, PreActBlock) and m.conv2.weight is not None:
                nn.init.constant_(m.conv2.weight, 0)


def _check_common(residual: bool, zero_init_residual: bool, init_mode: str) -> None:
    if zero_init_residual and not residual:
        raise ValueError(
            "zero_init_residual=True zeroes the last BN of every block; in a plain net "
            "(residual=False) that makes every block output zero. Use it only with residual=True."
        )
    if init_mode not in _INIT_MODES:
        raise ValueError(f"init_mode must be one of {_INIT_MODES}, got {init_mode!r}")


class CifarResNet(nn.Module):
    """The CIFAR-10 networks of He et al. (2015), section 4.2.

    A 3x3 stem, three stages of ``n`` blocks with ``width``, ``2*width`` and ``4*width`` channels on
    32x32, 16x16 and 8x8 maps, global average pooling and a linear classifier: ``6n + 2`` layers
    with weights. Also used, with ``preact=True``, for the pre-activation variant of He et al. 2016.
    """

    def __init__(
        self,
        n: int,
        *,
        residual: bool = True,
        shortcut: Shortcut = "A",
        width: int = 16,
        num_classes: int = 10,
        zero_init_residual: bool = False,
        preact: bool = False,
        init_mode: str = "fan_out",
    ) -> None:
        super().__init__()
        check_positive_int("n (blocks per stage)", n)
        check_positive_int("width", width)
        check_positive_int("num_classes", num_classes)
        check_shortcut(shortcut)
        _check_common(residual, zero_init_residual, init_mode)
        self.n = n
        self.residual = residual
        self.shortcut_type = shortcut
        self.preact = preact
        self.inplanes = width
        self.conv1 = conv3x3(3, width)
        # A pre-activation net applies BN-ReLU at the start of every block instead of after the stem.
        self.bn1: nn.Module = nn.Identity() if preact else nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(width, n, stride=1)
        self.layer2 = self._make_layer(2 * width, n, stride=2)
        self.layer3 = self._make_layer(4 * width, n, stride=2)
        # A pre-activation net ends its last block without BN-ReLU, so one is added here.
        self.final_bn: nn.Module = nn.BatchNorm2d(4 * width) if preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4 * width, num_classes)
        _init_weights(self, zero_init_residual, init_mode)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample: nn.Module | None = None
        # A plain net has no shortcut at all, so it gets no projection either.
        if self.residual and (stride != 1 or self.inplanes != planes):
            if self.shortcut_type == "A":
                downsample = ShortcutA(self.inplanes, planes, stride)
            else:
                downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        block: BlockType = PreActBlock if self.preact else BasicBlock
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample, residual=self.residual)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, residual=self.residual))
        return nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if not self.preact:
            x = self.relu(self.bn1(x))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        if self.preact:
            x = self.relu(self.final_bn(x))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class ResNet(nn.Module):
    """ImageNet ResNets (He et al. 2015, Table 1) with torchvision's attribute names.

    ``cifar_stem=True`` swaps the 7x7/stride-2 stem and max-pool for a 3x3/stride-1 stem, the
    CIFAR-style ResNet-18 that many tutorials train on 32x32 images.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        *,
        residual: bool = True,
        variant: Variant = "v1.5",
        cifar_stem: bool = False,
        init_mode: str = "fan_out",
    ) -> None:
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_variant(variant)
        if len(layers) != 4:
            raise ValueError(f"layers must give the block count of the 4 stages, got {list(layers)}")
        for count in layers:
            check_positive_int("blocks per stage", count)
        _check_common(residual, zero_init_residual, init_mode)
        self.residual = residual
        self.variant = variant
        self.inplanes = 64
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if cifar_stem else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self, zero_init_residual, init_mode)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample: nn.Module | None = None
        if self.residual and (stride != 1 or self.inplanes != planes * block.expansion):
            # Option B of the paper: project only where the shape changes.
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        extra = {"stride_in_1x1": self.variant == "v1"} if block is Bottleneck else {}
        layers: list[nn.Module] = [
            block(self.inplanes, planes, stride, downsample, residual=self.residual, **extra)  # type: ignore[arg-type]
        ]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, residual=self.residual, **extra))  # type: ignore[arg-type]
        return nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def cifar_depths(max_depth: int = 1202) -> list[int]:
    """The valid CIFAR ResNet depths 6n+2 up to ``max_depth``: 8, 14, 20, 26, ..."""
    return list(range(8, max_depth + 1, 6))


def cifar_resnet(
    depth: int,
    *,
    residual: bool = True,
    shortcut: Shortcut = "A",
    width: int = 16,
    num_classes: int = 10,
    zero_init_residual: bool = False,
    preact: bool = False,
    init_mode: str = "fan_out",
) -> CifarResNet:
    """The paper's CIFAR ResNet (``residual=True``) or plain net (``residual=False``) of ``depth`` layers.

    ``depth`` must be ``6n + 2`` with n >= 1: 8, 14, 20, 26, 32, 44, 56, 110, 1202, ...
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"a CIFAR ResNet has depth 6n+2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, 110, 1202, ...), got {depth!r}"
        )
    return CifarResNet(
        (depth - 2) // 6,
        residual=residual,
        shortcut=shortcut,
        width=width,
        num_classes=num_classes,
        zero_init_residual=zero_init_residual,
        preact=preact,
        init_mode=init_mode,
    )


def cifar_resnet18(num_classes: int = 10, *, residual: bool = True, zero_init_residual: bool = False) -> ResNet:
    """CIFAR-style ResNet-18: 3x3 stride-1 stem, no max-pool, stages of 64, 128, 256, 512 channels."""
    return ResNet(
        BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual, residual=residual, cifar_stem=True
    )


def _imagenet(block: type[BasicBlock] | type[Bottleneck], layers: list[int], **kwargs: object) -> ResNet:
    return ResNet(block, layers, **kwargs)  # type: ignore[arg-type]


def resnet18(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (He et al. 2015, Table 1); same parameters and names as torchvision's."""
    return _imagenet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, residual=residual,
                     zero_init_residual=zero_init_residual)


def resnet34(*, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (He et al. 2015, Table 1)."""
    return _imagenet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, residual=residual,
                     zero_init_residual=zero_init_residual)


def resnet50(
    *, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False, variant: Variant = "v1.5"
) -> ResNet:
    """ResNet-50; ``variant="v1"`` puts the stride on the first 1x1 as in the paper."""
    return _imagenet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, residual=residual,
                     zero_init_residual=zero_init_residual, variant=variant)


def resnet101(
    *, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False, variant: Variant = "v1.5"
) -> ResNet:
    """ResNet-101 (He et al. 2015, Table 1)."""
    return _imagenet(Bottleneck, [3, 4, 23, 3], num_classes=num_classes, residual=residual,
                     zero_init_residual=zero_init_residual, variant=variant)


def resnet152(
    *, num_classes: int = 1000, residual: bool = True, zero_init_residual: bool = False, variant: Variant = "v1.5"
) -> ResNet:
    """ResNet-152 (He et al. 2015, Table 1)."""
    return _imagenet(Bottleneck, [3, 8, 36, 3], num_classes=num_classes, residual=residual,
                     zero_init_residual=zero_init_residual, variant=variant)


_CIFAR_NAMED = (20, 32, 44, 56, 110, 1202)
MODEL_NAMES: tuple[str, ...] = (
    *(f"resnet{d}" for d in _CIFAR_NAMED),
    *(f"plain{d}" for d in _CIFAR_NAMED),
    *(f"preact_resnet{d}" for d in _CIFAR_NAMED),
    "cifar_resnet18",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
)
"""Names accepted by :func:`build_model`. ``resnet20``... are the CIFAR nets of the paper; the
ImageNet ResNet-18 is ``resnet18`` and the CIFAR-style one is ``cifar_resnet18``."""

_IMAGENET_BUILDERS: dict[str, Callable[..., ResNet]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
}


def build_model(name: str, num_classes: int = 10, **kwargs: object) -> nn.Module:
    """Build a model by name (see :data:`MODEL_NAMES`); ``kwargs`` go to the builder."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    if name == "cifar_resnet18":
        return cifar_resnet18(num_classes, **kwargs)  # type: ignore[arg-type]
    if name in _IMAGENET_BUILDERS:
        return _IMAGENET_BUILDERS[name](num_classes=num_classes, **kwargs)
    for prefix, extra in (("preact_resnet", {"preact": True}), ("plain", {"residual": False}), ("resnet", {})):
        if name.startswith(prefix):
            return cifar_resnet(int(name[len(prefix):]), num_classes=num_classes, **extra, **kwargs)  # type: ignore[arg-type]
    raise AssertionError("unreachable")  # pragma: no cover


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All blocks of a model in forward order, as ``(qualified_name, block)`` pairs."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (BasicBlock, Bottleneck, PreActBlock))]
