"""Lesson 05: pre-activation (He et al. 2016, "Identity Mappings in Deep Residual Networks").

With BN and ReLU moved before the convolutions, a stage computes exactly
``x_L = x_l + sum_i F(x_i)``; :func:`unrolled_stage` checks this numerically, for both block
layouts, and :func:`clean_shortcut_gaps` measures it on a trained net's real feature maps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..data import show
from ..i18n import _
from ..models import BasicBlock, Bottleneck, PreActBlock

__all__ = ["unrolled_stage", "shortcut_gap", "clean_shortcut_gaps", "PAPER_PREACT_ERRORS", "preact_verdict", "run_summary",
           "gpu_depth_note", "comparison_title"]

# He et al. (2016), "Identity Mappings in Deep Residual Networks", CIFAR-10 test error (%), original vs
# pre-activation ResNet (Tables 2 and 3): the gain is small at 110 layers and large at 1001.
PAPER_PREACT_ERRORS: dict[int, tuple[float, float]] = {110: (6.61, 6.37), 164: (5.93, 5.46), 1001: (7.61, 4.92)}


@torch.no_grad()
def unrolled_stage(blocks: Sequence[nn.Module], x: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``blocks`` on ``x`` and also build ``x + sum_i F(x_i)`` from the branch outputs.

    Returns ``(output, unrolled)``. For pre-activation blocks with identity shortcuts they are
    equal (He et al. 2016, eq. 4); for the original blocks the ReLU after each addition breaks the
    sum. Blocks with a downsampling shortcut are refused: the sum needs identity shortcuts.
    """
    if len(blocks) == 0:
        raise ValueError("need at least one block")
    total = x.clone()
    h = x
    for block in blocks:
        if not isinstance(block, (BasicBlock, Bottleneck, PreActBlock)):
            raise ValueError(f"expected BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")
        if block.downsample is not None or not block.residual:
            raise ValueError("unrolled_stage needs residual blocks with identity shortcuts (no downsampling, not plain)")
        total = total + block.branch(h)
        h = block(h)
    return h, total


def shortcut_gap(blocks: Sequence[nn.Module], x: Tensor) -> float:
    """``|output - (x + sum F(x_i))| / |output|``: 0 for a clean identity path, > 0 otherwise."""
    was = [b.training for b in blocks]
    for b in blocks:
        b.eval()
    try:
        out, unrolled = unrolled_stage(blocks, x)
    finally:
        for b, w in zip(blocks, was):
            b.train(w)
    return float((out - unrolled).norm() / out.norm().clamp_min(1e-12))


def clean_shortcut_gaps(model: nn.Module, images: Tensor) -> dict[str, float]:
    """:func:`shortcut_gap` of every stage of a CIFAR net (its identity-shortcut blocks), on real feature maps.

    The input of each stage is captured with a forward pre-hook while ``images`` go through the
    model in eval mode; a stage's first block is left out when it downsamples.
    """
    captured: dict[str, Tensor] = {}
    stages = [name for name in ("layer1", "layer2", "layer3", "layer4") if hasattr(model, name)]
    if not stages:
        raise ValueError("expected a CIFAR/ImageNet ResNet with stages layer1, layer2, ...")
    hooks = []
    for name in stages:
        stage = getattr(model, name)
        blocks = list(stage)
        first = blocks[0]
        if getattr(first, "downsample", None) is not None:
            hooks.append(blocks[1].register_forward_pre_hook(lambda m, a, name=name: captured.__setitem__(name, a[0])) if len(blocks) > 1 else None)
        else:
            hooks.append(first.register_forward_pre_hook(lambda m, a, name=name: captured.__setitem__(name, a[0])))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        model.train(was)
        for h in hooks:
            if h is not None:
                h.remove()
    gaps = {}
    for name in stages:
        blocks = [b for b in getattr(model, name) if getattr(b, "downsample", None) is None]
        if name in captured and blocks:
            gaps[name] = shortcut_gap(blocks, captured[name])
    return gaps


def preact_verdict(acc_original: float, acc_preact: float, n_eval: int, depth: int, data_label: str) -> dict[str, object]:
    """What this run's original-vs-pre-activation comparison can and cannot say.

    The gap in validation accuracy is compared with the sampling noise of ``n_eval`` images: the
    standard error of a difference of two accuracies, ``sqrt(2 p (1 - p) / n)`` (a lower bound: it
    leaves out the seed-to-seed spread). A gap within twice that noise is no evidence either way;
    the sentence then says so and names the paper's gaps, which need far longer runs to see.
    """
    if n_eval < 1:
        raise ValueError(f"n_eval must be a positive number of images, got {n_eval}")
    for name, acc in (("acc_original", acc_original), ("acc_preact", acc_preact)):
        if not 0.0 <= acc <= 1.0:
            raise ValueError(f"{name} must be an accuracy in [0, 1], got {acc}")
    p = (acc_original + acc_preact) / 2
    noise = math.sqrt(2 * p * (1 - p) / n_eval)
    gap = acc_preact - acc_original
    resolved = abs(gap) > 2 * noise
    paper = _("; ").join(_("{depth} layers {original:.2f}% -> {preact:.2f}%").format(depth=d, original=o, preact=q)
                         for d, (o, q) in PAPER_PREACT_ERRORS.items())
    head = (_("Pre-activation leads by {gap:.1f} points at {depth} layers ({preact:.1f}% vs {original:.1f}% "
              "validation accuracy on {data}).") if gap > 0 else
            _("Pre-activation trails by {gap:.1f} points at {depth} layers ({preact:.1f}% vs {original:.1f}% "
              "validation accuracy on {data}).")).format(
        gap=100 * abs(gap), depth=depth, preact=100 * acc_preact, original=100 * acc_original, data=show(data_label))
    if resolved:
        body = _(" That is more than twice the sampling noise of {n_eval} images ({noise:.1f} points), "
                 "so this run does tell the two layouts apart.").format(n_eval=n_eval, noise=100 * noise)
    else:
        body = _(" That is within twice the sampling noise of {n_eval} images ({noise:.1f} points): this run "
                 "cannot tell the two layouts apart. What it does show is the clean identity path above.").format(
            n_eval=n_eval, noise=100 * noise)
    tail = _(" The paper's test errors, original -> pre-activation: {paper}; the gain grows with depth.").format(
        paper=paper)
    return {"gap": gap, "noise": noise, "resolved": resolved, "sentence": head + body + tail}


def run_summary(histories: Mapping[str, Any], data_label: str, depth: int, steps: int) -> str:
    """A heading for this run's comparison (data, ``depth`` layers, ``steps`` SGD steps) and one line per
    net of ``histories`` (name -> :class:`~resnet_lab.train.History`): its final training loss and
    validation accuracy."""
    lines = [_("Your run ({data}), {depth} layers, {steps} steps, one run each:").format(
        data=show(data_label), depth=depth, steps=steps)]
    for key, h in histories.items():
        lines.append(_("  {net:9s} final training loss {loss:.3f}, validation accuracy {accuracy:.1f}%").format(
            net=key, loss=h.train_loss[-1], accuracy=100 * h.val_acc[-1]))
    return "\n".join(lines)


def gpu_depth_note(depth: int) -> str:
    """The sentence naming the depth at which the gpu profile runs the original-vs-pre-activation comparison."""
    return _("The gpu profile runs this comparison at {depth} layers.").format(depth=depth)


def comparison_title(depth: int) -> str:
    """Title of the figure comparing the original and the pre-activation net of ``depth`` layers."""
    return _("Original vs pre-activation, {depth} layers").format(depth=depth)
