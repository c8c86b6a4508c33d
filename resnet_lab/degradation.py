"""Lesson 01: the degradation problem (He et al. 2015, Figures 1 and 6).

Two experiments, both comparing a *plain* net with the *residual* net of the same layers:

* a toy task that trains in about a second: two interleaved 2-D spirals and deep MLPs built
  from the paper's two-layer block, ``relu(BN(W2 relu(BN(W1 h))) [+ h])``;
* the paper's experiment: plain and residual CIFAR ResNets (:func:`resnet_lab.models.cifar_resnet`)
  at growing depth, trained with SGD and recorded as error-against-iteration curves. Results are
  cached on disk as JSON so a notebook re-plots without retraining.

A run whose loss becomes NaN or infinite is stopped, kept and marked ``diverged``; it never raises.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .exercises.core import CheckResult, check_choice
from .data import ImageData, channel_stats, normalize, train_val_split
from .models import cifar_resnet
from .plots import PLAIN_COLOR, RESIDUAL_COLOR, data_title

__all__ = [
    "KINDS",
    "two_spirals",
    "ToyMLPs",
    "ToyRun",
    "train_toy",
    "toy_decision_grid",
    "toy_depth_sweep",
    "degradation_onset",
    "CifarConfig",
    "config_from_profile",
    "train_cifar_net",
    "DegradationResult",
    "run_degradation_experiment",
    "cache_key",
    "final_errors",
    "results_table",
    "degradation_verdict",
    "plot_error_curves",
    "activation_stats",
    "plot_activation_stats",
    "check_lower_curve",
    "check_onset_depth",
]

KINDS = ("plain", "residual")


def _kind(residual: bool) -> str:
    return "residual" if residual else "plain"


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be a non-empty selection of {KINDS} without repeats, got {kinds!r}")
    return kinds


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny matrices: one thread beats several (by far on a busy machine). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ============================================================================================
# 1. The toy task: two spirals, deep MLPs
# ============================================================================================


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


def _check_toy_depth(depth: int) -> None:
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
        _check_toy_depth(depth)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.kinds = _check_kinds(kinds)
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
    """
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    x, y = data if data is not None else two_spirals(points, seed=seed)
    with _one_thread():
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


# ============================================================================================
# 2. The paper's experiment: plain vs residual CIFAR nets, error against iteration
# ============================================================================================


@dataclass(frozen=True)
class CifarConfig:
    """Everything that decides one run of the paper experiment (and therefore its cache key)."""

    depths: tuple[int, ...] = (20, 32, 44, 56)  # 6n+2 layers
    width: int = 16  # channels of the first stage (the paper: 16)
    iters: int = 64000  # SGD iterations per network
    batch: int = 128  # images per SGD step
    lr: float = 0.1  # the paper's learning rate
    warmup_lr: float = 0.01  # the paper's warm-up lr for very deep nets (110 layers) ...
    warmup_min_depth: int = 110  # ... applied to nets at least this deep ...
    warmup_iters: int = 400  # ... for this many iterations (the paper: until train error < 80%)
    lr_milestones: tuple[float, ...] = (0.5, 0.75)  # lr / 10 at these fractions of iters (32k, 48k of 64k)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    augment: bool = True  # the paper's 4-pixel shifts and horizontal flips
    n_train: int = 45000  # training split
    n_val: int = 5000  # validation split (carved out of the training images, never the test set)
    eval_every: int = 1000  # iterations between two points of the curves
    eval_size: int = 2000  # images of the fixed train/val subsets the errors are measured on
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        for d in self.depths:
            if isinstance(d, bool) or not isinstance(d, int) or d < 8 or (d - 2) % 6:
                raise ValueError(f"depths must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, 110, ...), got {d!r}")
        if not self.depths:
            raise ValueError("depths must name at least one depth, e.g. (20, 56)")
        for name in ("width", "iters", "batch", "n_train", "n_val", "eval_every", "eval_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and self.warmup_lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr and warmup_lr must be positive finite numbers, got {self.lr}, {self.warmup_lr}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed, e.g. (0,)")


