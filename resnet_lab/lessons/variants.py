"""Lesson 06: the variants side by side (pre-activation, wide, grouped), depth without limit, MNIST.

The blocks' costs come from :mod:`resnet_lab.arithmetic` (formulas) and are checked here against
PyTorch's own count of the built modules; the nets train with the lesson-04 trainer
(:func:`resnet_lab.train.fit`), on images averaged down where the profile says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..arithmetic import basic_block_cost, bottleneck_cost, cifar_resnet_cost, measure_macs, preact_block_cost
from ..arithmetic.variants import cifar_resnext29_cost, resnext_block_cost, wide_block_cost, wide_resnet_cost
from ..data import ImageData, show
from ..i18n import N_, _
from ..models import BasicBlock, Bottleneck, PreActBlock, count_parameters

__all__ = [
    "BlockRow", "block_comparison", "EQUAL_COMPUTE_NETS", "net_costs", "resize_images",
    "net_description", "equal_compute_title", "demo_title", "accuracy_verdict", "parameter_stats", "parameter_ratio_line", "best_epoch_line", "train_equal_compute", "depth_config", "depth_generalization",
]


@dataclass(frozen=True)
class BlockRow:
    """One block of the comparison: its cost by formula and as PyTorch counts it."""

    name: str
    params_formula: int
    macs_formula: int
    params_pytorch: int
    macs_pytorch: int

    @property
    def agrees(self) -> bool:
        return self.params_formula == self.params_pytorch and self.macs_formula == self.macs_pytorch


def _conv_macs(block: nn.Module, channels: int, size: int) -> int:
    return measure_macs(block, size, channels).total


def block_comparison(channels: int = 64, size: int = 16, k: int = 2, cardinality: int = 32, width: int = 4) -> list[BlockRow]:
    """The blocks of lesson 06 at one stage (``size`` x ``size`` feature maps), no downsampling:

    basic and pre-activation blocks on ``channels``; the wide block on ``k * channels``; the
    bottleneck and the ResNeXt block (``cardinality`` x ``width``d, the paper's 32x4d template) on
    ``4 * channels`` in and out. Formula (:mod:`resnet_lab.arithmetic`) against PyTorch's counts.
    """
    c4 = 4 * channels
    cases: list[tuple[str, Callable[[], object], Callable[[], nn.Module], int]] = [
        ("basic", lambda: basic_block_cost(channels, channels, size), lambda: BasicBlock(channels, channels), channels),
        ("pre-activation", lambda: preact_block_cost(channels, channels, size),
         lambda: PreActBlock(channels, channels), channels),
        (f"wide (k={k})", lambda: wide_block_cost(k * channels, channels, k, size),
         lambda: PreActBlock(k * channels, k * channels), k * channels),
        ("bottleneck", lambda: bottleneck_cost(c4, channels, size), lambda: Bottleneck(c4, channels), c4),
        (f"ResNeXt {cardinality}x{width}d", lambda: resnext_block_cost(c4, channels, cardinality, width, size),
         lambda: Bottleneck(c4, channels, groups=cardinality, base_width=width), c4),
    ]
    rows = []
    for name, formula, build, c_in in cases:
        cost = formula()
        block = build()
        rows.append(BlockRow(name, cost.params, cost.macs, count_parameters(block), _conv_macs(block, c_in, size)))  # type: ignore[attr-defined]
    return rows


# name -> (registry model name, description): three nets of about the same compute (MACs per 32x32 image)
EQUAL_COMPUTE_NETS: dict[str, tuple[str, str]] = {
    "ResNet-44": ("resnet44", N_("deep and thin: 7 basic blocks per stage, 16-32-64 channels")),
    "WRN-16-2": ("wrn16_2", N_("shallow and wide: 2 pre-activation blocks per stage, twice the channels")),
    "ResNeXt-29 2x2d": ("resnext29_2x2d", N_("grouped: 3 bottlenecks per stage, 3x3 convs in 2 groups")),
}


def net_description(name: str) -> str:
    """What kind of net ``name`` (a key of :data:`EQUAL_COMPUTE_NETS`) is, in the learner's language."""
    return _(EQUAL_COMPUTE_NETS[name][1])


def net_costs(input_size: int = 32) -> dict[str, tuple[int, int]]:
    """Parameters and MACs per image of :data:`EQUAL_COMPUTE_NETS` (by formula, at ``input_size``)."""
    costs = {
        "ResNet-44": cifar_resnet_cost(44, input_size=input_size),
        "WRN-16-2": wide_resnet_cost(16, 2, input_size=input_size),
        "ResNeXt-29 2x2d": cifar_resnext29_cost(2, 2, input_size=input_size),
    }
    return {name: (c.params, c.macs) for name, c in costs.items()}


def resize_images(data: ImageData, size: int) -> ImageData:
    """``data`` with every image averaged down to ``size`` x ``size`` (a cheaper run of the same nets:
    they are fully convolutional up to the global average pool). The label says nothing new: it is
    the same data, smaller."""
    side = data.x_train.shape[-1]
    if size == side:
        return data
    if size < 1 or side % size:
        raise ValueError(f"size must divide the image side {side} (e.g. {side // 2} or {side // 4}), got {size}")
    f = side // size

    def shrink(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x.float(), f).round().clamp(0, 255).to(torch.uint8)

    return replace(data, x_train=shrink(data.x_train), x_test=shrink(data.x_test),
                   source=f"{data.source}, averaged down to {size}x{size}")


def accuracy_verdict(accuracies: Mapping[str, float], n_eval: int, data_label: str) -> dict[str, object]:
    """Rank the nets by validation accuracy and say whether the leader's margin over the runner-up is
    more than twice the sampling noise of ``n_eval`` images (``sqrt(2 p (1 - p) / n)``, a lower bound:
    seeds add their own spread). Returns the ranking, the margin, the noise and a sentence."""
    if len(accuracies) < 2 or n_eval < 1:
        raise ValueError("need at least two accuracies and a positive n_eval")
    ranked = sorted(accuracies.items(), key=lambda kv: -kv[1])
    (first, a1), (second, a2) = ranked[0], ranked[1]
    p = (a1 + a2) / 2
    noise = math.sqrt(2 * p * (1 - p) / n_eval)
    margin = a1 - a2
    order = " > ".join(f"{n} {100 * a:.1f}%" for n, a in ranked)
    if margin > 2 * noise:
        tail = _("{first} leads {second} by {margin:.1f} points, more than twice the sampling noise of "
                 "{n_eval} images ({noise:.1f} points): at equal compute, this run prefers {first}.")
    else:
        tail = _("{first} leads {second} by only {margin:.1f} points, within twice the sampling noise of "
                 "{n_eval} images ({noise:.1f} points): this run cannot rank them.")
    tail = tail.format(first=first, second=second, margin=100 * margin, n_eval=n_eval, noise=100 * noise)
    return {"ranking": ranked, "margin": margin, "noise": noise,
            "sentence": _("Validation accuracy on {data}: {order}. {verdict}").format(
                data=show(data_label), order=order, verdict=tail)}


def parameter_ratio_line(deep: str, shallow: str, params_deep: int, params_shallow: int) -> str:
    """How many times the parameters of net ``deep`` are those of net ``shallow``."""
    return _("{deep} / {shallow}: {ratio:.1f}x the parameters").format(
        deep=deep, shallow=shallow, ratio=params_deep / params_shallow)


def best_epoch_line(history: object, data_label: str, checkpoint_dir: str | None) -> str:
    """After a run of :func:`resnet_lab.train.fit`: its best validation accuracy, the epoch it came at, on
    which data, and where the best weights were saved (the trainer restores them at the end)."""
    best = max(a for a in history.val_acc if a is not None)  # type: ignore[attr-defined]
    return _("best validation accuracy {accuracy:.1f}% at epoch {epoch} ({data}); its weights are in "
             "{checkpoint}/best.pt and were restored").format(
        accuracy=100 * best, epoch=history.best_epoch, data=show(data_label), checkpoint=checkpoint_dir)  # type: ignore[attr-defined]


def parameter_stats(model: nn.Module) -> list[tuple[str, int, float, float]]:
    """Per kind of layer (conv, batchnorm, linear): parameter count, mean and std of the weights."""
    groups: dict[str, list[torch.Tensor]] = {"conv": [], "batchnorm": [], "linear": []}
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            groups["conv"].append(module.weight.detach().flatten())
        elif isinstance(module, nn.BatchNorm2d):
            groups["batchnorm"].append(module.weight.detach().flatten())
        elif isinstance(module, nn.Linear):
            groups["linear"].append(module.weight.detach().flatten())
    out = []
    for kind, ws in groups.items():
        if ws:
            w = torch.cat(ws)
            n = sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False)
                    if _kind(m) == kind)
            out.append((kind, n, float(w.mean()), float(w.std())))
    return out


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.BatchNorm2d):
        return "batchnorm"
    if isinstance(module, nn.Linear):
        return "linear"
    return ""


