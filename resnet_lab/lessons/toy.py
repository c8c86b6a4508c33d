"""Lesson 01, first experiment: deep plain and residual MLPs on two interleaved 2-D spirals.

The task trains in about a second, so a slider can retrain it: the nets are built from the
paper's two-layer block ``relu(BN(W2 relu(BN(W1 h))) [+ h])`` and trained full-batch. A net whose
loss becomes NaN or infinite is stopped, kept and marked ``diverged``; nothing raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..i18n import N_, _

__all__ = [
    "KINDS",
    "one_thread",
    "two_spirals",
    "ToyMLPs",
    "ToyRun",
    "train_toy",
    "toy_decision_grid",
    "toy_depth_sweep",
    "degradation_onset",
]

KINDS = (N_("plain"), N_("residual"))  # names used in code; shown to the learner as _(kind)


def _validate_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be a non-empty selection of {KINDS} without repeats, got {kinds!r}")
    return kinds


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny matrices: one thread beats several (by far on a busy machine). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def two_spirals(n: int, *, turns: float = 1.5, noise: float = 0.04, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` 2-D points on two interleaved spirals (float32 (n, 2)) and their class 0/1 (int64 (n,))."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise ValueError(f"n must be an integer >= 4 (points in the toy data set), got {n!r}")
    if turns <= 0 or noise < 0:
        raise ValueError(f"turns must be > 0 and noise >= 0, got turns={turns}, noise={noise}")
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    t = torch.rand(n, generator=g).sqrt()  # sqrt: points spread evenly along the spiral's length
    angle = 2 * math.pi * turns * t + math.pi * y
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1)
    return x + noise * torch.randn(n, 2, generator=g), y


def _validate_toy_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 4 or depth % 2:
        raise ValueError(
            f"a toy MLP has depth 2 + 2*blocks, an even number >= 4 (4, 6, 8, ...), got {depth!r}"
        )


class ToyMLPs(nn.Module):
    """Several independent deep MLPs on 2-D inputs, computed as ONE block-diagonal network.

    Net ``k`` is plain or residual as ``kinds[k]`` says. Every net has ``depth`` weight layers:
    an input layer ``2 -> width``, ``(depth - 2) / 2`` two-layer blocks
    ``h <- relu(BN(W2 relu(BN(W1 h))) + h)`` (the ``+ h`` only in a residual net, exactly as in
    :class:`resnet_lab.models.BasicBlock`) and a linear classifier ``width -> 2``.

    Why one block-diagonal network: the nets are tiny, so their cost is the number of PyTorch
    operations, not arithmetic. Packing K nets into one ``K*width`` wide network whose weight
    matrices are block-diagonal (a fixed 0/1 mask keeps the off-diagonal blocks at zero, and their
    gradients too) trains all K with the operations of one. The nets share nothing: net ``k``'s
    output depends only on its own block (a test checks this against separate ``nn.Linear`` nets).
    """

    def __init__(self, depth: int, width: int = 16, kinds: Sequence[str] = KINDS, *, seed: int = 0) -> None:
        super().__init__()
        _validate_toy_depth(depth)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.kinds = _validate_kinds(kinds)
        self.depth, self.width, self.k = depth, width, len(self.kinds)
        k, wide = self.k, self.k * width
        g = torch.Generator().manual_seed(seed)

        def he(fan_out: int, fan_in: int) -> Tensor:  # He (Kaiming) normal initialisation, ReLU gain
            return torch.randn(fan_out, fan_in, generator=g) * math.sqrt(2.0 / fan_in)

        n_hidden = depth - 2
        self.w_in = nn.Parameter(torch.cat([he(width, 2) for _ in range(k)]))
        self.hidden = nn.ParameterList(
            [nn.Parameter(torch.block_diag(*[he(width, width) for _ in range(k)])) for _ in range(n_hidden)]
        )
        self.bn_weight = nn.ParameterList([nn.Parameter(torch.ones(wide)) for _ in range(n_hidden + 1)])
        self.bn_bias = nn.ParameterList([nn.Parameter(torch.zeros(wide)) for _ in range(n_hidden + 1)])
        self.w_out = nn.Parameter(torch.stack([he(2, width) for _ in range(k)]))  # (K, 2, width)
        self.b_out = nn.Parameter(torch.zeros(k, 2))
        # Running statistics, one row per BN layer. Full-batch training uses the batch statistics and,
        # with momentum 1, leaves the last batch's statistics here for evaluation on other points.
        self.register_buffer("running_mean", torch.zeros(n_hidden + 1, wide))
        self.register_buffer("running_var", torch.ones(n_hidden + 1, wide))
        self.register_buffer("mask", torch.block_diag(*[torch.ones(width, width) for _ in range(k)]))
        gate = torch.cat([torch.full((width,), float(kind == "residual")) for kind in self.kinds])
        self.register_buffer("shortcut_gate", gate)  # 1 on the channels of residual nets, 0 on plain ones

    def _bn(self, h: Tensor, i: int) -> Tensor:
        return F.batch_norm(h, self.running_mean[i], self.running_var[i], self.bn_weight[i], self.bn_bias[i],
                            training=self.training, momentum=1.0)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of every net, shape (K, n, 2)."""
        h = F.relu(self._bn(x @ self.w_in.t(), 0))
        for b in range(0, len(self.hidden), 2):
            out = F.relu(self._bn(h @ (self.hidden[b] * self.mask).t(), b + 1))
            out = self._bn(out @ (self.hidden[b + 1] * self.mask).t(), b + 2)
            h = F.relu(out + h * self.shortcut_gate)  # the shortcut, switched off for plain nets
        n = x.shape[0]
        return torch.einsum("nkw,kcw->knc", h.view(n, self.k, self.width), self.w_out) + self.b_out[:, None, :]