def config_from_profile(profile: Any, **overrides: Any) -> CifarConfig:
    """The :class:`CifarConfig` of a run profile's :class:`~resnet_lab.profiles.DegradationBudget`."""
    b = profile.degradation
    values: dict[str, Any] = dict(
        depths=tuple(b.cifar_depths), width=b.cifar_width, iters=b.cifar_iters, batch=b.cifar_batch,
        lr=b.cifar_lr, lr_milestones=tuple(b.cifar_lr_milestones), augment=b.cifar_augment,
        n_train=b.n_train, n_val=b.n_val, eval_every=b.eval_every, eval_size=b.eval_size, seeds=tuple(b.seeds),
    )
    values.update(overrides)
    return CifarConfig(**values)


@dataclass(frozen=True)
class _Split:
    """Normalised float tensors of the train and validation splits, on the training device."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor


def _prepare(data: ImageData, cfg: CifarConfig, device: torch.device) -> _Split:
    n_have = len(data.y_train)
    if cfg.n_train + cfg.n_val > n_have:
        raise ValueError(
            f"n_train + n_val = {cfg.n_train + cfg.n_val} but the data has only {n_have} training images; "
            f"ask get_dataset for n_train >= {cfg.n_train + cfg.n_val}"
        )
    train_idx, val_idx = train_val_split(cfg.n_train + cfg.n_val, cfg.n_val, seed=0)
    x_tr = data.x_train[train_idx]
    mean, std = channel_stats(x_tr)  # from the training split only
    return _Split(
        normalize(x_tr.to(device), mean, std), data.y_train[train_idx].to(device),
        normalize(data.x_train[val_idx].to(device), mean, std), data.y_train[val_idx].to(device),
    )


def _augment(x: Tensor, gen: torch.Generator) -> Tensor:
    """The paper's augmentation on a batch, on its device: pad 4, random 32x32 crop, random flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = torch.randint(0, 9, (2, n), generator=gen).tolist()
    out = torch.stack([padded[i, :, a : a + h, b : b + w] for i, (a, b) in enumerate(zip(dy, dx))])
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip.to(x.device)] = out[flip.to(x.device)].flip(-1)
    return out


@torch.no_grad()
def _error(model: nn.Module, x: Tensor, y: Tensor, batch: int = 500) -> float:
    """Top-1 error in evaluation mode (BN running statistics), in [0, 1]."""
    model.eval()
    wrong = 0
    for i in range(0, len(y), batch):
        wrong += int((model(x[i : i + batch]).argmax(1) != y[i : i + batch]).sum())
    model.train()
    return wrong / len(y)


def _lr_at(it: int, depth: int, cfg: CifarConfig) -> float:
    if depth >= cfg.warmup_min_depth and it < cfg.warmup_iters:
        return cfg.warmup_lr
    drops = sum(it >= m * cfg.iters for m in cfg.lr_milestones)
    return cfg.lr * 0.1**drops