def train_equal_compute(data: ImageData, budget: object, *, device: torch.device | str = "cpu",
                        runs_dir: str | None = None, progress: bool = False) -> dict[str, object]:
    """Train each net of :data:`EQUAL_COMPUTE_NETS` for ``budget.compare_steps`` SGD steps with the
    lesson-04 trainer (same data, split, seed and schedule), on images averaged down to
    ``budget.compare_size``; returns name -> History. With ``runs_dir`` each run keeps its
    checkpoint there, so running the cell again resumes instead of retraining."""
    from pathlib import Path

    from ..train import TrainConfig, fit, make_model

    b = budget
    small = resize_images(data, b.compare_size)  # type: ignore[attr-defined]
    n_fit = len(small.y_train) - b.n_eval  # type: ignore[attr-defined]
    epochs = max(1, math.ceil(b.compare_steps / max(1, n_fit // b.compare_batch)))  # type: ignore[attr-defined]
    out: dict[str, object] = {}
    for name, (model_name, __) in EQUAL_COMPUTE_NETS.items():
        ckpt = None if runs_dir is None else str(Path(runs_dir) / f"06_{model_name}_{b.compare_size}px_{b.compare_steps}")  # type: ignore[attr-defined]
        config = TrainConfig(model=model_name, epochs=epochs, batch_size=b.compare_batch, n_val=b.n_eval,  # type: ignore[attr-defined]
                             amp="off", eval_batch_size=250, checkpoint_dir=ckpt)
        model = make_model(config, num_classes=len(small.classes), in_channels=small.in_channels)
        out[name] = fit(model, small, config, device=device, progress=progress, verbose=False,
                        max_iters=b.compare_steps)  # type: ignore[attr-defined]
    return out


def depth_config(profile: object) -> object:
    """Section 3's experiment: lesson 01's CIFAR budget (its depths, data and seeds, so the residual nets
    lesson 01 trained come from the same cache), shortened to ``profile.variants.depth_iters`` where the
    profile says so (the quick profile, which must stay within its time limit)."""
    from .degradation import config_from_profile

    cfg = config_from_profile(profile)  # type: ignore[arg-type]
    iters = profile.variants.depth_iters  # type: ignore[attr-defined]
    if iters is None:
        return cfg
    return replace(cfg, iters=iters, eval_every=min(cfg.eval_every, iters))  # type: ignore[type-var]


def depth_generalization(errors: Mapping[tuple[int, str], Mapping[str, float]], data_label: str) -> dict[str, object]:
    """Read lesson 01's residual nets as the paper reads ResNet-1202: do deeper nets fit the training
    images as well (training error) and still do worse on held-out ones (validation error)?

    ``errors`` is :func:`resnet_lab.lessons.degradation.final_errors`. Returns the per-depth errors,
    whether the generalisation gap (validation - training error) grows from the shallowest to the
    deepest net, and a sentence.
    """
    depths = sorted(d for d, kind in errors if kind == "residual")
    if len(depths) < 2:
        raise ValueError("need residual nets of at least two depths")
    rows = [(d, errors[(d, "residual")]["train_error"], errors[(d, "residual")]["val_error"]) for d in depths]
    (d0, t0, v0), (d1, t1, v1) = rows[0], rows[-1]
    gap0, gap1 = v0 - t0, v1 - t1
    grows = gap1 > gap0
    fits = t1 <= t0 + 0.01  # the deeper net fits its training images as well (within 1 point)
    from .degradation import net_name

    s = _("On {data}: {shallow} ends at {t0:.1f}% training / {v0:.1f}% validation error, "
          "{deep} at {t1:.1f}% / {v1:.1f}%. ").format(
        data=show(data_label), shallow=net_name("residual", d0), deep=net_name("residual", d1),
        t0=100 * t0, v0=100 * v0, t1=100 * t1, v1=100 * v1)
    gaps = dict(gap0=100 * gap0, gap1=100 * gap1)
    if grows and fits and v1 > v0:
        s += _("The deeper net fits its training images as well and does worse on held-out ones: the gap grows "
               "from {gap0:.1f} to {gap1:.1f} points. That is the overfitting the paper blames for "
               "ResNet-1202 on CIFAR-10's 50k images.").format(**gaps)
    elif grows and not fits:
        s += _("The gap between validation and training error grows with depth ({gap0:.1f} -> {gap1:.1f} points), "
               "but the deeper net does not fit its training images as well: a sign of overfitting, not yet the "
               "paper's ResNet-1202 picture.").format(**gaps)
    elif grows:
        s += _("The gap between validation and training error grows with depth ({gap0:.1f} -> {gap1:.1f} points), "
               "but the deeper net is not worse on held-out images: a sign of overfitting, not yet the "
               "paper's ResNet-1202 picture.").format(**gaps)
    else:
        s += _("The gap does not grow with depth here ({gap0:.1f} -> {gap1:.1f} points): at this budget the "
               "deeper net is not yet overfitting more than the shallow one.").format(**gaps)
    return {"rows": rows, "gap_grows": grows, "sentence": s}


def equal_compute_title(budget: Any) -> str:
    """Title of the equal-compute training figure (``budget``: the profile's variants budget)."""
    return _("Equal compute, {steps} steps at {size}x{size}").format(steps=budget.compare_steps,
                                                                     size=budget.compare_size)


def demo_title(data_name: str) -> str:
    """Title of the training figure of the short demo on ``data_name`` (e.g. "MNIST")."""
    return _("{data} demo").format(data=data_name)
