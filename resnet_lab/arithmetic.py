"""Closed-form parameter and FLOP counts of residual blocks and networks (lesson 03).

Conventions, stated once and used everywhere in this module:

* **Parameters** are what ``sum(p.numel() for p in model.parameters())`` counts: convolution and
  linear weights (and biases, where a layer has one) and the BatchNorm scale and shift (2C per
  BN). BatchNorm's running mean and variance (2C) and its step counter (1) are *buffers*, not
  parameters; they are counted separately as ``buffers``.
* **MACs** (multiply-accumulates, "multiply-adds") of the layers that have weights: convolutions
  and the fully connected classifier. BatchNorm, ReLU, pooling, the shortcut additions and the
  biases are not counted. This is what the paper's "FLOPs" in Table 1 count ("multiply-adds",
  He et al. 2015, section 3.3), and exactly what PyTorch's
  :class:`torch.utils.flop_counter.FlopCounterMode` counts, except that it reports
  **FLOPs = 2 x MACs** (one multiply plus one add). :func:`measure_macs` divides by two.
* A convolution costs ``H_out * W_out * C_out * (C_in / groups) * k_h * k_w`` MACs: every output
  value is a dot product over its receptive field, padded zeros included.

Every closed form here has a PyTorch counterpart that ``tests/test_arithmetic.py`` compares it with:
``count_parameters`` of the built module, ``FlopCounterMode`` for MACs and torchvision's models for
the ImageNet networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from . import models
from .models import Shortcut, Variant, check_positive_int, check_shortcut, check_variant
from .exercises.core import CheckResult, check_choice

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "LayerCost",
    "Cost",
    "MeasuredMacs",
    "Agreement",
    "compare_with_pytorch",
    "stage_of",
    "conv_output_size",
    "conv2d_params",
    "conv2d_macs",
    "conv2d_cost",
    "batchnorm_params",
    "batchnorm_buffers",
    "batchnorm_cost",
    "linear_params",
    "linear_macs",
    "linear_cost",
    "basic_block_cost",
    "bottleneck_cost",
    "make_block",
    "IMAGENET_NAMES",
    "IMAGENET_CONFIGS",
    "CIFAR_PAPER_DEPTHS",
    "imagenet_resnet_cost",
    "cifar_resnet_cost",
    "build_imagenet",
    "build_torchvision",
    "build_cifar",
    "measure_macs",
    "PAPER_TABLE1_FLOPS",
    "PAPER_TABLE6_PARAMS",
    "imagenet_rows",
    "cifar_rows",
    "format_table",
    "variant_differences",
    "plot_stage_macs",
    "check_resnet34_params",
    "check_stem_macs",
    "check_v15_extra_macs",
    "check_costliest_stage",
]

ShortcutOption = Shortcut  # the paper's options, as in resnet_lab.models


# --- small validators -------------------------------------------------------------------------
def _non_negative(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (0, 1, 2, ...), got {value!r}")


# --- the cost of a layer and of a set of layers -------------------------------------------------
@dataclass(frozen=True)
class LayerCost:
    """One layer: its qualified module name (as in ``model.named_modules()``) and what it costs."""

    name: str
    kind: str  # "conv", "bn" or "linear"
    params: int
    macs: int
    buffers: int
    out_shape: tuple[int, ...]  # (C, H, W) after a conv or BN, (features,) after a linear layer

    def renamed(self, prefix: str) -> LayerCost:
        """The same layer under ``prefix.name`` (used when a block sits inside a network)."""
        name = f"{prefix}.{self.name}" if prefix else self.name
        return LayerCost(name, self.kind, self.params, self.macs, self.buffers, self.out_shape)


def stage_of(name: str) -> str:
    """The stage a layer belongs to: ``stem`` (first conv and BN), ``layer1``... or ``head`` (fc)."""
    top = name.split(".", 1)[0]
    if top in ("conv1", "bn1"):
        return "stem"
    if top == "fc":
        return "head"
    return top


@dataclass(frozen=True)
class Cost:
    """The layers of a block or network; totals are sums over them."""

    layers: tuple[LayerCost, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def buffers(self) -> int:
        return sum(layer.buffers for layer in self.layers)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape (C, H, W) of the block's output (the last layer of the residual branch)."""
        branch = [layer for layer in self.layers if ".downsample." not in f".{layer.name}"]
        return branch[-1].out_shape

    def __iter__(self) -> Iterator[LayerCost]:
        return iter(self.layers)

    def __getitem__(self, name: str) -> LayerCost:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: {', '.join(layer.name for layer in self.layers)}")

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.layers + other.layers)

    def renamed(self, prefix: str) -> Cost:
        return Cost(tuple(layer.renamed(prefix) for layer in self.layers))

    def by_stage(self) -> dict[str, tuple[int, int]]:
        """``{stage: (params, MACs)}`` in network order: stem, layer1..layer4 (or layer3), head."""
        out: dict[str, tuple[int, int]] = {}
        for layer in self.layers:
            stage = stage_of(layer.name)
            params, macs = out.get(stage, (0, 0))
            out[stage] = (params + layer.params, macs + layer.macs)
        return out

    def weight_layers(self) -> list[LayerCost]:
        """The layers that have MACs: convolutions and linear layers."""
        return [layer for layer in self.layers if layer.kind in ("conv", "linear")]


