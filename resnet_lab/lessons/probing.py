"""Lesson 02's shared tools: model surgery (BN removed or calibrated), layer lists, probe batches.

Nothing here changes a model it is given unless the name says so (``calibrate_batchnorm``).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..data import ImageData, channel_stats, normalize
from ..models import cifar_resnet, residual_blocks

__all__ = [
    "without_batchnorm",
    "has_batchnorm",
    "calibrate_batchnorm",
    "weight_layers",
    "make_net",
    "probe_batches",
    "block_inputs",
]


def without_batchnorm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every BatchNorm replaced by ``nn.Identity`` (weights kept).

    Without BN a plain net with He initialisation still keeps its forward signal at a constant
    scale, but a residual net's signal roughly doubles its variance at every block, so deep
    residual nets without BN can overflow: probes report such values as inf/nan.
    """
    clone = copy.deepcopy(model)
    _replace_batchnorm(clone)
    return clone


def _replace_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _replace_batchnorm(child)


def has_batchnorm(model: nn.Module) -> bool:
    """True when any BatchNorm layer is left in ``model``."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: Tensor) -> nn.Module:
    """Set every BN's running statistics to the exact statistics of ``x`` and switch to eval mode.

    In eval mode BN is a fixed per-channel affine map, so a block acts on each image separately
    and its Jacobian for one image is well defined. Returns ``model`` (changed in place).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    model(x)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    return model.eval()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers with weights (convolutions and linear layers), as ``(name, module)`` pairs.

    For a CIFAR net of depth 6n+2 with option-A shortcuts there are exactly ``depth`` of them:
    the stem, two convolutions per block and the classifier.
    """
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def make_net(depth: int, *, residual: bool, batchnorm: bool, width: int, seed: int) -> nn.Module:
    """A fresh CIFAR net seeded with ``seed`` (global RNG, as the lessons' nets), with or without its BNs."""
    torch.manual_seed(seed)
    model = cifar_resnet(depth, residual=residual, width=width)
    return model if batchnorm else without_batchnorm(model)


def probe_batches(data: ImageData, batch: int, count: int, *, seed: int = 0, device: torch.device | str = "cpu") -> list[tuple[Tensor, Tensor]]:
    """``count`` normalised training batches of ``batch`` images, drawn without replacement when possible."""
    if batch < 1 or count < 1:
        raise ValueError(f"batch and count must be positive integers, got {batch} and {count}")
    n = len(data.y_train)
    g = torch.Generator().manual_seed(seed)
    need = batch * count
    idx = torch.cat([torch.randperm(n, generator=g) for _ in range(-(-need // n))])[:need]
    mean, std = channel_stats(data.x_train)
    x = normalize(data.x_train[idx], mean, std).to(device)
    y = data.y_train[idx].to(device)
    return [(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]) for i in range(count)]


def forward_with_hooks(model: nn.Module, x: Tensor, handles: list[torch.utils.hooks.RemovableHandle]) -> None:
    """One forward pass without gradients while the hooks behind ``handles`` record; then remove them."""
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def block_inputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """The input of every block for the batch ``x`` (detached), keyed by the block's name."""
    seen: dict[str, Tensor] = {}
    handles = [
        b.register_forward_pre_hook(lambda m, args, name=name: seen.__setitem__(name, args[0].detach().clone()))
        for name, b in residual_blocks(model)
    ]
    forward_with_hooks(model, x, handles)
    return seen
