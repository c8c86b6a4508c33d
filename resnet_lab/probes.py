"""Probes of lesson 02: gradients, Jacobians, layer responses and the path view of a residual net.

Everything here measures a network built by :mod:`resnet_lab.models`; nothing changes the model
it is given unless the name says so (``calibrate_batchnorm``, ``train_briefly``).

* per-layer gradient norms, computed by autograd or independently from hooks
  (:func:`layer_gradient_norms`, :func:`block_output_gradient_norms`, :class:`GradientRun`);
* block Jacobians with :func:`torch.autograd.functional.jacobian` and their singular values
  (:func:`block_jacobians`, :func:`jacobian`, :func:`singular_values`);
* the standard deviation of layer responses, He et al. (2015) Figure 7 (:func:`response_stds`);
* the "-1" correction: a branch scaled so that dF/dx is about -1 cancels the shortcut's +1
  (:func:`branch_scale_sweep`);
* the path view of Veit et al. (2016): the chain rule through ``n`` blocks expanded into ``2^n``
  paths (:func:`path_counts`, :func:`path_gradients_by_length`, :func:`path_gradients_brute_force`).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .exercises.core import CheckResult, check_number
from .data import ImageData, channel_stats, normalize
from .models import BasicBlock, Bottleneck, PreActBlock, cifar_resnet, residual_blocks

__all__ = [
    "without_batchnorm",
    "calibrate_batchnorm",
    "weight_layers",
    "LayerGradients",
    "layer_gradient_norms",
    "block_output_gradient_norms",
    "GradientRun",
    "probe_batches",
    "jacobian",
    "block_jacobians",
    "singular_values",
    "stage_spectra",
    "ResponseRun",
    "ResponseExperiment",
    "response_experiment",
    "block_inputs",
    "response_stds",
    "train_briefly",
    "ScaledBranchBlock",
    "branch_scale_sweep",
    "path_counts",
    "path_gradients_by_length",
    "path_gradients_brute_force",
    "network_path_gradients",
    "check_path_count",
    "check_stack_gradient",
    "check_cancelling_scale",
    "has_batchnorm",
    "ScaleSweep",
    "NetworkPaths",
]

Block = BasicBlock | Bottleneck | PreActBlock
_METHODS = ("autograd", "hooks")
_RESPONSE_LAYERS = ("branch", "all")


# --- model surgery ------------------------------------------------------------------------------
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


# --- gradient norms -----------------------------------------------------------------------------
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


def _make_net(depth: int, *, residual: bool, batchnorm: bool, width: int, seed: int) -> nn.Module:
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


@dataclass
class GradientRun:
    """One net whose per-layer gradient norms are measured at initialisation and after SGD steps.

    Step ``j`` measures the gradient on batch ``j`` at the weights reached after ``j`` SGD steps
    (lr, momentum 0.9, weight decay 1e-4 as in the paper), then takes the step with that same
    gradient, so ``k`` steps cost ``k + 1`` forward/backward passes. Runs continue where they
    stopped: asking for more steps later costs only the extra steps. Once the loss or a weight
    is no longer finite, training stops and the result says so.
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
        self.model = _make_net(self.depth, residual=self.residual, batchnorm=self.batchnorm, width=self.width, seed=self.seed).to(device)
        self.model.train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.9, weight_decay=1e-4)

    def after(self, steps: int) -> LayerGradients:
        """Gradient norms after ``steps`` SGD steps (0: at initialisation)."""
        if steps < 0 or steps >= len(self.batches):
            raise ValueError(f"steps must be between 0 and {len(self.batches) - 1} (the batches given), got {steps}")
        while len(self.history) <= steps:
            j = len(self.history)
            if self.history and not self.history[-1].finite:
                self.history.append(self.history[-1])  # diverged: nothing more to measure
                continue
            x, y = self.batches[j]
            self.optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            layers = weight_layers(self.model)
            norms = tuple(float("nan") if m.weight.grad is None else m.weight.grad.norm().item() for _, m in layers)
            result = LayerGradients(tuple(n for n, _ in layers), norms, loss.item())
            self.history.append(result)
            if result.finite:
                self.optimizer.step()
        return self.history[steps]