# --- Conv2d, BatchNorm, Linear ----------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis:
    ``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``."""
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        check_positive_int(name, value)
    _non_negative("padding", padding)
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"input size {size} is too small for kernel {kernel}, padding {padding}, dilation {dilation}: "
            "the output would be empty"
        )
    return out


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    check_positive_int("in_channels", c_in)
    check_positive_int("out_channels", c_out)
    check_positive_int("groups", groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both in_channels={c_in} and out_channels={c_out}")


def conv2d_params(c_in: int, c_out: int, kernel: int, groups: int = 1, bias: bool = False) -> int:
    """``k*k*C_in*C_out/groups`` weights, plus ``C_out`` biases if ``bias``."""
    _check_groups(c_in, c_out, groups)
    check_positive_int("kernel", kernel)
    return kernel * kernel * (c_in // groups) * c_out + (c_out if bias else 0)


def conv2d_macs(c_in: int, c_out: int, kernel: int, out_h: int, out_w: int | None = None, groups: int = 1) -> int:
    """``H_out*W_out * C_out * (C_in/groups) * k*k``: one k*k*(C_in/groups) dot product per output value."""
    _check_groups(c_in, c_out, groups)
    check_positive_int("kernel", kernel)
    out_w = out_h if out_w is None else out_w
    check_positive_int("out_h", out_h)
    check_positive_int("out_w", out_w)
    return out_h * out_w * c_out * (c_in // groups) * kernel * kernel


def conv2d_cost(
    name: str,
    c_in: int,
    c_out: int,
    kernel: int,
    in_size: int,
    *,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
) -> LayerCost:
    """Parameters and MACs of ``nn.Conv2d`` on a square ``in_size x in_size`` input."""
    out = conv_output_size(in_size, kernel, stride, padding, dilation)
    return LayerCost(
        name, "conv", conv2d_params(c_in, c_out, kernel, groups, bias),
        conv2d_macs(c_in, c_out, kernel, out, out, groups), 0, (c_out, out, out),
    )


def batchnorm_params(channels: int) -> int:
    """A BatchNorm learns a scale and a shift per channel: ``2C`` parameters."""
    check_positive_int("channels", channels)
    return 2 * channels


def batchnorm_buffers(channels: int) -> int:
    """Running mean and variance (``2C``) plus the ``num_batches_tracked`` counter (1): buffers, not parameters."""
    check_positive_int("channels", channels)
    return 2 * channels + 1


def batchnorm_cost(name: str, channels: int, size: int) -> LayerCost:
    """A BatchNorm2d: ``2C`` parameters, ``2C + 1`` buffers and, by our convention, no MACs."""
    return LayerCost(name, "bn", batchnorm_params(channels), 0, batchnorm_buffers(channels), (channels, size, size))


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """``in*out`` weights plus ``out`` biases."""
    check_positive_int("in_features", in_features)
    check_positive_int("out_features", out_features)
    return in_features * out_features + (out_features if bias else 0)


def linear_macs(in_features: int, out_features: int) -> int:
    """One multiply-add per weight for one input vector."""
    check_positive_int("in_features", in_features)
    check_positive_int("out_features", out_features)
    return in_features * out_features


def linear_cost(name: str, in_features: int, out_features: int, bias: bool = True) -> LayerCost:
    return LayerCost(name, "linear", linear_params(in_features, out_features, bias),
                     linear_macs(in_features, out_features), 0, (out_features,))


# --- blocks -------------------------------------------------------------------------------------
def _shortcut_cost(inplanes: int, out_planes: int, in_size: int, stride: int, shortcut: str) -> tuple[LayerCost, ...]:
    """Option B (1x1 projection + BN) where the shape changes; option A and the identity are free."""
    if stride == 1 and inplanes == out_planes:
        return ()
    if shortcut == "A":
        if out_planes < inplanes:
            raise ValueError(f"option A can only add channels, got {inplanes} -> {out_planes}; use shortcut='B'")
        return ()
    proj = conv2d_cost("downsample.0", inplanes, out_planes, 1, in_size, stride=stride)
    return proj, batchnorm_cost("downsample.1", out_planes, proj.out_shape[1])


def basic_block_cost(
    inplanes: int, planes: int, in_size: int, stride: int = 1, *, shortcut: ShortcutOption = "B", prefix: str = ""
) -> Cost:
    """A BasicBlock: 3x3 conv (stride here) - BN - ReLU - 3x3 conv - BN, plus the shortcut.

    ``shortcut`` is the option used where the shape changes (A: free, B: 1x1 projection + BN);
    where it does not, the shortcut is the identity and costs nothing.
    """
    check_shortcut(shortcut)
    check_positive_int("stride", stride)
    c1 = conv2d_cost("conv1", inplanes, planes, 3, in_size, stride=stride, padding=1)
    size = c1.out_shape[1]
    c2 = conv2d_cost("conv2", planes, planes, 3, size, padding=1)
    layers = (c1, batchnorm_cost("bn1", planes, size), c2, batchnorm_cost("bn2", planes, size))
    return Cost(layers + _shortcut_cost(inplanes, planes, in_size, stride, shortcut)).renamed(prefix)


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
    shortcut: ShortcutOption = "B",
    prefix: str = "",
) -> Cost:
    """A Bottleneck: 1x1 reduce - 3x3 - 1x1 expand (each followed by BN), plus the shortcut.

    The inner width is ``int(planes * base_width / 64) * groups`` (64 and 1 give ``planes``), the
    output has ``planes * expansion`` channels. ``stride_in_1x1`` puts the stride on the first 1x1
    (the paper, "v1") instead of the 3x3 (torchvision, "v1.5").
    """
    check_shortcut(shortcut)
    check_positive_int("stride", stride)
    check_positive_int("expansion", expansion)
    check_positive_int("base_width", base_width)
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
    return Cost(layers + _shortcut_cost(inplanes, out_planes, in_size, stride, shortcut)).renamed(prefix)


def make_block(
    kind: Literal["basic", "bottleneck"],
    inplanes: int,
    planes: int,
    stride: int = 1,
    *,
    expansion: int = 4,
    groups: int = 1,
    base_width: int = 64,
    stride_in_1x1: bool = False,
    shortcut: ShortcutOption = "B",
) -> nn.Module:
    """The PyTorch block (from :mod:`resnet_lab.models`) that :func:`basic_block_cost` or
    :func:`bottleneck_cost` describes, with the same shortcut rule; for checking the formulas."""
    if kind not in ("basic", "bottleneck"):
        raise ValueError(f"kind must be one of ('basic', 'bottleneck'), got {kind!r}")
    check_shortcut(shortcut)
    cls: type[models.BasicBlock] | type[models.Bottleneck]
    if kind == "basic":
        cls = models.BasicBlock
    else:
        check_positive_int("expansion", expansion)
        # models.Bottleneck reads its class attribute ``expansion``; a subclass changes it.
        cls = models.Bottleneck if expansion == 4 else type("Bottleneck", (models.Bottleneck,), {"expansion": expansion})
    out_planes = planes * cls.expansion
    downsample: nn.Module | None = None
    if stride != 1 or inplanes != out_planes:
        if shortcut == "A":
            downsample = models.ShortcutA(inplanes, out_planes, stride)
        else:
            downsample = nn.Sequential(models.conv1x1(inplanes, out_planes, stride), nn.BatchNorm2d(out_planes))
    if kind == "basic":
        return models.BasicBlock(inplanes, planes, stride, downsample)
    return cls(inplanes, planes, stride, downsample, groups=groups, base_width=base_width,  # type: ignore[call-arg]
               stride_in_1x1=stride_in_1x1)


# --- networks -----------------------------------------------------------------------------------
IMAGENET_CONFIGS: dict[str, tuple[Literal["basic", "bottleneck"], tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
"""Block type and blocks per stage of the ImageNet family (He et al. 2015, Table 1)."""
IMAGENET_NAMES: tuple[str, ...] = tuple(IMAGENET_CONFIGS)
CIFAR_PAPER_DEPTHS: tuple[int, ...] = (20, 32, 44, 56, 110, 1202)
"""The depths of the paper's CIFAR-10 table (He et al. 2015, Table 6)."""


