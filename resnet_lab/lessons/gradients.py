"""Lesson 02: per-layer gradient norms, computed by autograd or independently from hooks.

:class:`GradientRun` measures them at initialisation and after a few SGD steps (the widget of
:mod:`resnet_lab.widgets.gradients` drives it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import residual_blocks
from ..train.core import train_step
from .probing import make_net, weight_layers

__all__ = ["LayerGradients", "layer_gradient_norms", "block_output_gradient_norms", "GradientRun"]

_METHODS = ("autograd", "hooks")


@dataclass(frozen=True)
class LayerGradients:
    """Per-layer gradient norms ``||dL/dW||`` of one forward/backward pass."""

    names: tuple[str, ...]
    norms: tuple[float, ...]
    loss: float

    @property
    def finite(self) -> bool:
        """False when the loss or any norm is inf or nan (an overflowing net)."""
        return math.isfinite(self.loss) and all(math.isfinite(v) for v in self.norms)

    @property
    def first_last_ratio(self) -> float:
        """Gradient norm of the first layer divided by that of the last layer (nan if undefined)."""
        first, last = self.norms[0], self.norms[-1]
        if not (math.isfinite(first) and math.isfinite(last)) or last == 0:
            return float("nan")
        return first / last


def layer_gradient_norms(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    method: Literal["autograd", "hooks"] = "autograd",
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
) -> LayerGradients:
    """``||dL/dW||`` for every layer with weights, in forward order, without touching ``.grad``.

    ``method="autograd"`` asks :func:`torch.autograd.grad` for the weight gradients.
    ``method="hooks"`` computes them independently: forward hooks keep each layer's input, tensor
    hooks catch ``dL/d(output)`` during the backward pass, and the weight gradient is rebuilt from
    the two (``torch.nn.grad.conv2d_weight`` for a convolution, ``g^T x`` for a linear layer).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    layers = weight_layers(model)
    if not layers:
        raise ValueError("the model has no Conv2d or Linear layer to probe")
    weights = [m.weight for _, m in layers]
    if method == "autograd":
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        norms = [float("nan") if g is None else g.norm().item() for g in grads]
        return LayerGradients(tuple(n for n, _ in layers), tuple(norms), loss.item())

    inputs: dict[str, Tensor] = {}
    grad_outputs: dict[str, Tensor] = {}
    handles = []

    def forward_hook(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            inputs[name] = args[0].detach()
            if out.requires_grad:
                out.register_hook(lambda g: grad_outputs.__setitem__(name, g.detach()))

        return hook

    try:
        for name, m in layers:
            handles.append(m.register_forward_hook(forward_hook(name)))
        loss = loss_fn(model(x), y)
        # Any differentiable leaf will do to run the backward pass; the hooks record what we need.
        torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    norms = []
    for name, m in layers:
        if name not in grad_outputs:
            norms.append(float("nan"))
            continue
        inp, g = inputs[name], grad_outputs[name]
        if isinstance(m, nn.Conv2d):
            gw = torch.nn.grad.conv2d_weight(
                inp, m.weight.shape, g, stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups
            )
        else:
            gw = g.reshape(-1, g.shape[-1]).T @ inp.reshape(-1, inp.shape[-1])
        norms.append(gw.norm().item())
    return LayerGradients(tuple(n for n, _ in layers), tuple(norms), loss.item())


def block_output_gradient_norms(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    method: Literal["autograd", "hooks"] = "autograd",
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
) -> tuple[list[str], list[float]]:
    """``||dL/dx_l||`` for the output ``x_l`` of every block: the signal that flows back.

    ``"hooks"`` registers a tensor hook on each block output; ``"autograd"`` keeps the outputs
    and asks :func:`torch.autograd.grad` for the gradient with respect to all of them.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    blocks = residual_blocks(model)
    if not blocks:
        raise ValueError("the model has no BasicBlock, Bottleneck or PreActBlock")
    outputs: dict[str, Tensor] = {}
    grads: dict[str, Tensor] = {}
    handles = []

    def hook(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def fn(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            outputs[name] = out
            if method == "hooks":
                out.register_hook(lambda g: grads.__setitem__(name, g.detach()))

        return fn

    try:
        for name, b in blocks:
            handles.append(b.register_forward_hook(hook(name)))
        x = x.detach().requires_grad_(True)  # so that every block output is part of the graph
        loss = loss_fn(model(x), y)
        names = [n for n, _ in blocks]
        if method == "hooks":
            torch.autograd.grad(loss, x)
        else:
            grads = dict(zip(names, torch.autograd.grad(loss, [outputs[n] for n in names])))
    finally:
        for h in handles:
            h.remove()
    return names, [grads[n].norm().item() for n in names]


@dataclass
class GradientRun:
    """One net whose per-layer gradient norms are measured at initialisation and after SGD steps.

    Step ``j`` measures the gradient on batch ``j`` at the weights reached after ``j`` SGD steps
    (lr, momentum 0.9, weight decay 1e-4 as in the paper), then takes the step with that same
    gradient (one :func:`resnet_lab.train.core.train_step`), so ``k`` steps cost ``k + 1``
    forward/backward passes. Runs continue where they stopped: asking for more steps
    later costs only the extra steps. Once the loss or a weight is no longer finite, measuring stops
    and the result says so.
    """

    depth: int
    residual: bool
    batchnorm: bool
    batches: list[tuple[Tensor, Tensor]]
    width: int = 16
    lr: float = 0.1
    seed: int = 0
    history: list[LayerGradients] = field(default_factory=list)

    def __post_init__(self) -> None:
        device = self.batches[0][0].device
        self.model = make_net(self.depth, residual=self.residual, batchnorm=self.batchnorm, width=self.width, seed=self.seed).to(device)
        self.model.train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.9, weight_decay=1e-4)

    def after(self, steps: int) -> LayerGradients:
        """Gradient norms after ``steps`` SGD steps (0: at initialisation)."""
        if steps < 0 or steps >= len(self.batches):
            raise ValueError(f"steps must be between 0 and {len(self.batches) - 1} (the batches given), got {steps}")
        while len(self.history) <= steps:
            if self.history and not self.history[-1].finite:
                self.history.append(self.history[-1])  # diverged: nothing more to measure
                continue
            x, y = self.batches[len(self.history)]
            # One step of the training core; the gradients it leaves in .grad are those of this batch at
            # the weights before the step (SGD's update reads them, weight decay included, without changing them).
            loss, _ = train_step(self.model, x, y, self.optimizer)
            layers = weight_layers(self.model)
            norms = tuple(float("nan") if m.weight.grad is None else m.weight.grad.norm().item() for _, m in layers)
            self.history.append(LayerGradients(tuple(n for n, _ in layers), norms, loss.item()))
        return self.history[steps]