@dataclass
class ToyRun:
    """Training record of the toy nets: per kind, the loss at every step and the final error."""

    depth: int
    width: int
    lr: float
    steps: int
    kinds: tuple[str, ...]
    losses: dict[str, list[float]]
    final_loss: dict[str, float]
    final_error: dict[str, float]
    diverged: dict[str, bool]
    seconds: float
    model: ToyMLPs | None = field(default=None, repr=False)


def train_toy(
    depth: int,
    *,
    width: int = 16,
    lr: float = 0.1,
    steps: int = 150,
    points: int = 256,
    kinds: Sequence[str] = KINDS,
    seed: int = 0,
    data: tuple[Tensor, Tensor] | None = None,
) -> ToyRun:
    """Train plain and/or residual toy MLPs of ``depth`` layers full-batch with SGD (momentum 0.9).

    All nets start from the same seed and see the same points. A net whose loss becomes NaN/inf
    is recorded as diverged (its later losses are NaN); nothing raises.

    Why this loop is not :func:`resnet_lab.train.core.train_loop`: it trains K independent nets at
    once (one block-diagonal :class:`ToyMLPs`) full-batch on a few hundred 2-D points, with a loss
    per net, so one diverging net can be taken out of the sum (and its NaN gradients cleaned)
    while the others keep training. The shared core takes one model, one loss and image batches;
    bending it to per-net losses and gradient surgery would hide the one thing it shows.
    """
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    x, y = data if data is not None else two_spirals(points, seed=seed)
    with one_thread():
        return _train_toy(x, y, depth, width, float(lr), steps, kinds, seed)