def _check_imagenet_name(name: str) -> None:
    if name not in IMAGENET_CONFIGS:
        raise ValueError(f"unknown ImageNet ResNet {name!r}; valid names: {', '.join(IMAGENET_NAMES)}")


def imagenet_resnet_cost(
    name: str, *, variant: Variant = "v1.5", input_size: int = 224, num_classes: int = 1000
) -> Cost:
    """Every layer of an ImageNet ResNet (``resnet18`` ... ``resnet152``) at ``input_size`` pixels.

    Stem: 7x7 conv, stride 2 (224 -> 112), BN, 3x3 max-pool, stride 2 (112 -> 56). Four stages of
    64, 128, 256, 512 ``planes``; stages 2-4 halve the size in their first block, whose shortcut
    is a projection (option B) like every shortcut that changes shape. Then global average pooling
    and a ``num_classes``-way fully connected layer. ``variant`` only matters for bottleneck nets.
    """
    _check_imagenet_name(name)
    check_variant(variant)
    check_positive_int("input_size", input_size)
    check_positive_int("num_classes", num_classes)
    kind, blocks = IMAGENET_CONFIGS[name]
    stem = conv2d_cost("conv1", 3, 64, 7, input_size, stride=2, padding=3)
    size = stem.out_shape[1]
    layers: list[LayerCost] = [stem, batchnorm_cost("bn1", 64, size)]
    size = conv_output_size(size, 3, stride=2, padding=1)  # the max-pool: no parameters, no MACs
    inplanes = 64
    expansion = 1 if kind == "basic" else 4
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for index in range(count):
            stride = 2 if stage > 1 and index == 0 else 1
            prefix = f"layer{stage}.{index}"
            if kind == "basic":
                cost = basic_block_cost(inplanes, planes, size, stride, shortcut="B", prefix=prefix)
            else:
                cost = bottleneck_cost(inplanes, planes, size, stride, stride_in_1x1=variant == "v1",
                                       shortcut="B", prefix=prefix)
            layers.extend(cost.layers)
            inplanes, size = planes * expansion, cost.out_shape[1]
    layers.append(linear_cost("fc", inplanes, num_classes))
    return Cost(tuple(layers))


