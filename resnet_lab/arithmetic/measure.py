"""PyTorch's own count: ``FlopCounterMode`` MACs and a layer-by-layer comparison with a closed form."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models import count_parameters, validate_positive_int
from .layers import Cost

__all__ = ["MeasuredMacs", "measure_macs", "Agreement", "compare_with_pytorch"]


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

    validate_positive_int("input_size", input_size)
    validate_positive_int("in_channels", in_channels)
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
    return Agreement(cost.params, count_parameters(model), cost.macs,
                     measured.total if measured is not None else None, tuple(bad), measured)


def _to_macs(flops: int) -> int:
    if flops % 2:
        raise ValueError(f"FlopCounterMode reported an odd FLOP count {flops}; expected 2 per multiply-add")
    return flops // 2

