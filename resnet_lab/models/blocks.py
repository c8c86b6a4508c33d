"""The building blocks: convolutions, the shortcut rule, and the three residual blocks.

Layout and attribute names follow torchvision's ``models/resnet.py`` (``conv1``, ``bn1``,
``downsample`` ...), so state_dicts load both ways. What a lesson adds:

* every block has a ``residual`` switch. With ``residual=False`` the block is the *plain*
  counterpart of the paper: the same layers in the same order, only the ``+ identity`` is gone.
* :func:`make_shortcut` is THE rule for the shortcut: the identity where the shape stays, else the
  paper's option A (parameter-free) or B (1x1 projection + norm). Every network here, and the
  closed-form arithmetic of lesson 03, builds its shortcuts through it.
* :class:`ResidualBlock` writes the residual sum once: ``post(F(x) + shortcut(x))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from .validation import Shortcut, validate_init_mode, validate_positive_int, validate_shortcut

__all__ = [
    "conv3x3",
    "conv1x1",
    "ShortcutA",
    "changes_shape",
    "make_shortcut",
    "ResidualBlock",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "PREACT_SHORTCUT_INPUTS",
    "make_stage",
    "init_weights",
    "residual_blocks",
]

NormLayer = Callable[..., nn.Module]
PreactShortcutInput = Literal["preactivated", "raw"]
PREACT_SHORTCUT_INPUTS: tuple[str, ...] = ("preactivated", "raw")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding and no bias (a BatchNorm follows, its shift makes a bias redundant)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ShortcutA(nn.Module):
    """The paper's option A: a parameter-free shortcut for a change of shape.

    Spatial size is reduced by taking every ``stride``-th pixel and the extra channels are
    zeros, so the shortcut adds no parameter (He et al. 2015, section 3.3, option A).
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"option A can only add channels, got {in_planes} -> {out_planes}; use shortcut='B'")
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


def changes_shape(inplanes: int, out_planes: int, stride: int) -> bool:
    """True where a block's output shape differs from its input's, i.e. where the shortcut cannot be the identity."""
    return stride != 1 or inplanes != out_planes


def make_shortcut(
    inplanes: int,
    out_planes: int,
    stride: int = 1,
    option: Shortcut = "B",
    *,
    norm_layer: NormLayer | None = nn.BatchNorm2d,
) -> nn.Module | None:
    """THE shortcut rule: ``None`` (the identity) where the shape stays, else option A or B.

    Option A is :class:`ShortcutA`; option B is a strided 1x1 projection followed by
    ``norm_layer`` (``None``: the projection alone, as in pre-activation and Wide ResNets, whose
    block input is already normalized). The projection always sits at index 0 of an
    ``nn.Sequential`` so the parameter names (``downsample.0.weight``) match torchvision's.
    """
    validate_shortcut(option)
    validate_positive_int("stride", stride)
    if not changes_shape(inplanes, out_planes, stride):
        return None
    if option == "A":
        return ShortcutA(inplanes, out_planes, stride)
    projection = conv1x1(inplanes, out_planes, stride)
    if norm_layer is None:
        return nn.Sequential(projection)
    return nn.Sequential(projection, norm_layer(out_planes))


class ResidualBlock(nn.Module):
    """What every block shares: ``forward(x) = post(F(x) + shortcut(x))``, written once.

    A subclass defines :meth:`transform` (the layers of the residual branch after the optional
    pre-activation), and may override :meth:`preactivate` (BN-ReLU before the branch, for a
    pre-activation block) and :meth:`post` (the ReLU after the sum, for the original blocks).
    :meth:`branch` and :meth:`shortcut` expose the two paths for the lessons' probes; their sum,
    passed through :meth:`post`, is exactly :meth:`forward`.
    """

    downsample: nn.Module | None
    residual: bool
    # True where a projection shortcut reads the pre-activated input (see PreActBlock).
    shortcut_preactivated: bool = False

    def preactivate(self, x: Tensor) -> Tensor:
        """What the branch reads: ``x`` itself, or BN-ReLU of ``x`` in a pre-activation block."""
        return x

    def transform(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def post(self, out: Tensor) -> Tensor:
        """What follows the addition (the ReLU of the original blocks; nothing after pre-activation)."""
        return out

    def branch(self, x: Tensor) -> Tensor:
        """The residual function F(x): everything but the shortcut and :meth:`post`."""
        return self.transform(self.preactivate(x))

    def shortcut(self, x: Tensor) -> Tensor:
        """The identity (or projection) path that the branch is added to."""
        if self.downsample is None:
            return x
        return self.downsample(self.preactivate(x) if self.shortcut_preactivated else x)

    def forward(self, x: Tensor) -> Tensor:
        h = self.preactivate(x)  # computed once: the branch and a pre-activated shortcut share it
        identity = x
        out = self.transform(h)
        if self.residual:
            if self.downsample is not None:
                identity = self.downsample(h if self.shortcut_preactivated else x)
            out += identity  # the one line that makes the block residual
        return self.post(out)

    def zero_init_last_(self) -> None:  # pragma: no cover - abstract
        """Zero the last scale of the branch so that the block starts as its shortcut (Goyal et al. 2017)."""
        raise NotImplementedError


def _only_plain_conv(name: str, groups: int, base_width: int, dilation: int) -> None:
    if groups != 1 or base_width != 64:
        raise ValueError(f"{name} only supports groups=1 and base_width=64 (use Bottleneck for grouped convolutions)")
    if dilation > 1:
        raise ValueError(f"{name} does not support dilation > 1")


class BasicBlock(ResidualBlock):
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
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        _only_plain_conv("BasicBlock", groups, base_width, dilation)
        # The stride sits on the first convolution: it is the one that downsamples.
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def transform(self, h: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(h)))
        return self.bn2(self.conv2(out))

    def post(self, out: Tensor) -> Tensor:
        return self.relu(out)

    def zero_init_last_(self) -> None:
        if self.bn2.weight is not None:
            nn.init.zeros_(self.bn2.weight)