def train_cifar_net(
    depth: int,
    residual: bool,
    split: _Split,
    cfg: CifarConfig,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train one plain or residual CIFAR net; return its history as plain JSON-able types.

    Every ``eval_every`` iterations (and at the start and end) the training and validation errors
    are measured in evaluation mode on fixed subsets of ``eval_size`` images: the training error is
    that of the current weights, not a running average over a changing net. A NaN/inf loss stops
    the run and marks it ``diverged``; ``on_eval`` is called with the history after every point.
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    model = cifar_resnet(depth, residual=residual, width=cfg.width).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 1)
    n = len(split.y_train)
    ev_tr = torch.randperm(n, generator=torch.Generator().manual_seed(12345))[: cfg.eval_size].to(device)
    x_ev, y_ev = split.x_train[ev_tr], split.y_train[ev_tr]
    x_val, y_val = split.x_val[: cfg.eval_size], split.y_val[: cfg.eval_size]
    hist: dict[str, Any] = {
        "depth": depth, "kind": _kind(residual), "seed": seed, "iters": [], "train_error": [], "val_error": [],
        "loss": [], "diverged": False, "diverged_at": None, "seconds": 0.0,
    }
    start = time.perf_counter()

    def record(it: int, loss: float) -> None:
        hist["iters"].append(it)
        hist["train_error"].append(_error(model, x_ev, y_ev))
        hist["val_error"].append(_error(model, x_val, y_val))
        hist["loss"].append(loss)
        hist["seconds"] = time.perf_counter() - start
        if on_eval is not None:
            on_eval(hist)

    record(0, float("nan"))
    hist["loss"][0] = None  # no loss measured before the first step
    perm = torch.randperm(n, generator=gen)
    pos, running, count = 0, 0.0, 0
    model.train()
    for it in range(1, cfg.iters + 1):
        if pos + cfg.batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + cfg.batch].to(device)
        pos += cfg.batch
        xb = split.x_train[idx]
        if cfg.augment:
            xb = _augment(xb, gen)
        for group in opt.param_groups:
            group["lr"] = _lr_at(it - 1, depth, cfg)
        loss = F.cross_entropy(model(xb), split.y_train[idx])
        value = loss.item()
        if not math.isfinite(value):
            hist["diverged"], hist["diverged_at"] = True, it
            hist["seconds"] = time.perf_counter() - start
            if on_eval is not None:
                on_eval(hist)
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running, count = running + value, count + 1
        if it % cfg.eval_every == 0 or it == cfg.iters:
            record(it, running / count)
            running, count = 0.0, 0
    return hist


