"""The cost of one layer (``LayerCost``), of a set of layers (``Cost``), and the closed forms of
``nn.Conv2d``, ``nn.BatchNorm2d`` and ``nn.Linear``. Conventions: see :mod:`resnet_lab.arithmetic`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..models import validate_positive_int

__all__ = [
    "LayerCost",
    "Cost",
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
]


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
    """The stage a layer belongs to: ``stem`` (first conv and BN), ``layer1``... or ``head`` (final BN, fc)."""
    top = name.split(".", 1)[0]
    if top in ("conv1", "bn1"):
        return "stem"
    if top in ("fc", "final_bn"):  # final_bn: the BN-ReLU a pre-activation net puts before its head
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
        validate_positive_int(name, value)
    _non_negative("padding", padding)
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"input size {size} is too small for kernel {kernel}, padding {padding}, dilation {dilation}: "
            "the output would be empty"
        )
    return out


def _validate_groups(c_in: int, c_out: int, groups: int) -> None:
    validate_positive_int("in_channels", c_in)
    validate_positive_int("out_channels", c_out)
    validate_positive_int("groups", groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both in_channels={c_in} and out_channels={c_out}")


def conv2d_params(c_in: int, c_out: int, kernel: int, groups: int = 1, bias: bool = False) -> int:
    """``k*k*C_in*C_out/groups`` weights, plus ``C_out`` biases if ``bias``."""
    _validate_groups(c_in, c_out, groups)
    validate_positive_int("kernel", kernel)
    return kernel * kernel * (c_in // groups) * c_out + (c_out if bias else 0)


def conv2d_macs(c_in: int, c_out: int, kernel: int, out_h: int, out_w: int | None = None, groups: int = 1) -> int:
    """``H_out*W_out * C_out * (C_in/groups) * k*k``: one k*k*(C_in/groups) dot product per output value."""
    _validate_groups(c_in, c_out, groups)
    validate_positive_int("kernel", kernel)
    out_w = out_h if out_w is None else out_w
    validate_positive_int("out_h", out_h)
    validate_positive_int("out_w", out_w)
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
    validate_positive_int("channels", channels)
    return 2 * channels


def batchnorm_buffers(channels: int) -> int:
    """Running mean and variance (``2C``) plus the ``num_batches_tracked`` counter (1): buffers, not parameters."""
    validate_positive_int("channels", channels)
    return 2 * channels + 1


def batchnorm_cost(name: str, channels: int, size: int) -> LayerCost:
    """A BatchNorm2d: ``2C`` parameters, ``2C + 1`` buffers and, by our convention, no MACs."""
    return LayerCost(name, "bn", batchnorm_params(channels), 0, batchnorm_buffers(channels), (channels, size, size))


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """``in*out`` weights plus ``out`` biases."""
    validate_positive_int("in_features", in_features)
    validate_positive_int("out_features", out_features)
    return in_features * out_features + (out_features if bias else 0)


def linear_macs(in_features: int, out_features: int) -> int:
    """One multiply-add per weight for one input vector."""
    validate_positive_int("in_features", in_features)
    validate_positive_int("out_features", out_features)
    return in_features * out_features


def linear_cost(name: str, in_features: int, out_features: int, bias: bool = True) -> LayerCost:
    return LayerCost(name, "linear", linear_params(in_features, out_features, bias),
                     linear_macs(in_features, out_features), 0, (out_features,))