def _train_toy(x: Tensor, y: Tensor, depth: int, width: int, lr: float, steps: int, kinds: Sequence[str],
               seed: int) -> ToyRun:
    start = time.perf_counter()
    model = ToyMLPs(depth, width, kinds, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    kinds = model.kinds
    k = len(kinds)
    targets = y.repeat(k)
    history = torch.empty(steps, k)
    alive = torch.ones(k, dtype=torch.bool)
    for step in range(steps):
        logits = model(x)
        per_net = F.cross_entropy(logits.reshape(-1, 2), targets, reduction="none").view(k, -1).mean(1)
        history[step] = per_net.detach()
        alive &= torch.isfinite(per_net.detach())
        if not bool(alive.any()):
            history[step + 1 :] = float("nan")
            break
        # Nets are independent, so the sum's gradient is each net's own gradient. A diverged net
        # is taken out of the sum (its weights freeze) so its NaNs cannot reach the others' steps.
        loss = torch.where(alive, per_net, torch.zeros_like(per_net)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in model.parameters():  # NaN * 0 is NaN, so clean the gradients of dead nets
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
        opt.step()
    with torch.no_grad():
        model(x)  # training mode: store the statistics of the full training set for the final weights
        model.eval()
        logits = model(x)
        per_net = F.cross_entropy(logits.reshape(-1, 2), targets, reduction="none").view(k, -1).mean(1)
        errors = (logits.argmax(-1) != y).float().mean(1)
    losses: dict[str, list[float]] = {}
    final_loss: dict[str, float] = {}
    final_error: dict[str, float] = {}
    diverged: dict[str, bool] = {}
    for i, kind in enumerate(kinds):
        dead = not bool(alive[i]) or not math.isfinite(float(per_net[i]))
        curve = history[:, i].tolist()
        if dead:
            first_bad = next((j for j, v in enumerate(curve) if not math.isfinite(v)), len(curve))
            curve = curve[:first_bad] + [float("nan")] * (len(curve) - first_bad)
        losses[kind] = curve
        final_loss[kind] = float("nan") if dead else float(per_net[i])
        final_error[kind] = float("nan") if dead else float(errors[i])
        diverged[kind] = dead
    return ToyRun(depth, width, float(lr), steps, kinds, losses, final_loss, final_error, diverged,
                  time.perf_counter() - start, model)


def toy_decision_grid(model: ToyMLPs, *, resolution: int = 60, extent: float = 1.3) -> tuple[Tensor, Tensor, Tensor]:
    """Probability of class 1 on a square grid, per net: (xs, ys, probs of shape (K, res, res))."""
    xs = torch.linspace(-extent, extent, resolution)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    model.eval()  # BN normalises with the training set's statistics, not the grid's
    with torch.no_grad():
        logits = model(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
    probs = logits.softmax(-1)[..., 1].reshape(model.k, resolution, resolution)
    return xs, xs, probs


def toy_depth_sweep(
    depths: Sequence[int],
    *,
    width: int = 16,
    lr: float = 0.1,
    steps: int = 150,
    points: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    """Final training loss and error of plain and residual toy nets at each depth."""
    depths = sorted(set(int(d) for d in depths))
    data = two_spirals(points, seed=seed)
    out: dict[str, Any] = {"depths": depths, "loss": {k: [] for k in KINDS}, "error": {k: [] for k in KINDS},
                           "steps": steps, "lr": lr, "width": width}
    for d in depths:
        run = train_toy(d, width=width, lr=lr, steps=steps, kinds=KINDS, seed=seed, data=data)
        for k in KINDS:
            out["loss"][k].append(run.final_loss[k])
            out["error"][k].append(run.final_error[k])
    return out


def degradation_onset(sweep: dict[str, Any], *, kind: str = "plain", factor: float = 2.0, floor: float = 0.05) -> int | None:
    """First depth whose final training loss is clearly above the best shallower one, else None.

    "Clearly" means above ``factor`` times the best loss of all shallower depths and above ``floor``
    (losses near zero double easily). A diverged (NaN) net counts as degraded.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    best = math.inf
    for d, loss in zip(sweep["depths"], sweep["loss"][kind]):
        bad = not math.isfinite(loss) or (loss > factor * best and loss > floor)
        if bad and math.isfinite(best):
            return int(d)
        if math.isfinite(loss):
            best = min(best, loss)
    return None


def comparison_time_line(seconds: float) -> str:
    """The line printed after training the plain and the residual toy net and drawing the figure."""
    return _("trained both nets and drew the figure in {seconds:.1f} s").format(seconds=seconds)
