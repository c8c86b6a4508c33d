"""The paper's quoted figures, the comparison tables of lesson 03 and the stage bar chart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..i18n import _
from ..models import PAPER_CIFAR_DEPTHS, count_parameters
from .layers import Cost, LayerCost
from .networks import IMAGENET_NAMES, build_imagenet, build_torchvision, cifar_resnet_cost, imagenet_resnet_cost

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "PAPER_TABLE1_FLOPS",
    "PAPER_TABLE6_PARAMS",
    "imagenet_rows",
    "cifar_rows",
    "format_table",
    "variant_differences",
    "plot_stage_macs",
]


# --- the paper's figures (facts quoted from the paper, not computed) ------------------------------
# He, Zhang, Ren, Sun (2015), "Deep Residual Learning for Image Recognition", arXiv:1512.03385,
# Table 1, last row "FLOPs" (multiply-adds at 224x224): 1.8, 3.6, 3.8, 7.6, 11.3 x 10^9.
PAPER_TABLE1_FLOPS: dict[str, float] = {
    "resnet18": 1.8e9,
    "resnet34": 3.6e9,
    "resnet50": 3.8e9,
    "resnet101": 7.6e9,
    "resnet152": 11.3e9,
}
# Same paper, Table 6 (CIFAR-10), column "# params": 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M.
PAPER_TABLE6_PARAMS: dict[int, float] = dict(zip(PAPER_CIFAR_DEPTHS, (0.27e6, 0.46e6, 0.66e6, 0.85e6, 1.7e6, 19.4e6)))


# --- tables ---------------------------------------------------------------------------------------
def imagenet_rows(*, count_with_pytorch: bool = True) -> list[dict[str, object]]:
    """One row per ImageNet ResNet: parameters (formula, our model, torchvision), MACs of v1 and v1.5
    by formula, and the paper's Table 1 figure. PyTorch counts use meta-device models."""
    rows: list[dict[str, object]] = []
    for name in IMAGENET_NAMES:
        v1 = imagenet_resnet_cost(name, variant="v1")
        v15 = imagenet_resnet_cost(name, variant="v1.5")
        row: dict[str, object] = {"network": name, "params (formula)": v1.params}
        if count_with_pytorch:
            row["params (our model)"] = count_parameters(build_imagenet(name))
            row["params (torchvision)"] = count_parameters(build_torchvision(name))
        row["GMACs v1"] = v1.macs / 1e9
        row["paper Table 1"] = PAPER_TABLE1_FLOPS[name] / 1e9
        row["GMACs v1.5"] = v15.macs / 1e9
        rows.append(row)
    return rows


def cifar_rows(depths: Iterable[int] = PAPER_CIFAR_DEPTHS) -> list[dict[str, object]]:
    """One row per CIFAR depth: parameters and MACs (at 32x32) with shortcut A and B, by formula,
    and the paper's Table 6 parameter count where the paper gives one."""
    rows: list[dict[str, object]] = []
    for depth in depths:
        a, b = cifar_resnet_cost(depth, shortcut="A"), cifar_resnet_cost(depth, shortcut="B")
        paper = PAPER_TABLE6_PARAMS.get(depth)
        rows.append({
            "depth": depth, "n": (depth - 2) // 6,
            "params A": a.params, "params B": b.params,
            "paper params": f"{paper / 1e6:g}M" if paper is not None else "-",
            "MMACs A": a.macs / 1e6, "MMACs B": b.macs / 1e6,
        })
    return rows


def format_table(rows: list[dict[str, object]], plain: tuple[str, ...] = ("depth", "n")) -> str:
    """Rows of equal keys as a fixed-width text table; integers get thousands separators except
    in the ``plain`` columns."""
    if not rows:
        return ""

    def fmt(value: object) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.3f}"
        return str(value)

    keys = list(rows[0])
    cells = [[str(row[key]) if key in plain else fmt(row[key]) for key in keys] for row in rows]
    widths = [max(len(key), *(len(r[i]) for r in cells)) for i, key in enumerate(keys)]
    lines = ["  ".join(key.rjust(w) for key, w in zip(keys, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def variant_differences(name: str = "resnet50", input_size: int = 224) -> list[tuple[LayerCost, LayerCost]]:
    """The layers whose MACs differ between v1 and v1.5, as ``(v1 layer, v1.5 layer)`` pairs."""
    v1 = imagenet_resnet_cost(name, variant="v1", input_size=input_size)
    v15 = imagenet_resnet_cost(name, variant="v1.5", input_size=input_size)
    return [(a, b) for a, b in zip(v1.layers, v15.layers) if a.macs != b.macs]


def plot_stage_macs(
    costs: dict[str, Cost], *, reference: dict[str, float] | None = None, reference_label: str | None = None,
    title: str | None = None, input_size: int | None = None,
) -> Figure:
    """Stacked bars: one bar per network, one segment per stage (stem, layer1..., head), in GMACs.

    ``reference`` (network -> multiply-adds) draws a black tick at a quoted figure for comparison, labelled
    ``reference_label`` (default "paper, Table 1"). ``title`` defaults to "Multiply-adds per stage at
    {input_size}x{input_size} (v1, formula)" (with ``input_size``) or "Where the multiply-adds go"; both
    defaults are in the learner's language, a given title is shown as given."""
    import matplotlib.pyplot as plt

    reference_label = _("paper, Table 1") if reference_label is None else reference_label
    if title is None:
        title = (_("Where the multiply-adds go") if input_size is None
                 else _("Multiply-adds per stage at {size}x{size} (v1, formula)").format(size=input_size))

    stages: list[str] = []
    for cost in costs.values():
        stages += [s for s in cost.by_stage() if s not in stages]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    names = list(costs)
    bottom = [0.0] * len(names)
    colors = plt.get_cmap("viridis")
    for i, stage in enumerate(stages):
        heights = [costs[n].by_stage().get(stage, (0, 0))[1] / 1e9 for n in names]
        ax.bar(names, heights, bottom=bottom, label=stage, color=colors(i / max(1, len(stages) - 1)),
               edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights)]
    reference = reference or {}
    refs = [reference[n] / 1e9 if n in reference else None for n in names]
    for x, (total, ref) in enumerate(zip(bottom, refs)):
        top = total if ref is None else max(total, ref)
        label = f"{total:.2f} G" if ref is None else f"{total:.2f} G\n({reference_label}: {ref:g})"
        ax.text(x, top + 0.01 * max(bottom), label, ha="center", va="bottom", fontsize=8)
    if any(r is not None for r in refs):
        xs = [x for x, r in enumerate(refs) if r is not None]
        ax.hlines([refs[x] for x in xs], [x - 0.42 for x in xs], [x + 0.42 for x in xs], colors="black",
                  linewidth=2, zorder=3, label=reference_label)
    ax.set_ylabel(_("multiply-adds (x 10^9)"))
    ax.set_ylim(0, max(bottom) * 1.2)
    ax.set_title(title)
    ax.legend(title=_("stage"), loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


