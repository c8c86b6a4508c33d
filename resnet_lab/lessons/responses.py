"""Lesson 02: the standard deviation of layer responses, He et al. (2015) Figure 7.

Plain and residual nets of several depths are trained briefly, their BN statistics set on
held-back images, and the std of each block's branch output measured on other images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ..data import ImageData, show
from ..i18n import _
from .degradation import CifarConfig, DegradationResult, config_from_profile, net_name
from ..models import BasicBlock, Bottleneck, cifar_resnet, residual_blocks
from ..train.core import StepRecord, train_loop
from .probing import calibrate_batchnorm, forward_with_hooks, probe_batches

__all__ = [
    "response_stds", "train_briefly", "ResponseRun", "ResponseExperiment", "response_experiment",
    "trained_response_stds", "figure7_verdict", "figure7_config",
]

_RESPONSE_LAYERS = ("branch", "all")


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
    forward_with_hooks(model, x, handles)
    return names, [stds[n] for n in names]


def train_briefly(
    model: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
) -> list[float]:
    """A few SGD steps, one per batch (the paper's optimiser), by :func:`resnet_lab.train.core.train_loop`;
    returns the losses and stops after the first non-finite one. Changes ``model``."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    losses: list[float] = []

    def record(rec: StepRecord) -> bool:
        losses.append(rec.loss.item())
        return not math.isfinite(losses[-1])  # stop: the net diverged

    train_loop(model, batches, opt, steps=len(batches), on_step=record)
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


def trained_response_stds(
    result: DegradationResult, images: Tensor, *, layers: Literal["branch", "all"] = "branch"
) -> dict[tuple[int, str], list[float]]:
    """Figure 7 measured on the trained nets of lesson 01's experiment (as the paper measures its Figure 6 nets).

    For every depth and kind of ``result``: the std of each block's response on ``images`` (see
    :func:`response_stds`), averaged over the seeds, in forward order. The nets run in eval mode,
    with the BN statistics they learned in training.
    """
    out: dict[tuple[int, str], list[float]] = {}
    for depth in result.config.depths:
        for kind in ("plain", "residual"):
            per_seed = []
            for seed in result.config.seeds:
                if result.run(depth, kind, seed)["diverged"]:
                    continue  # a diverged net has no responses worth comparing
                per_seed.append(response_stds(result.model(depth, kind, seed), images.cpu(), layers=layers)[1])
            if per_seed:
                out[(depth, kind)] = [sum(v) / len(v) for v in zip(*per_seed)]
    return out


def figure7_verdict(stds: dict[tuple[int, str], list[float]], data_label: str) -> dict[str, object]:
    """The paper's two findings, checked on this run: (1) at each depth the residual responses are
    smaller than the plain ones (mean std over blocks); (2) the deepest residual net's are smaller
    than the shallowest's. Returns the means, the two booleans and a sentence."""
    means = {key: sum(v) / len(v) for key, v in stds.items()}
    depths = sorted({d for d, __ in means})
    both = [d for d in depths if (d, "plain") in means and (d, "residual") in means]
    if not both:
        raise ValueError("need a plain and a residual net of the same depth")
    smaller = all(means[(d, "residual")] < means[(d, "plain")] for d in both)
    res = [d for d in depths if (d, "residual") in means]
    lo, hi = res[0], res[-1]
    deeper_smaller = hi > lo and means[(hi, "residual")] < means[(lo, "residual")]
    pairs = _(", ").join(_("{depth} layers: residual {residual:.3f} vs plain {plain:.3f}").format(
        depth=d, residual=means[(d, "residual")], plain=means[(d, "plain")]) for d in both)
    s1 = (_("Finding 1 holds in this run: residual responses are smaller than plain ones at every depth")
          if smaller else _("Finding 1 does NOT hold at every depth in this run"))
    s2 = (_("Finding 2 holds: the deeper residual net responds less ({deep} {deep_std:.3f} < {shallow} "
            "{shallow_std:.3f}).") if deeper_smaller else
          _("Finding 2 does NOT hold in this run: {deep} {deep_std:.3f}, {shallow} {shallow_std:.3f}.")).format(
        deep=net_name("residual", hi), deep_std=means[(hi, "residual")],
        shallow=net_name("residual", lo), shallow_std=means[(lo, "residual")])
    sentence = _("{finding1} ({pairs}). {finding2} (Mean response std over blocks, on {data}.)").format(
        finding1=s1, pairs=pairs, finding2=s2, data=show(data_label))
    return {"means": means, "smaller": smaller, "deeper_smaller": deeper_smaller, "sentence": sentence}


def figure7_config(profile: object) -> CifarConfig:
    """The lesson-01 experiment whose trained nets Figure 7 measures: lesson 01's budget at the depths
    ``profile.gradients.figure7_depths`` (the same cache entries as lesson 01's runs of those depths,
    so after lesson 01 nothing is trained again), shortened to ``figure7_iters`` where the profile says so."""
    g = profile.gradients  # type: ignore[attr-defined]
    overrides: dict[str, object] = {"depths": tuple(g.figure7_depths)}
    if g.figure7_iters is not None:
        overrides["iters"] = g.figure7_iters
        overrides["eval_every"] = g.figure7_iters
    return config_from_profile(profile, **overrides)


def figure7_training_summary(result: DegradationResult) -> str:
    """Which nets Figure 7 uses and how many were trained now rather than loaded from lesson 01's cache."""
    return _("depths {depths}, seeds {seeds}: {trained} nets trained now, {cached} loaded from lesson 01's cache "
             "({seconds:.1f} s)").format(depths=result.config.depths, seeds=result.config.seeds,
                                         trained=result.trained, cached=len(result.runs) - result.trained,
                                         seconds=result.seconds)
