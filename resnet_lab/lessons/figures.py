"""Figures of lessons 00-02 that would otherwise fill a notebook cell with matplotlib boilerplate.

Each ``plot_*`` draws a result computed elsewhere in :mod:`resnet_lab.lessons` and returns the figure
without showing it (the notebook ends the cell with ``plt.show()``); ``*_summary`` functions return
the lines the lesson prints under it. :func:`first_stage_spectra` is the one computation here:
lesson 02's singular-value spectra of the first stage of a plain and a residual net.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import show
from ..i18n import N_, _, ljust
from ..plots import PLAIN_COLOR, RESIDUAL_COLOR, data_title

__all__ = [
    "plot_toy_sweep", "plot_stack_losses", "first_stage_spectra", "plot_spectra", "spectra_summary",
    "plot_gradient_norms", "plot_scale_sweep", "plot_path_gradients",
]


# Labels the lessons' code cells pass in (the notebooks stay the same in every language): marked here, shown with _().
_CELL_LABELS = (N_("at init"), N_("after k steps"), N_("trained (lesson 01)"))


def _kind_color(kind: str) -> str:
    return PLAIN_COLOR if kind == "plain" else RESIDUAL_COLOR


# --- lesson 01 ---------------------------------------------------------------------------------------
def plot_toy_sweep(sweep: Mapping[str, Any], steps: int) -> Any:
    """Final training loss against depth, plain vs residual, from :func:`resnet_lab.lessons.toy.toy_depth_sweep`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for kind in ("plain", "residual"):
        ax.semilogy(sweep["depths"], [max(v, 1e-6) for v in sweep["loss"][kind]], "o-", color=_kind_color(kind),
                    label=_(kind))
    ax.set_xlabel(_("depth (weight layers)"))
    ax.set_ylabel(_("final training loss"))
    ax.set_title(_("toy spirals, {steps} steps").format(steps=steps))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_stack_losses(runs: Mapping[str, Any]) -> Any:
    """Training loss per step of :func:`resnet_lab.lessons.toy_blocks.train_block_stack` runs, by label."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in runs.items():
        ax.semilogy(range(1, len(run.losses) + 1), run.losses, color=_kind_color(label.split()[0]), label=label)
    ax.set_xlabel(_("SGD step (full batch)"))
    ax.set_ylabel(_("training loss"))
    ax.set_title(_("toy spirals: your block stacked deep"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


# --- lesson 02 ---------------------------------------------------------------------------------------
def first_stage_spectra(depth: int, residual: bool, images: Tensor, *, width: int, size: int
                        ) -> tuple[list[Tensor], Tensor, int]:
    """Singular values of each first-stage block's Jacobian and of the whole first stage, at initialisation.

    The net (seed 0) has BN statistics from ``images`` cropped to ``size`` pixels; the Jacobians are
    taken at the first image's input to the first block. Returns (per block, stage, number of blocks).
    """
    from ..models import cifar_resnet
    from .jacobians import stage_spectra
    from .probing import calibrate_batchnorm

    torch.manual_seed(0)
    net = cifar_resnet(depth, residual=residual, width=width).to(images.device)
    xb = images[:, :, :size, :size]
    calibrate_batchnorm(net, xb)
    with torch.no_grad():
        x1 = net.relu(net.bn1(net.conv1(xb[:1])))  # input of the first block, one image
    per_block, stage = stage_spectra(net.layer1, x1)
    return per_block, stage, len(net.layer1)


def plot_spectra(spectra: Mapping[str, tuple[list[Tensor], Tensor, int]], depth: int, data: Any) -> Any:
    """Left: each first-stage block's spectrum; right: the whole stage's; plain red, residual blue."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, (per_block, stage, n_blocks) in spectra.items():
        for i, sv in enumerate(per_block):
            axes[0].semilogy(sv.numpy(), color=_kind_color(name), alpha=0.35, lw=1,
                             label=_("{name} blocks").format(name=_(name)) if i == 0 else None)
        axes[1].semilogy(stage.numpy(), color=_kind_color(name), lw=2, label=_("{name}: stage of {n_blocks} blocks").format(name=_(name), n_blocks=n_blocks))
    floor = 1e-6  # singular values below floor * largest are numerically zero (closed ReLUs, float32 round-off)
    tops = (max(float(sv[0]) for sp in spectra.values() for sv in sp[0]), max(float(sp[1][0]) for sp in spectra.values()))
    for ax, top, title in zip(axes, tops, (_("each block of stage 1"), _("whole stage 1 (product of the blocks)"))):
        ax.set_ylim(floor * top, 2 * top)
        ax.set_xlabel(_("index (largest first)"))
        ax.set_ylabel(_("singular value"))
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(data_title(_("{title}, depth {depth}, at init").format(title=title, depth=depth), data), fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def spectra_summary(spectra: Mapping[str, tuple[list[Tensor], Tensor, int]]) -> list[str]:
    """One line per net: shares of live and near-1 singular values per block, and the stage's."""
    lines = []
    for name, (per_block, stage, n_blocks) in spectra.items():
        alive = np.mean([(sv > 1e-3 * sv[0]).float().mean().item() for sv in per_block])
        near_one = np.mean([((sv > 0.5) & (sv < 2)).float().mean().item() for sv in per_block])
        lines.append(_("{name:8s}: per block, {alive:.0%} of singular values above 1e-3 x the largest, {near_one:.0%} "
                       "between 0.5 and 2; stage of {n_blocks} blocks: largest {largest:.3g}, "
                       "{stage_alive:.0%} above 1e-3 x the largest").format(
            name=_(name), alive=alive, near_one=near_one, n_blocks=n_blocks, largest=stage[0].item(),
            stage_alive=(stage > 1e-3 * stage[0]).float().mean().item()))
    return lines


def plot_gradient_norms(views: Mapping[tuple[str, str, bool], Any], depth: int, steps: int, data: Any) -> Any:
    """||dL/dW|| per layer, keyed (when, net, batchnorm) -> :class:`resnet_lab.widgets.gradients.GradientView`;
    one panel per ``when``, plain red / residual blue, BN on solid / off dotted."""
    import matplotlib.pyplot as plt

    whens = list(dict.fromkeys(w for w, __, ___ in views))
    fig, axes = plt.subplots(1, len(whens), figsize=(12, 3.8), sharey=True, squeeze=False)
    for ax, when in zip(axes[0], whens):
        for (w, net, bn), view in views.items():
            if w != when:
                continue
            norms = np.array(view.gradients.norms)
            ok = np.isfinite(norms) & (norms > 0)
            label = (_("{net}, BN on") if bn else _("{net}, BN off")).format(net=_(net)) + (
                "" if view.gradients.finite else _(" (overflowed)"))
            ax.semilogy(np.arange(1, len(norms) + 1)[ok], norms[ok], "-" if bn else ":", color=_kind_color(net),
                        lw=1.2, label=label)
        ax.set_title(data_title(_("depth {depth}, {when} (k = {steps})").format(depth=depth, when=_(when), steps=steps), data), fontsize=9)
        ax.set_xlabel(_("layer"))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("||dL/dW||")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_scale_sweep(sweep: Any) -> Any:
    """Gradient gain through one and through a stack of :class:`~resnet_lab.lessons.jacobians.ScaledBranchBlock`
    against the measured dF/dx, from :func:`~resnet_lab.lessons.jacobians.branch_scale_sweep`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.semilogy(sweep.branch_diag, sweep.block_gain, "o-", ms=3, label=_("through one block"))
    ax.semilogy(sweep.branch_diag, sweep.stack_gain, "s-", ms=3, label=_("through {blocks} blocks").format(blocks=sweep.blocks))
    ax.axvline(-1, color="k", lw=0.8, ls="--")
    ax.axhline(1, color="gray", lw=0.8)
    ax.set_xlabel(_("measured mean dF/dx (diagonal)"))
    ax.set_ylabel(_("gradient gain ||dL/dx|| / ||dL/dy||"))
    ax.set_title(_("The shortcut's +1 is cancelled when dF/dx = -1 (synthetic block, no data)"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def plot_path_gradients(results: Mapping[str, Any], counts: Sequence[int], title: str) -> Any:
    """Share of the gradient carried by each path length (one curve per :class:`~resnet_lab.lessons.paths.NetworkPaths`)
    next to the share of paths of each length (the binomial)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    for (label, res), marker in zip(results.items(), "os^"):
        norms = np.array(res.norms)
        ax.semilogy(range(res.blocks + 1), norms / norms.sum(), marker + "-", label=_("gradient, {label}").format(label=_(label)))
    share = np.array(counts, dtype=float)
    ax.semilogy(range(len(share)), share / share.sum(), "k--", label=_("share of paths (binomial)"))
    ax.set_xlabel(_("path length k (branches passed)"))
    ax.set_ylabel(_("share (normalised)"))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def data_line(data: Any) -> str:
    """Where the lesson's images come from and how the plots label them (``data.source``, ``data.label``)."""
    return _("data: {source} -> plots are labelled '{label}'").format(source=show(data.source), label=show(data.label))


def gradient_summary_lines(views: Mapping[tuple[str, str, bool], Any]) -> list[str]:
    """One line per view of :func:`plot_gradient_norms`: when it was measured, then the view's summary."""
    lines = []
    for (when, __, ___), view in views.items():
        label = _(when)
        lines.append(f"{ljust(label, 14)} {view.summary()}")
    return lines