# --- Jacobians ----------------------------------------------------------------------------------
def jacobian(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The Jacobian of ``fn`` at ``x`` as a matrix (outputs x inputs), by autograd."""
    J = torch.autograd.functional.jacobian(fn, x.detach(), vectorize=True)
    return J.reshape(fn(x.detach()).numel(), x.numel())


def block_jacobians(block: Block, x: Tensor) -> dict[str, Tensor]:
    """Jacobians of a block's parts at ``x`` (use eval mode, e.g. after :func:`calibrate_batchnorm`).

    Keys: ``"block"`` (the whole forward), ``"branch"`` (F), ``"shortcut"`` and ``"sum"`` (the
    pre-activation ``shortcut(x) + F(x)``). For a :class:`PreActBlock` the forward *is* the sum,
    so ``J_block = I + J_F`` exactly. A :class:`BasicBlock` applies a ReLU after the addition, so
    ``J_block = D (I + J_F)`` with ``D`` the diagonal 0/1 mask of that ReLU, and ``J_sum = I + J_F``.
    """
    if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
        raise ValueError(f"block must be a BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
    if block.training and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in block.modules()):
        raise ValueError("put the block in eval mode (calibrate_batchnorm does it): in train mode BN mixes the images of a batch")
    return {
        "block": jacobian(block, x),
        "branch": jacobian(block.branch, x),
        "shortcut": jacobian(block.shortcut, x),
        "sum": jacobian(lambda t: block.shortcut(t) + block.branch(t), x),
    }


def singular_values(J: Tensor) -> Tensor:
    """Singular values of a Jacobian, largest first (non-finite entries raise a ValueError)."""
    if not torch.isfinite(J).all():
        raise ValueError("the Jacobian holds inf or nan values; the net overflowed")
    return torch.linalg.svdvals(J.double()).float()


def stage_spectra(stage: nn.Module, x: Tensor) -> tuple[list[Tensor], Tensor]:
    """Singular values of each block's Jacobian along the forward pass through ``stage``, and of the whole stage.

    ``stage`` is a sequence of blocks (e.g. ``net.layer1``) in eval mode; ``x`` its input (one image).
    The whole stage's Jacobian is the product of the blocks' (chain rule), so its spectrum shows
    how the blocks' spectra compound with depth.
    """
    per_block, h = [], x.detach()
    for block in stage:  # type: ignore[attr-defined]
        per_block.append(singular_values(jacobian(block, h)))
        h = block(h).detach()
    return per_block, singular_values(jacobian(stage, x))


# --- layer responses (Figure 7) -------------------------------------------------------------------
def block_inputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """The input of every block for the batch ``x`` (detached), keyed by the block's name."""
    seen: dict[str, Tensor] = {}
    handles = [
        b.register_forward_pre_hook(lambda m, args, name=name: seen.__setitem__(name, args[0].detach().clone()))
        for name, b in residual_blocks(model)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def _response_modules(block: nn.Module, layers: str) -> list[tuple[str, nn.Module]]:
    if isinstance(block, BasicBlock):
        last, all_ = "bn2", ("bn1", "bn2")
    elif isinstance(block, Bottleneck):
        last, all_ = "bn3", ("bn1", "bn2", "bn3")
    else:  # PreActBlock: the branch ends with conv2, its BNs come before the convolutions
        last, all_ = "conv2", ("conv1", "conv2")
    names = (last,) if layers == "branch" else all_
    return [(n, getattr(block, n)) for n in names]


def response_stds(model: nn.Module, x: Tensor, *, layers: Literal["branch", "all"] = "branch") -> tuple[list[str], list[float]]:
    """Standard deviation of layer responses, He et al. (2015) Figure 7, in forward order.

    ``layers="branch"``: the output of each block's branch F(x), i.e. its last BN, before the
    addition (and before the ReLU). ``layers="all"``: every 3x3 layer after its BN, before any
    ReLU or addition, as in the paper's figure. The model is run as it is (call ``.eval()``).
    The std is taken over all entries (images, channels, positions) of the response.
    """
    if layers not in _RESPONSE_LAYERS:
        raise ValueError(f"layers must be one of {_RESPONSE_LAYERS}, got {layers!r}")
    stds: dict[str, float] = {}
    handles = []
    names: list[str] = []
    for bname, block in residual_blocks(model):
        for lname, module in _response_modules(block, layers):
            key = f"{bname}.{lname}"
            names.append(key)
            handles.append(module.register_forward_hook(lambda m, a, out, key=key: stds.__setitem__(key, out.float().std().item())))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return names, [stds[n] for n in names]


def train_briefly(
    model: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
) -> list[float]:
    """A few SGD steps, one per batch (the paper's optimiser); returns the losses. Changes ``model``."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    model.train()
    losses = []
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            losses.append(loss.item())
            break
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@dataclass
class ResponseRun:
    """One net of the Figure 7 experiment, after its brief training."""

    depth: int
    residual: bool
    stds: list[float]  # std of each block's branch output, in forward order
    losses: list[float]  # training loss of every SGD step
    gamma_move: float  # mean |gamma - 1| of the branch's last BN: how far training moved it
    model: nn.Module

    def loss_means(self) -> tuple[float, float, int]:
        """Mean loss of the first and of the last quarter of the steps, and the quarter's length."""
        q = max(1, len(self.losses) // 4)
        return sum(self.losses[:q]) / q, sum(self.losses[-q:]) / q, q


@dataclass
class ResponseExperiment:
    """Plain and residual nets of several depths, trained briefly, with their layer responses."""

    runs: dict[tuple[int, bool], ResponseRun]  # keyed by (depth, residual)
    calib_x: Tensor  # images that set the BN statistics (not trained on)
    measure_x: Tensor  # images on which the responses were measured (neither)
    lr: float


def response_experiment(
    data: ImageData,
    depths: Sequence[int],
    *,
    width: int,
    iters: int,
    batch: int,
    device: torch.device | str = "cpu",
    seed: int = 2,
    base_lr: float = 0.1,
) -> ResponseExperiment:
    """The paper's Figure 7 on a small budget: std of the layer responses of plain and residual nets.

    Every net starts from ``torch.manual_seed(0)`` and takes ``iters`` SGD steps of ``batch`` images
    with the paper's lr 0.1 for 128 images scaled linearly to ``batch``. Then BN statistics are set
    on two held-back batches and the responses measured on a third one.
    """
    batches = probe_batches(data, batch, iters + 3, seed=seed, device=device)
    calib_x = torch.cat([x for x, _ in batches[-3:-1]])
    measure_x = batches[-1][0]
    lr = base_lr * batch / 128
    runs: dict[tuple[int, bool], ResponseRun] = {}
    for depth in depths:
        for residual in (False, True):
            torch.manual_seed(0)
            net = cifar_resnet(depth, residual=residual, width=width).to(device)
            losses = train_briefly(net, batches[:iters], lr=lr)
            calibrate_batchnorm(net, calib_x)
            stds = response_stds(net, measure_x)[1]
            gammas = [(b.bn2.weight - 1).abs().mean().item() for _, b in residual_blocks(net)]
            runs[(depth, residual)] = ResponseRun(depth, residual, stds, losses, sum(gammas) / len(gammas), net)
    return ResponseExperiment(runs, calib_x, measure_x, lr)


# --- the "-1" correction ---------------------------------------------------------------------------
class ScaledBranchBlock(nn.Module):
    """``y = x + scale * G(x)``, with ``G`` a 3x3 convolution that starts near the identity.

    ``G``'s kernel is the identity (a Dirac delta) plus a little noise, so ``dG/dx`` is close to
    ``I`` and ``dF/dx = scale * dG/dx`` is close to ``scale * I``. ``scale = -1`` makes the branch
    cancel the shortcut: ``dy/dx = I + dF/dx`` is close to zero.
    """

    def __init__(self, channels: int, scale: float, *, noise: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            nn.init.dirac_(self.conv.weight)
            self.conv.weight.add_(noise * torch.randn(self.conv.weight.shape, generator=g))

    def branch(self, x: Tensor) -> Tensor:
        return self.scale * self.conv(x)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


@dataclass(frozen=True)
class ScaleSweep:
    """Result of :func:`branch_scale_sweep`, one entry per scale."""

    scales: tuple[float, ...]
    branch_diag: tuple[float, ...]  # mean diagonal entry of dF/dx (measured)
    block_gain: tuple[float, ...]  # ||dL/dx|| / ||dL/dy|| through one block
    stack_gain: tuple[float, ...]  # the same through ``blocks`` stacked blocks
    blocks: int


def branch_scale_sweep(
    scales: Sequence[float], *, channels: int = 4, size: int = 6, blocks: int = 10, noise: float = 0.01, seed: int = 0
) -> ScaleSweep:
    """For each branch scale, measure dF/dx and how much gradient gets through the block(s).

    The gradient arriving at the output is a fixed random vector ``g``; the gain is
    ``||J^T g|| / ||g||`` computed by autograd. A stack uses ``blocks`` blocks of the same scale
    (each with its own noise).
    """
    if blocks < 1:
        raise ValueError(f"blocks must be a positive integer, got {blocks}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=gen)
    g = torch.randn(1, channels, size, size, generator=gen)
    diag, gain1, gain_n = [], [], []
    for s in scales:
        stack = nn.Sequential(*[ScaledBranchBlock(channels, s, noise=noise, seed=seed + i) for i in range(blocks)])
        first: ScaledBranchBlock = stack[0]  # type: ignore[assignment]
        diag.append(torch.diagonal(jacobian(first.branch, x)).mean().item())
        xi = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(first(xi), xi, g)
        gain1.append((gx.norm() / g.norm()).item())
        xi = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(stack(xi), xi, g)
        gain_n.append((gx.norm() / g.norm()).item())
    return ScaleSweep(tuple(float(s) for s in scales), tuple(diag), tuple(gain1), tuple(gain_n), blocks)


# --- the path view (Veit et al. 2016) -------------------------------------------------------------
def path_counts(n: int) -> list[int]:
    """Number of paths of each length 0..n through ``n`` residual blocks: ``C(n, k)``, summing to 2^n."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer (number of blocks), got {n!r}")
    return [math.comb(n, k) for k in range(n + 1)]


def _linearised_blocks(blocks: Sequence[nn.Module], x: Tensor) -> list[tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]]:
    """For each block at its operating point: (vjp through the shortcut, vjp through the branch).

    The post-addition ReLU of a BasicBlock/Bottleneck is frozen as a 0/1 mask ``D`` at the
    operating point, so the block's Jacobian splits exactly into ``D J_shortcut + D J_branch``.
    """
    parts = []
    h = x.detach()
    for block in blocks:
        if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
            raise ValueError(f"blocks must be BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
        if not block.residual:
            raise ValueError("a plain block (residual=False) has a single path; the decomposition needs residual=True")
        xi = h.clone().requires_grad_(True)
        skip = block.shortcut(xi)
        branch = block.branch(xi)
        pre = skip + branch
        mask = (pre > 0).to(pre.dtype) if not isinstance(block, PreActBlock) else torch.ones_like(pre)

        def vjp(out: Tensor, xi: Tensor = xi, mask: Tensor = mask) -> Callable[[Tensor], Tensor]:
            return lambda v: torch.autograd.grad(out, xi, v * mask, retain_graph=True)[0]

        parts.append((vjp(skip), vjp(branch)))
        with torch.no_grad():
            h = block(h)
    return parts


def path_gradients_by_length(blocks: Sequence[nn.Module], x: Tensor, grad_out: Tensor) -> list[Tensor]:
    """The gradient at the input of ``blocks`` split by path length: entry ``k`` sums all paths through ``k`` branches.

    ``grad_out`` is dL/d(output of the last block). The backward chain rule through a residual
    block is ``v -> D J_s^T v + D J_F^T v``; expanding the product over ``n`` blocks gives ``2^n``
    terms, one per choice of shortcut or branch in every block. Grouping them by the number of
    branches taken (dynamic programming, n(n+1)/2 vector-Jacobian products instead of n 2^n)
    gives ``n + 1`` tensors whose sum is the ordinary gradient.
    """
    parts = _linearised_blocks(blocks, x)
    by_len: list[Tensor] = [grad_out.detach()]
    for vjp_skip, vjp_branch in reversed(parts):
        new = [vjp_skip(by_len[0])]
        for k in range(1, len(by_len)):
            new.append(vjp_skip(by_len[k]) + vjp_branch(by_len[k - 1]))
        new.append(vjp_branch(by_len[-1]))
        by_len = new
    return by_len


def path_gradients_brute_force(blocks: Sequence[nn.Module], x: Tensor, grad_out: Tensor) -> dict[tuple[int, ...], Tensor]:
    """Every one of the 2^n path contributions, keyed by the 0/1 choice per block (1: through the branch)."""
    parts = _linearised_blocks(blocks, x)
    out = {}
    for choice in itertools.product((0, 1), repeat=len(parts)):
        v = grad_out.detach()
        for (vjp_skip, vjp_branch), c in zip(reversed(parts), reversed(choice)):
            v = vjp_branch(v) if c else vjp_skip(v)
        out[choice] = v
    return out


@dataclass(frozen=True)
class NetworkPaths:
    """Path decomposition of a whole CIFAR net's gradient at the input of its first block."""

    by_length: list[Tensor]  # summed contribution of the paths of each length
    full: Tensor  # dL/d(input of the first block), by ordinary autograd
    blocks: int

    @property
    def norms(self) -> list[float]:
        return [t.norm().item() for t in self.by_length]

    @property
    def max_error(self) -> float:
        """Largest |sum over lengths - autograd gradient|, relative to the gradient's largest entry."""
        total = torch.stack(self.by_length).sum(0)
        return ((total - self.full).abs().max() / self.full.abs().max()).item()


def network_path_gradients(model: nn.Module, x: Tensor, y: Tensor) -> NetworkPaths:
    """Split dL/d(input of the first block) of a CIFAR ResNet into path lengths and compare with autograd.

    The model is used as it is (use eval mode so BN treats images separately, as in a lesion study).
    """
    blocks = [b for _, b in residual_blocks(model)]
    if not blocks or not hasattr(model, "layer1"):
        raise ValueError("model must be a CIFAR ResNet from resnet_lab.models.cifar_resnet")
    inputs = block_inputs(model, x)
    first = next(iter(inputs.values()))
    h0 = first.clone().requires_grad_(True)
    h = h0
    for b in blocks:
        h = b(h)
    hn = h.detach().requires_grad_(True)
    head = torch.relu(model.final_bn(hn)) if model.preact else hn  # what CifarResNet.features does after the blocks
    loss = F.cross_entropy(model.fc(torch.flatten(model.avgpool(head), 1)), y)
    (g_out,) = torch.autograd.grad(loss, hn)
    (full,) = torch.autograd.grad(h, h0, g_out)
    return NetworkPaths(path_gradients_by_length(blocks, first, g_out), full.detach(), len(blocks))


# --- exercise checkers --------------------------------------------------------------------------------
def check_path_count(answer: int, n: int, k: int) -> CheckResult:
    """How many paths of length ``k`` (through exactly ``k`` branches) does a net of ``n`` blocks have?"""
    expected = path_counts(n)[k]
    return check_number(answer, expected, why=f"a path picks which {k} of the {n} branches it goes through: C({n}, {k}).")


def check_stack_gradient(answer: float, derivative: float, blocks: int) -> CheckResult:
    """Gradient factor through ``blocks`` scalar residual blocks whose branch has slope ``derivative``."""
    expected = (1 + derivative) ** blocks
    return check_number(
        answer, expected, rel_tol=1e-3, abs_tol=1e-12,
        why=f"each block multiplies the gradient by 1 + dF/dx = {1 + derivative:g}, so {blocks} blocks give ({1 + derivative:g})^{blocks}.",
    )


def check_cancelling_scale(answer: float, slope: float) -> CheckResult:
    """A branch ``F = s * G`` has ``dG/dx = slope``: which scale ``s`` makes the block pass no gradient?"""
    if slope == 0:
        raise ValueError("slope must be non-zero: a branch with dG/dx = 0 cannot cancel the shortcut at any scale")
    expected = -1.0 / slope  # the root of the block's gain 1 + s * slope
    return check_number(
        answer, expected, rel_tol=1e-3,
        why=f"dy/dx = 1 + s * {slope:g} vanishes at s = -1/{slope:g}: then dF/dx = -1 and the branch cancels the +1.",
    )