def cifar_resnet_cost(
    depth: int, *, shortcut: ShortcutOption = "A", width: int = 16, num_classes: int = 10, input_size: int = 32
) -> Cost:
    """Every layer of the paper's CIFAR ResNet of ``depth = 6n + 2`` layers (section 4.2).

    3x3 stem conv and BN; three stages of ``n`` BasicBlocks with ``width``, ``2*width``,
    ``4*width`` channels on 32, 16, 8 pixels; global average pooling; a linear classifier.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"a CIFAR ResNet has depth 6n+2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, 110, 1202, ...), got {depth!r}"
        )
    check_shortcut(shortcut)
    check_positive_int("width", width)
    check_positive_int("num_classes", num_classes)
    n = (depth - 2) // 6
    stem = conv2d_cost("conv1", 3, width, 3, input_size, padding=1)
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
    """Our ``resnet_lab.models`` ImageNet ResNet, built on ``device`` (``meta``: shapes only, instant)."""
    _check_imagenet_name(name)
    check_variant(variant)
    builder = getattr(models, name)
    if IMAGENET_CONFIGS[name][0] == "bottleneck":
        return _on(device, lambda: builder(variant=variant))
    return _on(device, builder)


def build_torchvision(name: str, *, device: torch.device | str = "meta") -> nn.Module:
    """torchvision's ResNet of the same name (no weights, nothing downloaded); it is "v1.5"."""
    _check_imagenet_name(name)
    import torchvision

    return _on(device, lambda: getattr(torchvision.models, name)(weights=None))


