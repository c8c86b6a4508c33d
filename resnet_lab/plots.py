"""The lessons' figures and their shared conventions (colors, titles that name the data).

Each ``plot_*`` draws one result computed in :mod:`resnet_lab.lessons` and returns the figure
without showing it (the notebook ends the cell with ``plt.show()``). matplotlib is imported
only when a figure is drawn, and the lesson modules only inside the functions that need them:
lower layers (the trainer's live plot) import this module for its conventions alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .data import show
from .i18n import N_, _

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .lessons.degradation import DegradationResult
    from .lessons.landscape import Slice1D, Slice2D
    from .lessons.lesions import LesionResult, RandomLesionResult
    from .train import History

__all__ = [
    "data_title",
    "run_title",
    "PLAIN_COLOR",
    "RESIDUAL_COLOR",
    "net_color",
    "plot_error_curves",
    "plot_activation_stats",
    "plot_lesion",
    "plot_random_lesion",
    "plot_slices",
    "plot_histories",
    "plot_figure7",
]

_NETS_TITLE = {"plain": N_("plain nets"), "residual": N_("residual nets")}

PLAIN_COLOR = "tab:red"
RESIDUAL_COLOR = "tab:blue"


def data_title(title: str, data: Any) -> str:
    """A plot title that names the data, e.g. ``"Training error (synthetic stand-in, not CIFAR-10)"``.

    ``data`` is a :class:`resnet_lab.data.ImageData` (its ``label``) or a plain string. ``title`` is shown
    as given (translate it with ``_`` first); the data's label is put in the learner's language here.
    """
    label = getattr(data, "label", data)
    return _("{title} ({data})").format(title=title, data=show(label))


# --- lesson 01 ---------------------------------------------------------------------------------------
def _mean_curves(runs: Sequence[dict[str, Any]]) -> tuple[list[int], list[float], list[float], list[float], list[float]]:
    """Iterations, mean train and val error (%), and the seeds' min/max train error, over runs that
    share their evaluation points (a diverged run counts up to where it stopped)."""
    longest = max(runs, key=lambda r: len(r["iters"]))
    it = list(longest["iters"])
    tr, va, lo, hi = [], [], [], []
    for i in range(len(it)):
        t = [100 * r["train_error"][i] for r in runs if i < len(r["train_error"]) and r["train_error"][i] is not None]
        v = [100 * r["val_error"][i] for r in runs if i < len(r["val_error"]) and r["val_error"][i] is not None]
        tr.append(sum(t) / len(t) if t else math.nan)
        va.append(sum(v) / len(v) if v else math.nan)
        lo.append(min(t) if t else math.nan)
        hi.append(max(t) if t else math.nan)
    return it, tr, va, lo, hi


def _draw_reference_errors(ax: Any, reference: Any, kind: str, colors: Mapping[int, Any]) -> None:
    """The reference run's mean training error per depth, thin and faint, one short legend entry for all
    (the full provenance, :meth:`Reference.caption`, is printed by the lesson under the figure)."""
    runs = reference.results["runs"]
    first = True
    for d in sorted({r["depth"] for r in runs}):
        mine = [r for r in runs if r["depth"] == d and r["kind"] == kind]
        if not mine:
            continue
        it, tr, *_unused = _mean_curves(mine)
        color = colors.get(d, "0.5")
        ax.plot(it, tr, ":", color=color, lw=1.0, alpha=0.45,
                label=_("reference: {profile} profile (dotted, train error)").format(profile=reference.profile)
                if first else None)
        first = False
    if not first:
        ax.text(0.99, 0.01, _("dotted: reference run"), transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, color="0.4")

def plot_error_curves(result: DegradationResult, *, axes: Sequence[Any] | None = None, seed: int | None = None,
                      reference: Any = None) -> Any:
    """Figure 6 of the paper: error against iteration, plain (left) and residual (right).

    Dashed: training error; bold: validation error. With several seeds, the curves are the mean
    over seeds and a band spans the seeds' training errors (``seed=`` draws one seed instead). A
    diverged run ends in an "x" at the iteration where its loss became NaN/inf and says "diverged"
    in the legend. ``reference`` (a :class:`resnet_lab.references.Reference` of lesson 01) draws
    the recorded run's training errors faintly behind, labelled as the reference.
    """
    import matplotlib.pyplot as plt

    from .lessons.toy import KINDS

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    else:
        fig = axes[0].figure
    depths = result.config.depths
    cmap = plt.get_cmap("viridis")
    colors = {d: cmap(0.85 * i / max(1, len(depths) - 1)) for i, d in enumerate(depths)}
    seeds = list(result.config.seeds) if seed is None else [seed]
    for ax, kind in zip(axes, KINDS):
        if reference is not None:
            _draw_reference_errors(ax, reference, kind, colors)
        for d in depths:
            runs = [result.run(d, kind, s) for s in seeds]
            it, tr, va, tr_lo, tr_hi = _mean_curves(runs)
            label = f"{kind}-{d}"
            diverged = [r for r in runs if r["diverged"]]
            if diverged:
                label = _("{net} (diverged at it. {iteration})").format(net=label, iteration=diverged[0]["diverged_at"])
            ax.plot(it, tr, "--", color=colors[d], lw=1.2)
            if len(runs) > 1:
                ax.fill_between(it, tr_lo, tr_hi, color=colors[d], alpha=0.15, lw=0)
            ax.plot(it, va, "-", color=colors[d], lw=2.5, label=label)
            for r in diverged:
                x_end = r["diverged_at"]
                ax.plot([x_end], [90.0], "x", color="black", ms=10, mew=2.5)
        ax.set_title(data_title(_(_NETS_TITLE[kind]), result.data_label), color=PLAIN_COLOR if kind == "plain" else RESIDUAL_COLOR)
        ax.set_xlabel(_("iteration"))
        ax.grid(alpha=0.3)
        legend_title = (_("dashed: train, bold: val, mean of {n} seeds").format(n=len(seeds)) if len(seeds) > 1
                        else _("dashed: train, bold: val"))
        ax.legend(fontsize=8, title=legend_title, title_fontsize=8)
    axes[0].set_ylabel(_("error (%)"))
    fig.tight_layout()
    return fig


def plot_activation_stats(stats: dict[str, Any], data: Any = "synthetic stand-in") -> Any:
    """Two panels: std of each block's output, and of the gradient reaching it, plain vs residual."""
    import matplotlib.pyplot as plt

    from .lessons.toy import KINDS

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for kind, color in zip(KINDS, (PLAIN_COLOR, RESIDUAL_COLOR)):
        axes[0].plot(stats["blocks"], stats["act_std"][kind], "o-", color=color, ms=3, label=f"{kind}-{stats['depth']}")
        axes[1].semilogy(stats["blocks"], stats["grad_std"][kind], "o-", color=color, ms=3, label=f"{kind}-{stats['depth']}")
    axes[0].set_title(data_title(_("block output std at init"), data))
    axes[1].set_title(data_title(_("gradient std at init"), data))
    for ax in axes:
        ax.set_xlabel(_("block (input side -> output side)"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylim(bottom=0)
    fig.tight_layout()
    return fig


# --- lesson 05 ---------------------------------------------------------------------------------------
def net_color(name: str) -> str:
    """The color of a net in the lessons' figures, from its name: plain red, residual/original blue, else green."""
    return PLAIN_COLOR if "plain" in name else (RESIDUAL_COLOR if "resid" in name or "orig" in name else "tab:green")


def plot_lesion(results: Mapping[str, LesionResult], *, num_classes: int = 10, ax: Any = None) -> Figure:
    """Accuracy against the deleted block, one line per net; downsampling blocks shaded."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.8))
    else:
        fig = ax.figure
    first = next(iter(results.values()))
    for b in first.blocks:
        if b.downsampling:
            ax.axvspan(b.index - 0.5, b.index + 0.5, color="0.88", zorder=0)
    for name, r in results.items():
        c = net_color(name)
        idx = [b.index for b in r.blocks]
        ax.plot(idx, [100 * a for a in r.accuracy], "o-", color=c, label=_("{net}: one block deleted").format(net=_net(name)))
        ax.axhline(100 * r.baseline_accuracy, color=c, ls="--", lw=1,
                   label=_("{net}: no block deleted").format(net=_net(name)))
    ax.axhline(100 / num_classes, color="0.4", ls=":", lw=1, label=_("chance"))
    ax.set_xticks([b.index for b in first.blocks])
    ax.set_xticklabels([f"{b.index}\n{b.name}" for b in first.blocks], fontsize=7)
    ax.set_xlabel(_("deleted block (grey: downsampling block)"))
    ax.set_ylabel(_("accuracy (%)"))
    ax.set_ylim(0, 100)
    ax.set_title(data_title(_("Lesion study: delete one block at test time"), first.label))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_random_lesion(
    results: Mapping[str, RandomLesionResult], k: int, *, num_classes: int = 10, lengths: Sequence[int] = (1, 2, 3)
) -> Figure:
    """Three panels for ``k`` deleted blocks: path lengths before/after, accuracy against k, and the
    accuracy kept (above chance) next to the fraction of paths of each length that survive."""
    import matplotlib.pyplot as plt

    from .lessons.lesions import retention
    from .lessons.paths import path_counts, surviving_fraction_of_length, surviving_path_counts, surviving_path_fraction

    first = next(iter(results.values()))
    n = first.n_blocks
    chance = 1 / num_classes
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 3.9))
    ls = list(range(n + 1))
    ax1.bar([x - 0.2 for x in ls], path_counts(n), width=0.4, color="0.6", label=_("all 2^{n} = {count} paths").format(n=n, count=2 ** n))
    ax1.bar([x + 0.2 for x in ls], surviving_path_counts(n, k), width=0.4, color="tab:blue",
            label=_("2^{m} = {count} avoid the {k} deleted").format(m=n - k, count=2 ** (n - k), k=k))
    ax1.set_xlabel(_("path length l (residual branches on the path)"))
    ax1.set_ylabel(_("number of paths"))
    ax1.set_title(_("{n} blocks: comb({n}, l) paths of length l").format(n=n), fontsize=10)
    ax1.legend(fontsize=8)
    for name, r in results.items():
        c = net_color(name)
        ks = r.ks
        ax2.errorbar(ks, [100 * r.mean(j) for j in ks], yerr=[100 * r.std(j) for j in ks], fmt="o-", color=c,
                     capsize=3, label=_("{net}: mean ± std over sets").format(net=_net(name)))
        if k in r.accuracy:
            ax2.scatter([k] * len(r.accuracy[k]), [100 * a for a in r.accuracy[k]], color=c, s=14, alpha=0.5)
        if 0 in r.accuracy and r.mean(0) > chance:
            kept = retention(r, chance)
            ax3.plot(ks, [kept[j] for j in ks], "o-", color=c, label=_("{net}: accuracy kept").format(net=_net(name)))
    for length, style in zip(lengths, ("--", "-.", ":", (0, (1, 3)))):
        if length <= n:
            ks = first.ks
            ax3.plot(ks, [surviving_fraction_of_length(n, j, length) for j in ks], ls=style, color="0.35",
                     label=_("paths of length {length} left").format(length=length))
    ax3.plot(first.ks, [surviving_path_fraction(n, j) for j in first.ks], color="0.75", lw=3, zorder=0,
             label=_("all paths left (2^-k)"))
    for ax in (ax2, ax3):
        ax.axvline(k, color="0.6", lw=1)
        ax.set_xlabel(_("k, blocks deleted at random"))
        ax.set_xticks(first.ks)
    ax2.axhline(100 * chance, color="0.4", ls=":", lw=1, label=_("chance"))
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(_("accuracy (%)"))
    ax2.set_title(data_title(_("Random k-block lesions"), first.label), fontsize=10)
    ax2.legend(fontsize=7)
    ax3.axhline(0, color="0.4", lw=0.8)
    ax3.set_ylim(-0.15, 1.1)
    ax3.set_ylabel(_("fraction kept"))
    ax3.set_title(_("accuracy above chance kept vs paths kept"), fontsize=10)
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_slices(slices_1d: Mapping[str, Slice1D], slices_2d: Mapping[str, Slice2D], *, max_loss: float | None = None) -> Figure:
    """The 1-D slices of all nets in one panel, then one contour plot per 2-D slice, same levels."""
    import matplotlib.pyplot as plt
    import numpy as np

    label = next(iter(slices_1d.values())).label
    fig, axes = plt.subplots(1, 1 + len(slices_2d), figsize=(4.4 * (1 + len(slices_2d)) + 1, 4.1), layout="constrained")
    ax = axes[0]
    for name, s in slices_1d.items():
        ax.plot(s.alphas, s.loss, "o-", ms=3, color=net_color(name), label=_net(name))
    ax.set_xlabel(_("alpha (step along a filter-normalised direction)"))
    ax.set_ylabel(_("loss"))
    ax.set_title(_("1-D slices"))
    ax.legend(fontsize=8)
    all_losses = np.array([v for s in slices_2d.values() for row in s.loss for v in row])
    lo = float(all_losses.min())
    hi = float(all_losses.max()) if max_loss is None else min(float(all_losses.max()), max_loss)
    levels = np.geomspace(max(lo, 1e-3), max(hi, lo * 1.01 + 1e-3), 16)
    for ax, (name, s) in zip(axes[1:], slices_2d.items()):
        z = np.clip(np.array(s.loss), None, levels[-1])
        cs = ax.contourf(s.alphas, s.betas, z, levels=levels, cmap="viridis",
                         norm=plt.matplotlib.colors.LogNorm(levels[0], levels[-1]))
        ax.contour(s.alphas, s.betas, z, levels=levels, colors="k", linewidths=0.4)
        ax.plot([0], [0], "r*", ms=9)
        ax.set_title(_("2-D slice: {net}").format(net=_net(name)))
        ax.set_xlabel(_("alpha (direction 1)"))
        ax.set_ylabel(_("beta (direction 2)"))
        ax.set_aspect("equal")
    bar = fig.colorbar(cs, ax=list(axes[1:]), label=_("loss (log scale, same levels in every panel)"))
    ticks = levels[::3]
    bar.set_ticks(ticks, labels=[f"{v:.3g}" for v in ticks])
    bar.minorticks_off()
    fig.suptitle(data_title(_("Loss around the trained weights"), label), fontsize=11)
    return fig


def plot_histories(histories: Mapping[str, History], *, title: str | None = None, reference: Any = None,
                   reference_histories: Mapping[str, Mapping[str, Any]] | None = None) -> Figure:
    """Training loss and validation accuracy per epoch for each run (x axis: SGD steps).

    ``reference`` (a :class:`resnet_lab.references.Reference`) with ``reference_histories`` (name ->
    recorded history as a dict of lists) draws those runs faintly behind, labelled as the reference.
    ``title`` (default "Training", in the learner's language) is shown as given.
    """
    import matplotlib.pyplot as plt

    title = _("Training") if title is None else title
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    label = ""
    if reference is not None and reference_histories:
        for i, (name, h) in enumerate(reference_histories.items()):
            c = net_color(name)
            tag = _("{net}, reference ({profile} profile)").format(net=name, profile=reference.profile)
            ax1.plot(h["step"], h["train_loss"], ":", color=c, lw=1.2, alpha=0.5, label=tag)
            ax2.plot(h["step"], [100 * (a or 0.0) for a in h["val_acc"]], ":", color=c, lw=1.2, alpha=0.5,
                     label=_("{net}, reference").format(net=name))
    colors = {name: net_color(name) for name in histories}
    if len(set(colors.values())) < len(colors):  # names that share a color (e.g. three variants): one each
        colors = {name: f"C{i}" for i, name in enumerate(histories)}
    for name, h in histories.items():
        c = colors[name]
        ax1.plot(h.step, h.train_loss, "o-", ms=3, color=c, label=name)
        ax2.plot(h.step, [100 * (a or 0.0) for a in h.val_acc], "o-", ms=3, color=c, label=name)
        label = h.meta.get("data", label)
    ax1.set_xlabel(_("SGD steps"))
    ax1.set_ylabel(_("training loss (per epoch)"))
    ax2.set_xlabel(_("SGD steps"))
    ax2.set_ylabel(_("validation accuracy (%)"))
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.suptitle(data_title(title, label), fontsize=11)
    fig.tight_layout()
    return fig


# --- lesson 02: Figure 7 ------------------------------------------------------------------------------
def plot_figure7(stds: Mapping[tuple[int, str], Sequence[float]], data_label: str, *, reference: Any = None,
                 ax: Any = None) -> Any:
    """The paper's Figure 7: the std of each block's response in forward order, plain (red) and residual
    (blue), darker for deeper nets; ``reference`` (lesson 02's) is drawn faintly behind, dotted."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.8))
    else:
        fig = ax.figure
    depths = sorted({d for d, __ in stds})

    def style(depth: int, kind: str, all_depths: Sequence[int]) -> dict[str, Any]:
        return dict(color=PLAIN_COLOR if kind == "plain" else RESIDUAL_COLOR,
                    alpha=0.45 + 0.55 * (all_depths.index(depth) + 1) / len(all_depths) if depth in all_depths else 0.6)

    if reference is not None:
        ref = {tuple((int(k.split("-")[1]), k.split("-")[0])): v for k, v in reference.results["stds"].items()}
        ref_depths = sorted({d for d, __ in ref})
        for i, ((d, kind), v) in enumerate(sorted(ref.items())):
            ax.plot(range(1, len(v) + 1), v, ":", lw=1.0, color=style(d, kind, ref_depths)["color"], alpha=0.4,
                    label=_("reference: {profile} profile (dotted)").format(profile=reference.profile)
                    if i == 0 else None)
    for d in depths:
        for kind in ("plain", "residual"):
            if (d, kind) in stds:
                v = stds[(d, kind)]
                ax.plot(range(1, len(v) + 1), v, "-", lw=1.6, label=f"{kind}-{d}", **style(d, kind, depths))
    ax.set_xlabel(_("block (forward order)"))
    ax.set_ylabel(_("std of the block's response"))
    ax.set_title(data_title(_("Figure 7: layer responses of the trained nets"), data_label), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _net(name: str) -> str:
    """A net's key as the learner reads it: "plain" and "residual" translated, other names (resnet20) as they are."""
    return _(name) if name in ("plain", "residual") else name


def run_title(name: str, profile_name: str) -> str:
    """Title of the figure of the learner's own run of ``name`` in profile ``profile_name``."""
    return _("{name}: your {profile} run").format(name=name, profile=profile_name)
