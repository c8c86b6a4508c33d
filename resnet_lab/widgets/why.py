"""Lesson 05 widget: random k-block lesions next to the binomial path-length view, k on a slider.

The accuracies are measured once (:func:`resnet_lab.lessons.lesions.random_lesion_study`); the slider only
redraws, so moving it costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import _
from ..lessons.lesions import RandomLesionResult
from ..lessons.paths import surviving_path_fraction
from ..plots import plot_random_lesion

__all__ = ["draw_random_lesion", "make_random_lesion_widget"]


def draw_random_lesion(results: Mapping[str, RandomLesionResult], k: int) -> dict[str, Any]:
    """Draw the figure for ``k`` deleted blocks, show it, and return what it shows.

    Returns ``{"k", "fraction_of_paths", "mean_accuracy": {net: mean or None}, "figure"}``.
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results must name at least one net, e.g. {'residual': RandomLesionResult}")
    first = next(iter(results.values()))
    if not 0 <= k <= first.n_blocks:
        raise ValueError(f"k must be in 0..{first.n_blocks}, got {k}")
    fig = plot_random_lesion(results, k)
    means = {name: (r.mean(k) if k in r.accuracy else None) for name, r in results.items()}
    plt.show()
    return {"k": k, "fraction_of_paths": surviving_path_fraction(first.n_blocks, k), "mean_accuracy": means, "figure": fig}


def make_random_lesion_widget(results: Mapping[str, RandomLesionResult]) -> tuple[Any, Any, list[dict[str, Any]]]:
    """An IntSlider for k (the values measured) wired to :func:`draw_random_lesion`.

    Returns ``(box, slider, drawn)``: the VBox to display, the slider (set ``.value`` to redraw) and
    a list that receives the return value of every redraw.
    """
    import ipywidgets as widgets

    if not results:
        raise ValueError("results must name at least one net, e.g. {'residual': RandomLesionResult}")
    ks = next(iter(results.values())).ks
    slider = widgets.IntSlider(value=min(1, ks[-1]), min=ks[0], max=ks[-1], step=1,
                               description=_("k deleted"), continuous_update=False)
    drawn: list[dict[str, Any]] = []

    def _draw(k: int) -> None:
        drawn.append(draw_random_lesion(results, k))

    out = widgets.interactive_output(_draw, {"k": slider})
    return widgets.VBox([slider, out]), slider, drawn