def build_cifar(depth: int, *, shortcut: ShortcutOption = "A", device: torch.device | str = "meta") -> nn.Module:
    """The paper's CIFAR ResNet from ``resnet_lab.models``, built on ``device``."""
    return _on(device, lambda: models.cifar_resnet(depth, shortcut=shortcut))


# --- PyTorch's count ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasuredMacs:
    """MACs counted by ``FlopCounterMode`` during one forward pass of a batch of one image."""

    total: int
    by_module: dict[str, int]  # qualified module name ("" for the model itself) -> MACs inside it


def measure_macs(model: nn.Module, input_size: int, in_channels: int = 3) -> MeasuredMacs:
    """Count the MACs of one forward pass with ``torch.utils.flop_counter.FlopCounterMode``.

    The input lives on the model's device. On the ``meta`` device nothing is computed, only
    shapes are propagated, so even ResNet-152 at 224x224 takes a fraction of a second; the count
    is the same as on the CPU (the counter reads shapes only). FlopCounterMode reports FLOPs
    = 2 x MACs for convolutions and matrix products; this function returns MACs. The model is run
    in eval mode (so BatchNorm accepts a single image) and then put back in its previous mode.
    """
    from torch.utils.flop_counter import FlopCounterMode

    check_positive_int("input_size", input_size)
    check_positive_int("in_channels", in_channels)
    tensor = next(iter(model.parameters()), None)
    device = tensor.device if tensor is not None else torch.device("cpu")
    x = torch.zeros(1, in_channels, input_size, input_size, device=device)
    was_training = model.training
    counter = FlopCounterMode(display=False, depth=None)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    root = type(model).__name__
    by_module: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        if key == "Global":
            continue
        name = "" if key == root else key.removeprefix(root + ".")
        by_module[name] = _to_macs(sum(ops.values()))
    return MeasuredMacs(_to_macs(counter.get_total_flops()), by_module)


@dataclass(frozen=True)
class Agreement:
    """A formula's counts next to PyTorch's for one block or network."""

    params_formula: int
    params_pytorch: int
    macs_formula: int
    macs_pytorch: int | None  # None when MACs were not measured
    mismatched_layers: tuple[str, ...]  # layers whose parameters, buffers or MACs differ
    measured: MeasuredMacs | None = None  # FlopCounterMode's per-module count, when measured

    @property
    def ok(self) -> bool:
        macs_ok = self.macs_pytorch is None or self.macs_pytorch == self.macs_formula
        return self.params_formula == self.params_pytorch and macs_ok and not self.mismatched_layers


def compare_with_pytorch(
    cost: Cost, model: nn.Module, input_size: int, *, in_channels: int = 3, count_macs: bool = True
) -> Agreement:
    """Check ``cost`` against ``model`` layer by layer: parameters and buffers of each module with
    the layer's name, MACs of each conv/linear module measured by :func:`measure_macs`."""
    modules = dict(model.named_modules())
    measured = measure_macs(model, input_size, in_channels) if count_macs else None
    bad: list[str] = []
    for layer in cost:
        module = modules.get(layer.name)
        if module is None:
            bad.append(layer.name)
            continue
        params = sum(p.numel() for p in module.parameters())
        buffers = sum(b.numel() for b in module.buffers())
        macs_ok = measured is None or measured.by_module.get(layer.name, 0) == layer.macs
        if params != layer.params or buffers != layer.buffers or not macs_ok:
            bad.append(layer.name)
    return Agreement(cost.params, models.count_parameters(model), cost.macs,
                     measured.total if measured is not None else None, tuple(bad), measured)


def _to_macs(flops: int) -> int:
    if flops % 2:
        raise ValueError(f"FlopCounterMode reported an odd FLOP count {flops}; expected 2 per multiply-add")
    return flops // 2


# --- the paper's figures (facts quoted from the paper, not computed) ------------------------------
# He, Zhang, Ren, Sun (2015), "Deep Residual Learning for Image Recognition", arXiv:1512.03385,
# Table 1, last row "FLOPs" (multiply-adds at 224x224): 1.8, 3.6, 3.8, 7.6, 11.3 x 10^9.
PAPER_TABLE1_FLOPS: dict[str, float] = {
    "resnet18": 1.8e9,
    "resnet34": 3.6e9,
    "resnet50": 3.8e9,
    "resnet101": 7.6e9,
    "resnet152": 11.3e9,
}
# Same paper, Table 6 (CIFAR-10), column "# params": 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M.
PAPER_TABLE6_PARAMS: dict[int, float] = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}


