"""Lesson 01 widget: train plain and residual toy MLPs of a chosen depth and compare them.

``draw_toy_comparison`` does the work (and returns what it drew, so pytest can check it);
``make_degradation_widget`` wires core ipywidgets controls to it with ``interactive_output``.
"""

from __future__ import annotations

import math
from typing import Any

from ..i18n import N_, _
from ..lessons.degradation import net_name
from ..lessons.toy import KINDS, ToyRun, toy_decision_grid, train_toy, two_spirals
from ..plots import PLAIN_COLOR, RESIDUAL_COLOR

__all__ = ["SHORTCUT_OPTIONS", "WIDTH_OPTIONS", "draw_toy_comparison", "make_degradation_widget"]

# Shortcut control: which nets to train. "both" puts plain and residual side by side.
SHORTCUT_OPTIONS: dict[str, tuple[str, ...]] = {"off": ("plain",), "on": ("residual",), "both": KINDS}
WIDTH_OPTIONS: tuple[int, ...] = (8, 16, 32)
_COLORS = {"plain": PLAIN_COLOR, "residual": RESIDUAL_COLOR}
_SHORTCUT_LABELS = {"off": N_("off"), "on": N_("on"), "both": N_("both")}  # what the buttons show


def draw_toy_comparison(
    depth: int,
    width: int = 16,
    lr: float = 0.1,
    shortcuts: str = "both",
    *,
    steps: int = 150,
    points: int = 256,
    seed: int = 0,
    show: bool = True,
) -> dict[str, Any]:
    """Train the toy nets of ``depth`` layers, draw their loss curves and decision regions.

    Returns ``{"run": ToyRun, "figure": Figure, "seconds": float}``. A diverged net is drawn up to
    the step where its loss became NaN/inf, with an "x" there and "diverged" in its legend.
    """
    import matplotlib.pyplot as plt

    if shortcuts not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcuts must be one of {tuple(SHORTCUT_OPTIONS)}, got {shortcuts!r}")
    kinds = SHORTCUT_OPTIONS[shortcuts]
    x, y = two_spirals(points, seed=seed)
    run: ToyRun = train_toy(depth, width=width, lr=lr, steps=steps, kinds=kinds, seed=seed, data=(x, y))
    assert run.model is not None
    xs, ys, probs = toy_decision_grid(run.model)
    fig, axes = plt.subplots(1, 1 + len(kinds), figsize=(4.2 * (1 + len(kinds)), 3.6))
    ax = axes[0]
    for kind in kinds:
        curve = run.losses[kind]
        label = _("{net}: final loss {loss:.3f}").format(net=_(kind), loss=run.final_loss[kind])
        if run.diverged[kind]:
            last = max((i for i, v in enumerate(curve) if math.isfinite(v)), default=0)
            label = _("{net}: diverged at step {step}").format(net=_(kind), step=last + 1)
            ax.plot([last], [curve[last] if math.isfinite(curve[last]) else 1.0], "x", color="black", ms=10, mew=2)
        ax.semilogy(range(1, len(curve) + 1), curve, color=_COLORS[kind], label=label)
    ax.set_xlabel(_("step (full batch)"))
    ax.set_ylabel(_("training loss"))
    ax.set_title(_("depth {depth}, width {width}, lr {lr:g}").format(depth=depth, width=width, lr=lr))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for i, kind in enumerate(kinds):
        a = axes[1 + i]
        a.contourf(xs, ys, probs[i], levels=[0, 0.5, 1], colors=["#f3c7c7", "#c7d7f3"], alpha=0.8)
        a.scatter(x[:, 0], x[:, 1], c=["tab:red" if v == 0 else "tab:blue" for v in y.tolist()], s=6)
        err = run.final_error[kind]
        title = f"{net_name(kind, depth)}: " + (_("diverged") if run.diverged[kind]
                                       else _("train error {error:.1f}%").format(error=100 * err))
        a.set_title(title, color=_COLORS[kind])
        a.set_xticks([])
        a.set_yticks([])
        a.set_aspect("equal")
    fig.tight_layout()
    if show:
        plt.show()
    return {"run": run, "figure": fig, "seconds": run.seconds}


def make_degradation_widget(profile: Any, *, seed: int = 0) -> Any:
    """Depth slider, width, learning rate and shortcuts (off / on / both) -> :func:`draw_toy_comparison`.

    Sizes come from ``profile.degradation`` (deepest depth, steps, points). Sliders retrain only
    when released (``continuous_update=False``). Returns a VBox whose ``.controls`` dict holds the
    controls, so code (and tests) can set ``.value`` on them.
    """
    import ipywidgets as w

    b = profile.degradation
    depth = w.IntSlider(value=min(20, b.toy_max_depth), min=4, max=b.toy_max_depth, step=2, description=_("depth"),
                        continuous_update=False)
    width = w.Dropdown(options=list(WIDTH_OPTIONS), value=16, description=_("width"))
    lr = w.FloatLogSlider(value=0.1, base=10, min=-3, max=0.5, step=0.25, description="lr", continuous_update=False,
                          readout_format=".3g")
    shortcuts = w.ToggleButtons(options=[(_(_SHORTCUT_LABELS[k]), k) for k in SHORTCUT_OPTIONS], value="both",
                                description=_("shortcuts"))

    def draw(depth: int, width: int, lr: float, shortcuts: str) -> None:
        draw_toy_comparison(depth, width, lr, shortcuts, steps=b.toy_steps, points=b.toy_points, seed=seed)

    controls = {"depth": depth, "width": width, "lr": lr, "shortcuts": shortcuts}
    out = w.interactive_output(draw, controls)
    box = w.VBox([w.HBox([depth, width]), w.HBox([lr, shortcuts]), out])
    box.controls = controls  # type: ignore[attr-defined]
    box.output = out  # type: ignore[attr-defined]
    return box
