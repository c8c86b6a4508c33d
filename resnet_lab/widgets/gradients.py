"""Lesson 02 widget: per-layer gradient norms of a plain or residual net of any CIFAR depth.

:func:`make_gradient_widget` builds the controls (depth slider, plain/residual, BatchNorm on/off,
at initialisation or after ``k`` SGD steps) and wires them to :meth:`GradientExplorer.draw`,
which pytest can call directly. Every net is built once per setting and cached, together with
its training progress, so moving back to a setting already seen answers at once.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..data import ImageData, get_dataset, show
from ..i18n import N_, _
from ..models import cifar_depths
from ..plots import PLAIN_COLOR, RESIDUAL_COLOR, data_title
from ..lessons.gradients import GradientRun, LayerGradients
from ..lessons.probing import probe_batches
from ..profiles import Profile, get_profile

__all__ = ["GradientExplorer", "GradientView", "make_gradient_widget", "torch_threads", "NETS", "WHEN"]

NETS = ("residual", "plain")
WHEN = ("at init", "after k steps")
_WHEN_LABELS = (N_("at init"), N_("after k steps"))  # what the buttons show (WHEN are the values)
_NET_LABELS = {"residual": N_("residual"), "plain": N_("plain")}


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (``None``: unchanged), then restore the previous number.

    On a small CPU shared with other jobs, two busy-waiting threads per op can be ten times slower
    than one (measured on the project's 2-core machine), so the slider computes with one thread.
    """
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class GradientView:
    """What one slider setting showed: the gradient norms, their first/last ratio and the time taken."""

    depth: int
    residual: bool
    batchnorm: bool
    steps: int
    gradients: LayerGradients
    seconds: float
    figure: Figure | None

    @property
    def ratio(self) -> float:
        return self.gradients.first_last_ratio

    def summary(self) -> str:
        net = f"{'residual' if self.residual else 'plain'}-{self.depth}"
        head = (_("{net} with BN, after {steps} SGD steps: ") if self.batchnorm
                else _("{net} without BN, after {steps} SGD steps: ")).format(net=net, steps=self.steps)
        if not self.gradients.finite:
            return head + _("non-finite values (loss {loss:g}): the net overflowed ({seconds:.2f} s)").format(
                loss=self.gradients.loss, seconds=self.seconds)
        return head + _("loss {loss:.3f}, first/last layer gradient norm ratio {ratio:.3g} ({seconds:.2f} s)").format(
            loss=self.gradients.loss, ratio=self.ratio, seconds=self.seconds)