# --- tables ---------------------------------------------------------------------------------------
def imagenet_rows(*, count_with_pytorch: bool = True) -> list[dict[str, object]]:
    """One row per ImageNet ResNet: parameters (formula, our model, torchvision), MACs of v1 and v1.5
    by formula, and the paper's Table 1 figure. PyTorch counts use meta-device models."""
    rows: list[dict[str, object]] = []
    for name in IMAGENET_NAMES:
        v1 = imagenet_resnet_cost(name, variant="v1")
        v15 = imagenet_resnet_cost(name, variant="v1.5")
        row: dict[str, object] = {"network": name, "params (formula)": v1.params}
        if count_with_pytorch:
            row["params (our model)"] = models.count_parameters(build_imagenet(name))
            row["params (torchvision)"] = models.count_parameters(build_torchvision(name))
        row["GMACs v1"] = v1.macs / 1e9
        row["paper Table 1"] = PAPER_TABLE1_FLOPS[name] / 1e9
        row["GMACs v1.5"] = v15.macs / 1e9
        rows.append(row)
    return rows


def cifar_rows(depths: Iterable[int] = CIFAR_PAPER_DEPTHS) -> list[dict[str, object]]:
    """One row per CIFAR depth: parameters and MACs (at 32x32) with shortcut A and B, by formula,
    and the paper's Table 6 parameter count where the paper gives one."""
    rows: list[dict[str, object]] = []
    for depth in depths:
        a, b = cifar_resnet_cost(depth, shortcut="A"), cifar_resnet_cost(depth, shortcut="B")
        paper = PAPER_TABLE6_PARAMS.get(depth)
        rows.append({
            "depth": depth, "n": (depth - 2) // 6,
            "params A": a.params, "params B": b.params,
            "paper params": f"{paper / 1e6:g}M" if paper is not None else "-",
            "MMACs A": a.macs / 1e6, "MMACs B": b.macs / 1e6,
        })
    return rows


