"""Lesson 03 widget: a BasicBlock and a Bottleneck side by side, parameters and MACs live.

``draw_block_comparison`` does the work (pytest calls it directly); ``make_block_arithmetic_widget``
wires core ipywidgets sliders to it with ``interactive_output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as widgets
import matplotlib.pyplot as plt

from ..arithmetic import Cost, basic_block_cost, bottleneck_cost
from ..i18n import N_, _
from ..models import validate_variant

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["BlockComparison", "block_comparison", "draw_block_comparison", "make_block_arithmetic_widget"]

BasicOn = Literal["output", "width"]
_BASIC_ON = ("output", "width")
_ROLE_COLORS = {  # the roles are keys (by_role); the chart's legend shows them translated
    N_("1st conv"): "tab:blue",
    N_("2nd conv"): "tab:orange",
    N_("3rd conv"): "tab:green",
    N_("projection shortcut"): "tab:purple",
    N_("BatchNorm"): "tab:gray",
}


def _role(layer_name: str) -> str:
    if layer_name.startswith("downsample"):
        return "projection shortcut"
    if layer_name.startswith("bn"):
        return "BatchNorm"
    return {"conv1": "1st conv", "conv2": "2nd conv", "conv3": "3rd conv"}[layer_name]


@dataclass
class BlockComparison:
    """Both blocks for one setting of the sliders."""

    basic: Cost
    bottleneck: Cost
    basic_in: int  # input channels of the BasicBlock
    basic_out: int  # output channels of the BasicBlock
    settings: dict[str, Any]
    figure: Figure | None = field(default=None, repr=False)

    def by_role(self, which: Literal["basic", "bottleneck"]) -> dict[str, tuple[int, int]]:
        """``{role: (params, MACs)}`` of one block; roles are the bar segments of the chart."""
        cost = self.basic if which == "basic" else self.bottleneck
        out: dict[str, tuple[int, int]] = {}
        for layer in cost:
            p, m = out.get(_role(layer.name), (0, 0))
            out[_role(layer.name)] = (p + layer.params, m + layer.macs)
        return out

    def summary(self) -> str:
        s = self.settings
        bott_out = s["width"] * s["expansion"]
        size = self.bottleneck.out_shape[1]
        lines = [
            _("input {size_in}x{size_in}, stride {stride}, output {size}x{size}").format(
                size_in=s["input_size"], stride=s["stride"], size=size),
            f"BasicBlock  {self.basic_in:>4} -> {self.basic_out:>4} -> {self.basic_out:>4}          "
            + _("params {params:>12,}   MACs {macs:>15,}").format(params=self.basic.params, macs=self.basic.macs),
            f"Bottleneck  {s['in_channels']:>4} -> {s['width']:>4} -> {s['width']:>4} -> {bott_out:>4}  "
            + _("params {params:>12,}   MACs {macs:>15,}").format(params=self.bottleneck.params,
                                                               macs=self.bottleneck.macs),
        ]
        if self.bottleneck.params:
            lines.append(_("BasicBlock / Bottleneck: params x{params:.2f}, MACs x{macs:.2f}").format(
                params=self.basic.params / self.bottleneck.params, macs=self.basic.macs / self.bottleneck.macs))
        return "\n".join(lines)


def block_comparison(
    in_channels: int = 256,
    width: int = 64,
    expansion: int = 4,
    stride: int = 1,
    input_size: int = 56,
    basic_on: BasicOn = "output",
    variant: str = "v1.5",
) -> BlockComparison:
    """Costs of a Bottleneck ``in_channels -> width -> width -> width*expansion`` and of a BasicBlock.

    ``basic_on="output"``: the BasicBlock maps ``in_channels`` to the bottleneck's output channels
    (the popular comparison at equal input and output). ``basic_on="width"``: the BasicBlock works
    on ``width`` channels (the paper's Figure 5 pairing: a 64-d BasicBlock against a 256-d
    Bottleneck). Shortcuts that change shape are 1x1 projections (option B).
    """
    if basic_on not in _BASIC_ON:
        raise ValueError(f"basic_on must be one of {_BASIC_ON}, got {basic_on!r}")
    validate_variant(variant)
    bottleneck = bottleneck_cost(in_channels, width, input_size, stride, expansion=expansion,
                                 stride_in_1x1=variant == "v1", shortcut="B")
    basic_in, basic_out = (in_channels, width * expansion) if basic_on == "output" else (width, width)
    basic = basic_block_cost(basic_in, basic_out, input_size, stride, shortcut="B")
    settings = {"in_channels": in_channels, "width": width, "expansion": expansion, "stride": stride,
                "input_size": input_size, "basic_on": basic_on, "variant": variant}
    return BlockComparison(basic, bottleneck, basic_in, basic_out, settings)


def draw_block_comparison(
    in_channels: int = 256,
    width: int = 64,
    expansion: int = 4,
    stride: int = 1,
    input_size: int = 56,
    basic_on: BasicOn = "output",
    variant: str = "v1.5",
) -> BlockComparison:
    """Draw parameters and MACs of both blocks as stacked bars (one segment per layer role), then print the numbers."""
    result = block_comparison(in_channels, width, expansion, stride, input_size, basic_on, variant)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = [f"BasicBlock\n{result.basic_in}-d", f"Bottleneck\n{in_channels}-d"]
    roles = {"basic": result.by_role("basic"), "bottleneck": result.by_role("bottleneck")}
    for ax, index, unit, scale in ((axes[0], 0, _("parameters (x 10^3)"), 1e3),
                                   (axes[1], 1, _("multiply-adds (x 10^6)"), 1e6)):
        bottom = [0.0, 0.0]
        for role, color in _ROLE_COLORS.items():
            heights = [roles[w].get(role, (0, 0))[index] / scale for w in ("basic", "bottleneck")]
            if any(heights):
                ax.bar(labels, heights, bottom=bottom, color=color, label=_(role), edgecolor="white", linewidth=0.5)
                bottom = [b + h for b, h in zip(bottom, heights)]
        for x, total in enumerate(bottom):
            ax.text(x, total, f"{total:,.1f}", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0, max(bottom) * 1.15 or 1)
        ax.set_ylabel(unit)
    axes[0].set_title(_("parameters"))
    axes[1].set_title(_("multiply-adds at {size}x{size} input").format(size=input_size))
    handles, names = axes[0].get_legend_handles_labels()  # every role has parameters; BN has no MACs
    axes[1].legend(handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    result.figure = fig
    plt.show()
    print(result.summary())  # after the figure: see resnet_lab.widgets.gradients.GradientExplorer.draw
    return result


def make_block_arithmetic_widget(
    in_channels: int = 256,
    width: int = 64,
    expansion: int = 4,
    stride: int = 1,
    input_size: int = 56,
    basic_on: BasicOn = "output",
    variant: str = "v1.5",
) -> widgets.VBox:
    """Sliders for the two blocks; the returned VBox has ``.controls`` (name -> widget) and
    ``.results`` (a list holding the :class:`BlockComparison` on screen)."""
    block_comparison(in_channels, width, expansion, stride, input_size, basic_on, variant)  # validate first
    style = {"description_width": "120px"}
    layout = widgets.Layout(width="460px")
    controls: dict[str, widgets.Widget] = {
        "in_channels": widgets.IntSlider(value=in_channels, min=16, max=2048, step=16, description=_("input channels"),
                                         style=style, layout=layout),
        "width": widgets.IntSlider(value=width, min=16, max=512, step=16, description=_("bottleneck width"),
                                   style=style, layout=layout),
        "expansion": widgets.IntSlider(value=expansion, min=1, max=8, description=_("expansion"), style=style,
                                       layout=layout),
        "stride": widgets.ToggleButtons(options=[1, 2], value=stride, description=_("stride"), style=style),
        "input_size": widgets.IntSlider(value=input_size, min=7, max=224, description=_("input size (px)"),
                                        style=style, layout=layout),
        "basic_on": widgets.ToggleButtons(
            options=[(_("same in/out as the bottleneck"), "output"), (_("bottleneck width (Figure 5)"), "width")],
            value=basic_on, description=_("BasicBlock on"), style=style),
        "variant": widgets.ToggleButtons(
            options=[(_("v1: stride on 1x1"), "v1"), (_("v1.5: stride on 3x3"), "v1.5")], value=variant,
            description=_("bottleneck"), style=style),
    }
    results: list[BlockComparison] = []

    def update(**kwargs: Any) -> None:
        for previous in results:  # keep only the picture on screen
            if previous.figure is not None:
                plt.close(previous.figure)
        results[:] = [draw_block_comparison(**kwargs)]

    out = widgets.interactive_output(update, controls)
    box = widgets.VBox([*controls.values(), out])
    box.controls = controls  # type: ignore[attr-defined]
    box.results = results  # type: ignore[attr-defined]
    return box
