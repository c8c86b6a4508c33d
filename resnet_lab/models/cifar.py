"""The CIFAR-10 family of He et al. (2015), section 4.2: depth ``6n + 2``, three stages on 32, 16, 8 pixels.

This module holds the family's facts once: the 6n+2 rule (:func:`validate_cifar_depth`), the depths
of the paper's Table 6 (:data:`PAPER_CIFAR_DEPTHS`) and the network (:class:`CifarResNet`), which
also serves the pre-activation variant (He et al. 2016) and, with wider stages and dropout, the
Wide ResNets of :mod:`resnet_lab.models.variants`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .blocks import BasicBlock, PreActBlock, PreactShortcutInput, conv3x3, init_weights, make_stage, validate_init
from .validation import Shortcut, validate_positive_int, validate_shortcut

__all__ = [
    "PAPER_CIFAR_DEPTHS",
    "PAPER_TABLE6_ERRORS",
    "validate_cifar_depth",
    "cifar_depths",
    "CifarResNet",
    "cifar_resnet",
]

PAPER_CIFAR_DEPTHS: tuple[int, ...] = (20, 32, 44, 56, 110, 1202)
# The paper's Table 6: CIFAR-10 test error (%) of each depth, trained on all 50k training images
# (110: the best of 5 runs; their mean was 6.61 +- 0.16). Shown next to our numbers, labelled the paper's.
PAPER_TABLE6_ERRORS: dict[int, float] = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
"""The depths of the paper's CIFAR-10 table (He et al. 2015, Table 6)."""


def validate_cifar_depth(depth: int) -> int:
    """The 6n+2 rule: return ``n`` (blocks per stage) for ``depth = 6n + 2``, n >= 1, else ValueError.

    ``depth`` counts the layers with weights: the stem convolution, two 3x3 convolutions in each
    of the ``3n`` blocks, and the classifier.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"a CIFAR ResNet has depth 6n+2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, 110, 1202, ...), got {depth!r}"
        )
    return (depth - 2) // 6


def cifar_depths(max_depth: int = 1202) -> list[int]:
    """The valid CIFAR ResNet depths 6n+2 up to ``max_depth``: 8, 14, 20, 26, ..."""
    return list(range(8, max_depth + 1, 6))


class CifarResNet(nn.Module):
    """The CIFAR-10 networks of He et al. (2015), section 4.2 (always built for ``num_classes``, default 10).

    A 3x3 stem, three stages of ``n`` blocks with ``width``, ``2*width`` and ``4*width`` channels on
    32x32, 16x16 and 8x8 maps, global average pooling and a linear classifier: ``6n + 2`` layers
    with weights. With ``preact=True`` the blocks are pre-activation blocks (He et al. 2016);
    ``preact_shortcut`` then says what their projection shortcuts read (see :class:`PreActBlock`).
    ``stage_widths`` (default ``(width, 2*width, 4*width)``), ``dropout`` and ``projection_norm``
    exist for the Wide ResNets, whose stages are wider than the stem.
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
        in_channels: int = 3,
        preact_shortcut: PreactShortcutInput = "preactivated",
        stage_widths: Sequence[int] | None = None,
        dropout: float = 0.0,
        projection_norm: bool = True,
    ) -> None:
        super().__init__()
        validate_positive_int("n (blocks per stage)", n)
        validate_positive_int("width", width)
        validate_positive_int("num_classes", num_classes)
        validate_positive_int("in_channels", in_channels)
        validate_shortcut(shortcut)
        validate_init(residual, zero_init_residual, init_mode)
        widths = tuple(stage_widths) if stage_widths is not None else (width, 2 * width, 4 * width)
        if len(widths) != 3:
            raise ValueError(f"stage_widths must give the channels of the 3 stages, got {widths}")
        for w in widths:
            validate_positive_int("stage width", w)
        if dropout and not preact:
            raise ValueError("dropout is only offered for pre-activation blocks (preact=True), as in Wide ResNets")
        self.n = n
        self.residual = residual
        self.shortcut_type = shortcut
        self.preact = preact
        self.conv1 = conv3x3(in_channels, width)
        # A pre-activation net applies BN-ReLU at the start of every block instead of after the stem.
        self.bn1: nn.Module = nn.Identity() if preact else nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        extra: dict[str, object] = {"shortcut_input": preact_shortcut, "dropout": dropout} if preact else {}
        stages, inplanes = [], width
        for planes, stride in zip(widths, (1, 2, 2)):
            stages.append(make_stage(
                PreActBlock if preact else BasicBlock, inplanes, planes, n, stride, shortcut=shortcut,
                residual=residual, projection_norm=nn.BatchNorm2d if projection_norm else None, **extra,
            ))
            inplanes = planes
        self.layer1, self.layer2, self.layer3 = stages
        # A pre-activation net ends its last block without BN-ReLU, so one is added here.
        self.final_bn: nn.Module = nn.BatchNorm2d(inplanes) if preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        init_weights(self, zero_init_residual, init_mode)

    def features(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if not self.preact:
            x = self.relu(self.bn1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        if self.preact:
            x = self.relu(self.final_bn(x))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


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
    in_channels: int = 3,
    preact_shortcut: PreactShortcutInput = "preactivated",
) -> CifarResNet:
    """The paper's CIFAR ResNet (``residual=True``) or plain net (``residual=False``) of ``depth`` layers.

    ``depth`` must be ``6n + 2`` with n >= 1: 8, 14, 20, 26, 32, 44, 56, 110, 1202, ...
    """
    return CifarResNet(
        validate_cifar_depth(depth), residual=residual, shortcut=shortcut, width=width, num_classes=num_classes,
        zero_init_residual=zero_init_residual, preact=preact, init_mode=init_mode, in_channels=in_channels,
        preact_shortcut=preact_shortcut,
    )