def format_table(rows: list[dict[str, object]], plain: tuple[str, ...] = ("depth", "n")) -> str:
    """Rows of equal keys as a fixed-width text table; integers get thousands separators except
    in the ``plain`` columns."""
    if not rows:
        return ""

    def fmt(value: object) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.3f}"
        return str(value)

    keys = list(rows[0])
    cells = [[str(row[key]) if key in plain else fmt(row[key]) for key in keys] for row in rows]
    widths = [max(len(key), *(len(r[i]) for r in cells)) for i, key in enumerate(keys)]
    lines = ["  ".join(key.rjust(w) for key, w in zip(keys, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def variant_differences(name: str = "resnet50", input_size: int = 224) -> list[tuple[LayerCost, LayerCost]]:
    """The layers whose MACs differ between v1 and v1.5, as ``(v1 layer, v1.5 layer)`` pairs."""
    v1 = imagenet_resnet_cost(name, variant="v1", input_size=input_size)
    v15 = imagenet_resnet_cost(name, variant="v1.5", input_size=input_size)
    return [(a, b) for a, b in zip(v1.layers, v15.layers) if a.macs != b.macs]


def plot_stage_macs(
    costs: dict[str, Cost], *, reference: dict[str, float] | None = None, reference_label: str = "paper",
    title: str = "Where the multiply-adds go",
) -> Figure:
    """Stacked bars: one bar per network, one segment per stage (stem, layer1..., head), in GMACs.

    ``reference`` (network -> multiply-adds) draws a black tick at a quoted figure for comparison."""
    import matplotlib.pyplot as plt

    stages: list[str] = []
    for cost in costs.values():
        stages += [s for s in cost.by_stage() if s not in stages]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    names = list(costs)
    bottom = [0.0] * len(names)
    colors = plt.get_cmap("viridis")
    for i, stage in enumerate(stages):
        heights = [costs[n].by_stage().get(stage, (0, 0))[1] / 1e9 for n in names]
        ax.bar(names, heights, bottom=bottom, label=stage, color=colors(i / max(1, len(stages) - 1)),
               edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights)]
    reference = reference or {}
    refs = [reference[n] / 1e9 if n in reference else None for n in names]
    for x, (total, ref) in enumerate(zip(bottom, refs)):
        top = total if ref is None else max(total, ref)
        label = f"{total:.2f} G" if ref is None else f"{total:.2f} G\n({reference_label}: {ref:g})"
        ax.text(x, top + 0.01 * max(bottom), label, ha="center", va="bottom", fontsize=8)
    if any(r is not None for r in refs):
        xs = [x for x, r in enumerate(refs) if r is not None]
        ax.hlines([refs[x] for x in xs], [x - 0.42 for x in xs], [x + 0.42 for x in xs], colors="black",
                  linewidth=2, zorder=3, label=reference_label)
    ax.set_ylabel("multiply-adds (x 10^9)")
    ax.set_ylim(0, max(bottom) * 1.2)
    ax.set_title(title)
    ax.legend(title="stage", loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


# --- exercise checkers --------------------------------------------------------------------------
def _check_count(answer: object, expected: int, why: str) -> CheckResult:
    """Exact integer comparison, numbers printed in full (a count is right or wrong, not close)."""
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return CheckResult(False, f"expected a whole number, got {answer!r}. {why}")
    if value == expected:
        return CheckResult(True, f"{expected:,}. {why}")
    shown = f"{int(value):,}" if value.is_integer() else f"{value:g}"
    off = f" ({(value - expected) / expected:+.1%} off)" if expected else ""
    return CheckResult(False, f"you said {shown}, the computed value is {expected:,}{off}. {why}")


def check_resnet34_params(answer: int) -> CheckResult:
    """Exercise: the number of parameters of ResNet-34 (1000 classes), by hand."""
    cost = imagenet_resnet_cost("resnet34")
    parts = ", ".join(f"{stage} {params:,}" for stage, (params, _) in cost.by_stage().items())
    why = (f"By stage: {parts}. Remember the BN scale and shift (2C each), the three 1x1 projection "
           "shortcuts with their BN, and the fc bias.")
    return _check_count(answer, cost.params, why)


def check_stem_macs(answer: int, input_size: int = 224) -> CheckResult:
    """Exercise: the multiply-adds of the 7x7, stride-2 stem convolution (3 -> 64 channels)."""
    layer = imagenet_resnet_cost("resnet18", input_size=input_size)["conv1"]
    _, h, w = layer.out_shape
    why = f"The output is {h}x{w}x64 and each value is a 7*7*3 = 147-term dot product: {h}*{w}*64*147."
    return _check_count(answer, layer.macs, why)


def check_v15_extra_macs(answer: int, stage: int = 2) -> CheckResult:
    """Exercise: how many more multiply-adds the first block of ``stage`` (2, 3 or 4) of ResNet-50
    costs in v1.5 (stride on the 3x3) than in v1 (stride on the first 1x1)."""
    if stage not in (2, 3, 4):
        raise ValueError(f"stage must be one of (2, 3, 4) (stage 1 does not downsample), got {stage!r}")
    prefix = f"layer{stage}.0."
    pairs = [(a, b) for a, b in variant_differences("resnet50") if a.name.startswith(prefix)]
    extra = sum(b.macs - a.macs for a, b in pairs)
    changed = ", ".join(a.name for a, _ in pairs)
    why = (f"Only {changed} changes: in v1.5 this 1x1 runs on the full-resolution input, four times as many "
           "positions as in v1; the 3x3 produces the same half-size output in both variants.")
    return _check_count(answer, extra, why)


def check_costliest_stage(
    answer: str, name: str = "resnet50", variant: Variant = "v1", quantity: Literal["params", "macs"] = "params"
) -> CheckResult:
    """Exercise: which stage of ``name`` holds the most parameters (or spends the most MACs)."""
    if quantity not in ("params", "macs"):
        raise ValueError(f"quantity must be one of ('params', 'macs'), got {quantity!r}")
    index = 0 if quantity == "params" else 1
    stages = imagenet_resnet_cost(name, variant=variant).by_stage()
    best = max(stages, key=lambda s: stages[s][index])
    share = stages[best][index] / sum(v[index] for v in stages.values())
    what = "parameters" if quantity == "params" else "multiply-adds"
    why = (f"{best} has {share:.0%} of the {what} of {name} ({variant}). A 3x3 conv's weights grow with "
           "channels squared and do not depend on the image size; its MACs also scale with the pixels.")
    return check_choice(answer, best, tuple(stages), why=why)