@dataclass
class GradientExplorer:
    """The computation behind the widget: cached :class:`GradientRun` objects, one per setting."""

    profile: Profile
    data: ImageData
    max_cached: int = 8
    lr: float = 0.02  # SGD learning rate of the k steps (small batches: below the paper's 0.1 for 128 images)
    threads: int | None = 1  # intra-op threads while computing (None: leave PyTorch's setting)
    _runs: OrderedDict[tuple[int, bool, bool], GradientRun] = field(default_factory=OrderedDict)
    last: GradientView | None = None

    def __post_init__(self) -> None:
        b = self.profile.gradients
        self.batches = probe_batches(self.data, b.batch, b.train_steps + 1, seed=0, device=self.profile.device)

    def run(self, depth: int, residual: bool, batchnorm: bool) -> GradientRun:
        if depth not in cifar_depths(self.profile.gradients.max_depth):
            raise ValueError(f"depth must be 6n+2 between 8 and {self.profile.gradients.max_depth}, got {depth}")
        key = (depth, residual, batchnorm)
        if key not in self._runs:
            self._runs[key] = GradientRun(
                depth, residual, batchnorm, self.batches, width=self.profile.gradients.width, lr=self.lr
            )
            while len(self._runs) > self.max_cached:
                self._runs.popitem(last=False)
        self._runs.move_to_end(key)
        return self._runs[key]

    def compute(self, depth: int, net: str, batchnorm: bool, when: str) -> GradientView:
        """Gradient norms of one setting (no drawing). ``net`` in :data:`NETS`, ``when`` in :data:`WHEN`."""
        if net not in NETS:
            raise ValueError(f"net must be one of {NETS}, got {net!r}")
        if when not in WHEN:
            raise ValueError(f"when must be one of {WHEN}, got {when!r}")
        start = time.perf_counter()
        steps = 0 if when == WHEN[0] else self.profile.gradients.train_steps
        with torch_threads(self.threads):
            grads = self.run(depth, net == "residual", batchnorm).after(steps)
        return GradientView(depth, net == "residual", batchnorm, steps, grads, time.perf_counter() - start, None)

    def draw(self, depth: int, net: str, batchnorm: bool, when: str) -> GradientView:
        """Compute, plot the per-layer gradient norms on a log scale, ``plt.show()``, then print the summary."""
        view = self.compute(depth, net, batchnorm, when)
        fig, ax = plt.subplots(figsize=(8, 3.6))
        norms = view.gradients.norms
        finite = [(i + 1, v) for i, v in enumerate(norms) if math.isfinite(v) and v > 0]
        if finite:
            ax.semilogy(*zip(*finite), ".-", color=RESIDUAL_COLOR if view.residual else PLAIN_COLOR, lw=1, ms=3)
        else:
            ax.text(0.5, 0.5, _("no finite gradient: the net overflowed"), ha="center", transform=ax.transAxes)
        ax.set_xlabel(_("layer (1 = first convolution, last = classifier)"))
        ax.set_ylabel(_("||dL/dW|| of the layer"))
        ax.set_xlim(0, len(norms) + 1)
        ax.grid(True, which="both", alpha=0.3)
        title = (_("{net}, BN on, {steps} SGD steps") if batchnorm
                 else _("{net}, BN off, {steps} SGD steps")).format(net=f"{net}-{depth}", steps=view.steps)
        ax.set_title(data_title(title, self.data), fontsize=10)
        fig.tight_layout()
        plt.show()
        # Print after the figure: a print before plt.show() inside a widget callback can leave the first
        # redraw blank in JupyterLab when callbacks run in a kernel subshell (seen with ipykernel 7).
        print(view.summary())
        self.last = GradientView(view.depth, view.residual, view.batchnorm, view.steps, view.gradients, view.seconds, fig)
        return self.last


def make_gradient_widget(profile: Profile | None = None, data: ImageData | None = None, *, depth: int = 20) -> widgets.VBox:
    """Controls + plot for per-layer gradient norms. The returned box has ``.controls`` and ``.explorer``."""
    profile = profile or get_profile()
    b = profile.gradients
    if data is None:
        data = get_dataset(profile, n_train=b.n_train, n_test=100)
    explorer = GradientExplorer(profile, data)
    controls = {
        "depth": widgets.IntSlider(value=depth, min=8, max=b.max_depth, step=6, description=_("depth"),
                                   continuous_update=False),
        "net": widgets.ToggleButtons(options=[(_(_NET_LABELS[n]), n) for n in NETS], value="residual",
                                     description=_("net")),
        "batchnorm": widgets.Checkbox(value=True, description="BatchNorm"),
        "when": widgets.ToggleButtons(options=[(_(label), w) for label, w in zip(_WHEN_LABELS, WHEN)], value=WHEN[0],
                                      description=_("gradients")),
    }
    controls["when"].tooltips = [_("k = {steps} SGD steps on batches of {batch}").format(  # type: ignore[attr-defined]
        steps=b.train_steps, batch=b.batch)] * 2
    out = widgets.interactive_output(explorer.draw, controls)
    note = widgets.HTML("<small>" + _("k = {steps} steps; probe batches of {batch} images ({data})").format(
        steps=b.train_steps, batch=b.batch, data=show(data.label)) + "</small>")
    box = widgets.VBox([widgets.HBox([controls["depth"], controls["batchnorm"]]), controls["net"], controls["when"], note, out])
    box.controls = controls  # type: ignore[attr-defined]
    box.explorer = explorer  # type: ignore[attr-defined]
    return box