class Bottleneck(ResidualBlock):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand by ``expansion`` = 4), plus the shortcut.

    The inner width is ``int(planes * base_width / 64) * groups``: ``planes`` for a ResNet, wider
    and grouped for ResNeXt (``groups`` = cardinality) and Wide ResNet-50/101 (``base_width=128``).
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
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        validate_positive_int("groups", groups)
        validate_positive_int("base_width", base_width)
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

    def transform(self, h: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(h)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def post(self, out: Tensor) -> Tensor:
        return self.relu(out)

    def zero_init_last_(self) -> None:
        if self.bn3.weight is not None:
            nn.init.zeros_(self.bn3.weight)


class PreActBlock(ResidualBlock):
    """Pre-activation basic block (He et al. 2016, "Identity Mappings in Deep Residual Networks").

    BN and ReLU come *before* each convolution and nothing follows the addition, so the
    shortcut is a clean identity from block to block: ``x_{l+1} = x_l + F(x_l)``.

    ``shortcut_input`` says what a projection shortcut (only the first block of a stage has one)
    reads: ``"preactivated"`` (default) feeds it BN-ReLU of the input, shared with the branch, as
    the authors' reference code does (fb.resnet.torch ``preresnet.lua``, and Wide ResNets);
    ``"raw"`` feeds it the block input itself. An identity shortcut always carries the raw input.
    ``dropout`` (Wide ResNets) drops activations between the two convolutions.
    """

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
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
        shortcut_input: PreactShortcutInput = "preactivated",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        _only_plain_conv("PreActBlock", groups, base_width, dilation)
        if shortcut_input not in PREACT_SHORTCUT_INPUTS:
            raise ValueError(f"shortcut_input must be one of {PREACT_SHORTCUT_INPUTS}, got {shortcut_input!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=False)  # its input x is also the identity: never overwrite it
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual
        self.shortcut_input = shortcut_input
        self.shortcut_preactivated = shortcut_input == "preactivated"

    def preactivate(self, x: Tensor) -> Tensor:
        return self.relu(self.bn1(x))

    def transform(self, h: Tensor) -> Tensor:
        out = self.conv1(h)
        out = self.dropout(self.relu(self.bn2(out)))
        return self.conv2(out)

    def zero_init_last_(self) -> None:
        nn.init.zeros_(self.conv2.weight)


BlockType = type[BasicBlock] | type[Bottleneck] | type[PreActBlock]


def make_stage(
    block: BlockType,
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int = 1,
    *,
    shortcut: Shortcut = "B",
    residual: bool = True,
    projection_norm: NormLayer | None = nn.BatchNorm2d,
    norm_layer: NormLayer | None = None,
    **block_kwargs: object,
) -> nn.Sequential:
    """One stage (torchvision's ``_make_layer``): ``blocks`` blocks, the first one strided.

    The first block gets the shortcut of :func:`make_shortcut` (a plain net gets none at all);
    the others keep the shape and add the identity. ``block_kwargs`` go to every block.
    """
    validate_positive_int("blocks per stage", blocks)
    out_planes = planes * block.expansion
    downsample = make_shortcut(inplanes, out_planes, stride, shortcut, norm_layer=projection_norm) if residual else None
    layers: list[nn.Module] = [
        block(inplanes, planes, stride, downsample, norm_layer=norm_layer, residual=residual, **block_kwargs)  # type: ignore[arg-type]
    ]
    for _ in range(1, blocks):
        layers.append(block(out_planes, planes, norm_layer=norm_layer, residual=residual, **block_kwargs))  # type: ignore[arg-type]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, zero_init_residual: bool = False, init_mode: str = "fan_out") -> None:
    """He (Kaiming) normal initialization of every convolution, norm layers to (1, 0), linear as PyTorch.

    ``zero_init_residual`` zeroes the last scale of each residual branch, so each block starts as
    its shortcut (Goyal et al. 2017); it is meaningless for a plain net.
    """
    validate_init_mode(init_mode)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=init_mode, nonlinearity="relu")  # type: ignore[arg-type]
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, ResidualBlock):
                m.zero_init_last_()


def validate_init(residual: bool, zero_init_residual: bool, init_mode: str) -> None:
    """ValueError for an init that makes no sense: zero-init in a plain net, or an unknown Kaiming mode."""
    if zero_init_residual and not residual:
        raise ValueError(
            "zero_init_residual=True zeroes the last BN of every block; in a plain net "
            "(residual=False) that makes every block output zero. Use it only with residual=True."
        )
    validate_init_mode(init_mode)


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All blocks of a model in forward order, as ``(qualified_name, block)`` pairs."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, ResidualBlock)]