def _data_fingerprint(data: ImageData) -> str:
    h = hashlib.sha256()
    h.update(data.source.encode())
    h.update(str((tuple(data.x_train.shape), tuple(data.x_test.shape))).encode())
    h.update(data.y_train.numpy().tobytes())
    h.update(data.x_train[:16].numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(cfg: CifarConfig, data: ImageData, depth: int, kind: str, seed: int) -> str:
    """File-name-safe key of one run: hash of the configuration, the data and the network."""
    blob = json.dumps({"cfg": asdict(cfg), "data": _data_fingerprint(data), "depth": depth, "kind": kind,
                       "seed": seed, "version": 1}, sort_keys=True)
    return f"{kind}{depth}-seed{seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def _save_json(path: Path, obj: Any) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> None, so the file is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


@dataclass
class DegradationResult:
    """Histories of every (depth, kind, seed) run plus what they were run on."""

    config: CifarConfig
    data_label: str
    data_source: str
    runs: list[dict[str, Any]]
    trained: int  # runs trained now (the others came from the cache)
    seconds: float  # wall time of this call

    def run(self, depth: int, kind: str, seed: int | None = None) -> dict[str, Any]:
        seed = self.config.seeds[0] if seed is None else seed
        for r in self.runs:
            if r["depth"] == depth and r["kind"] == kind and r["seed"] == seed:
                return r
        raise ValueError(f"no run for depth {depth}, kind {kind!r}, seed {seed}; depths {self.config.depths}, kinds {KINDS}")


def run_degradation_experiment(
    data: ImageData,
    cfg: CifarConfig,
    *,
    cache_dir: str | Path | None = "runs",
    retrain: bool = False,
    device: torch.device | str = "cpu",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> DegradationResult:
    """Train (or load from ``cache_dir``) plain and residual nets at every depth and seed of ``cfg``.

    Each run is cached as one JSON file named by :func:`cache_key`, so changing the budget or the
    data trains anew while re-running the same notebook only re-plots. ``retrain=True`` ignores the
    cache; ``cache_dir=None`` disables it. ``progress`` receives each history as it grows.
    """
    start = time.perf_counter()
    split: _Split | None = None
    runs: list[dict[str, Any]] = []
    trained = 0
    for seed in cfg.seeds:
        for depth in cfg.depths:
            for kind in KINDS:
                path = None if cache_dir is None else Path(cache_dir) / f"degradation-{cache_key(cfg, data, depth, kind, seed)}.json"
                if path is not None and path.is_file() and not retrain:
                    try:
                        hist = json.loads(path.read_text())
                        hist["from_cache"] = True
                        runs.append(hist)
                        if progress is not None:
                            progress(hist)
                        continue
                    except (OSError, ValueError):
                        pass  # unreadable cache file: train again and overwrite it
                if split is None:
                    split = _prepare(data, cfg, torch.device(device))
                hist = train_cifar_net(depth, kind == "residual", split, cfg, seed=seed, device=device, on_eval=progress)
                hist = _json_safe(hist)
                trained += 1
                if path is not None:
                    _save_json(path, hist)
                hist["from_cache"] = False
                runs.append(hist)
    return DegradationResult(cfg, data.label, data.source, runs, trained, time.perf_counter() - start)


# ============================================================================================
# 3. Reading the results: table, verdict, Figure 6
# ============================================================================================


def _last_finite(values: Sequence[float | None]) -> float:
    for v in reversed(values):
        if v is not None and math.isfinite(v):
            return float(v)
    return float("nan")


def final_errors(result: DegradationResult) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (depth, kind): final training and validation error (mean over seeds) and divergence.

    A diverged run has no final error (NaN): the net did not finish training.
    """
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for depth in result.config.depths:
        for kind in KINDS:
            runs = [result.run(depth, kind, s) for s in result.config.seeds]
            ok = [r for r in runs if not r["diverged"]]
            tr = [_last_finite(r["train_error"]) for r in ok]
            va = [_last_finite(r["val_error"]) for r in ok]
            out[(depth, kind)] = {
                "train_error": sum(tr) / len(tr) if tr else float("nan"),
                "val_error": sum(va) / len(va) if va else float("nan"),
                "diverged": len(runs) - len(ok),
                "runs": len(runs),
            }
    return out


def results_table(result: DegradationResult) -> str:
    """The final errors as a fixed-width text table (errors in %)."""
    errs = final_errors(result)
    lines = [f"{'net':<12}{'train error':>13}{'val error':>11}  note", "-" * 46]
    for kind in KINDS:
        for depth in result.config.depths:
            e = errs[(depth, kind)]
            note = f"diverged in {e['diverged']} of {e['runs']} runs" if e["diverged"] else ""
            tr = "    --" if math.isnan(e["train_error"]) else f"{100 * e['train_error']:6.1f}"
            va = "    --" if math.isnan(e["val_error"]) else f"{100 * e['val_error']:6.1f}"
            lines.append(f"{kind + '-' + str(depth):<12}{tr:>12}%{va:>10}%  {note}")
    return "\n".join(lines)


def degradation_verdict(result: DegradationResult, *, margin: float = 0.01) -> dict[str, Any]:
    """Did THIS run show degradation? Compares the shallowest and the deepest net of each kind.

    Degradation: the deepest plain net ends with a training error more than ``margin`` above the
    shallowest plain net's (or diverged). Shortcuts fixed it: the deepest residual net is not more
    than ``margin`` above the shallowest residual net. Returns the numbers and a sentence.
    """
    if len(result.config.depths) < 2:
        raise ValueError(f"a verdict needs at least two depths, got {result.config.depths}")
    errs = final_errors(result)
    lo, hi = min(result.config.depths), max(result.config.depths)
    p_lo, p_hi = errs[(lo, "plain")]["train_error"], errs[(hi, "plain")]["train_error"]
    r_lo, r_hi = errs[(lo, "residual")]["train_error"], errs[(hi, "residual")]["train_error"]
    plain_diverged = errs[(hi, "plain")]["diverged"] > 0
    degraded = plain_diverged or (p_hi > p_lo + margin)
    residual_ok = math.isfinite(r_hi) and math.isfinite(r_lo) and r_hi <= r_lo + margin

    def pct(v: float) -> str:
        return "diverged" if math.isnan(v) else f"{100 * v:.1f}%"

    if degraded:
        s = (f"Degradation appeared in this run: plain-{hi} ends with a training error of {pct(p_hi)}, "
             f"above plain-{lo}'s {pct(p_lo)}.")
    else:
        s = (f"Degradation did NOT appear in this run: plain-{hi} ends with a training error of {pct(p_hi)}, "
             f"not above plain-{lo}'s {pct(p_lo)} by more than {100 * margin:.0f} points.")
    if residual_ok:
        s += f" With shortcuts the deeper net is not worse: residual-{hi} {pct(r_hi)} vs residual-{lo} {pct(r_lo)}."
    else:
        s += f" With shortcuts the deeper net is still worse: residual-{hi} {pct(r_hi)} vs residual-{lo} {pct(r_lo)}"
        if degraded and all(math.isfinite(v) for v in (p_lo, p_hi, r_lo, r_hi)):
            s += (f", but by {100 * (r_hi - r_lo):.1f} points instead of the plain nets' "
                  f"{100 * (p_hi - p_lo):.1f}")
        s += "."
    s += f" (Training errors on {result.data_label}; margin {100 * margin:.0f} points.)"
    return {"degraded": degraded, "residual_ok": residual_ok, "shallow": lo, "deep": hi,
            "plain": (p_lo, p_hi), "residual": (r_lo, r_hi), "sentence": s}


def plot_error_curves(result: DegradationResult, *, axes: Sequence[Any] | None = None, seed: int | None = None) -> Any:
    """Figure 6 of the paper: error against iteration, plain (left) and residual (right).

    Dashed: training error; bold: validation error. A diverged run ends in an "x" at the
    iteration where its loss became NaN/inf and says "diverged" in the legend.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    else:
        fig = axes[0].figure
    depths = result.config.depths
    cmap = plt.get_cmap("viridis")
    colors = {d: cmap(0.85 * i / max(1, len(depths) - 1)) for i, d in enumerate(depths)}
    seed = result.config.seeds[0] if seed is None else seed
    for ax, kind in zip(axes, KINDS):
        for d in depths:
            r = result.run(d, kind, seed)
            it = r["iters"]
            tr = [math.nan if v is None else 100 * v for v in r["train_error"]]
            va = [math.nan if v is None else 100 * v for v in r["val_error"]]
            label = f"{kind}-{d}"
            if r["diverged"]:
                label += f" (diverged at it. {r['diverged_at']})"
            ax.plot(it, tr, "--", color=colors[d], lw=1.2)
            ax.plot(it, va, "-", color=colors[d], lw=2.5, label=label)
            if r["diverged"]:
                x_end = r["diverged_at"]
                y_end = tr[-1] if tr and math.isfinite(tr[-1]) else 90.0
                ax.plot([x_end], [y_end], "x", color="black", ms=10, mew=2.5)
        ax.set_title(data_title(f"{kind} nets", result.data_label), color=PLAIN_COLOR if kind == "plain" else RESIDUAL_COLOR)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="dashed: train, bold: val", title_fontsize=8)
    axes[0].set_ylabel("error (%)")
    fig.tight_layout()
    return fig


# ============================================================================================
# 4. Ruling out a weak forward signal: activation statistics at initialisation
# ============================================================================================


def activation_stats(
    depth: int, x: Tensor, *, width: int = 16, seed: int = 0, device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Per block of freshly initialised plain and residual nets: std of its output and of its gradient.

    The nets are in training mode (BN normalises with the batch statistics, as during training);
    the loss is the cross-entropy against random labels. With BN, the plain net's signal keeps a
    non-zero, non-exploding spread through every block: the forward signal is healthy, so its
    worse training cannot be blamed on vanishing activations (He et al. 2015, section 4.1).
    """
    device = torch.device(device)
    x = x.to(device)
    labels = torch.randint(0, 10, (x.shape[0],), generator=torch.Generator().manual_seed(seed)).to(device)
    out: dict[str, Any] = {"depth": depth, "blocks": [], "act_std": {}, "grad_std": {}}
    for kind in KINDS:
        torch.manual_seed(seed)
        model = cifar_resnet(depth, residual=kind == "residual", width=width).to(device).train()
        blocks = [m for layer in (model.layer1, model.layer2, model.layer3) for m in layer]
        acts: list[Tensor] = []

        def keep(_m: nn.Module, _i: Any, o: Tensor) -> None:
            o.retain_grad()
            acts.append(o)

        handles = [b.register_forward_hook(keep) for b in blocks]
        try:
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
        finally:
            for h in handles:
                h.remove()
        out["act_std"][kind] = [float(a.detach().std()) for a in acts]
        out["grad_std"][kind] = [float(a.grad.std()) if a.grad is not None else float("nan") for a in acts]
        out["blocks"] = list(range(1, len(blocks) + 1))
    return out


def plot_activation_stats(stats: dict[str, Any], data: Any = "synthetic stand-in") -> Any:
    """Two panels: std of each block's output, and of the gradient reaching it, plain vs residual."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for kind, color in zip(KINDS, (PLAIN_COLOR, RESIDUAL_COLOR)):
        axes[0].plot(stats["blocks"], stats["act_std"][kind], "o-", color=color, ms=3, label=f"{kind}-{stats['depth']}")
        axes[1].semilogy(stats["blocks"], stats["grad_std"][kind], "o-", color=color, ms=3, label=f"{kind}-{stats['depth']}")
    axes[0].set_title(data_title("block output std at init", data))
    axes[1].set_title(data_title("gradient std at init", data))
    for ax in axes:
        ax.set_xlabel("block (input side -> output side)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylim(bottom=0)
    fig.tight_layout()
    return fig


# ============================================================================================
# 5. Exercise checkers
# ============================================================================================


def check_lower_curve(answer: str, result: DegradationResult, kind: str = "plain") -> CheckResult:
    """Exercise: of the shallowest and the deepest ``kind`` net, whose training error ends lower?

    ``answer`` is ``"shallow"`` or ``"deep"``; the right answer is read from the run's final errors.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    errs = final_errors(result)
    lo, hi = min(result.config.depths), max(result.config.depths)
    e_lo, e_hi = errs[(lo, kind)]["train_error"], errs[(hi, kind)]["train_error"]
    if math.isnan(e_hi) and math.isnan(e_lo):
        return CheckResult(False, "both runs diverged in this run, so neither curve ends lower; retrain with a smaller lr.")
    expected = "shallow" if math.isnan(e_hi) or (not math.isnan(e_lo) and e_lo <= e_hi) else "deep"

    def pct(v: float) -> str:
        return "diverged" if math.isnan(v) else f"{100 * v:.1f}%"

    why = (f"In your run {kind}-{lo} ends at {pct(e_lo)} training error and {kind}-{hi} at {pct(e_hi)}. "
           + ("A deeper plain net training worse is the degradation problem: not overfitting (it is the "
              "TRAINING error) but harder optimisation." if kind == "plain" and expected == "shallow" else
              "With shortcuts, extra depth does not hurt training." if kind == "residual" and expected == "deep" else
              "Short runs on small data are noisy; compare with the paper's Figure 6."))
    return check_choice(answer, expected, ("shallow", "deep"), why=why)


def check_onset_depth(answer: int, sweep: dict[str, Any], *, kind: str = "plain") -> CheckResult:
    """Exercise: from a :func:`toy_depth_sweep`, the first depth at which plain nets degrade.

    Accepted: the depth :func:`degradation_onset` finds, or the sweep's depth right before or after
    it (one step of the grid either way: the onset is not sharp).
    """
    onset = degradation_onset(sweep, kind=kind)
    depths = list(sweep["depths"])
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return CheckResult(False, f"expected a depth (an integer from {depths}), got {answer!r}.")
    if onset is None:
        return CheckResult(False, f"in this sweep no {kind} net degraded (final losses {sweep['loss'][kind]}); "
                                  "sweep deeper or with fewer steps, then try again.")
    i = depths.index(onset)
    ok_set = set(depths[max(0, i - 1) : i + 2])
    if value not in depths:
        return CheckResult(False, f"{value} is not a depth of the sweep {depths}.")
    losses = ", ".join(f"{d}: {l:.3f}" for d, l in zip(depths, sweep["loss"][kind]))
    return CheckResult(value in ok_set, f"the onset computed from your sweep is depth {onset} (accepted: "
                       f"{sorted(ok_set)}). Final {kind} training losses: {losses}.")
