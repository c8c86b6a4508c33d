"""Lesson 01, the paper's experiment (He et al. 2015, Figure 6): plain vs residual CIFAR nets.

Plain and residual CIFAR ResNets (:func:`resnet_lab.models.cifar_resnet`) at growing depth are
trained with SGD and recorded as error-against-iteration curves, then read as a table and a
verdict sentence. The nets train with the package's one training core (:mod:`resnet_lab.train.core`);
results are cached as JSON through :mod:`resnet_lab.store`, so a notebook re-plots without retraining.
A run whose loss becomes NaN or infinite is stopped, kept and marked ``diverged``; it never
raises. The figure is :func:`resnet_lab.plots.plot_error_curves`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import store
from ..i18n import N_, _, display_width, ljust
from ..data import ImageData, channel_stats, normalize, show, train_val_split
from ..loader import random_crop_flip
from ..models import cifar_resnet, validate_cifar_depth
from ..train.core import StepRecord, evaluate_batches, train_loop
from .caching import data_fingerprint
from .toy import KINDS, one_thread

__all__ = [
    "KINDS",
    "CifarConfig",
    "config_from_profile",
    "PAPER_LENGTH",
    "train_cifar_net",
    "DegradationResult",
    "run_degradation_experiment",
    "validation_images",
    "IMAGE_SIZES",
    "CACHE_KIND",
    "cache_settings",
    "final_errors",
    "results_table",
    "degradation_verdict",
]

IMAGE_SIZES = (32, 16, 8)  # sides the 32x32 images can be averaged down to (2x2 or 4x4 pixel blocks)
CACHE_KIND = "degradation"  # the store's folder and key prefix of this experiment's runs


def _kind(residual: bool) -> str:
    return "residual" if residual else "plain"


_NET_NAME = {"plain": N_("plain-{depth}"), "residual": N_("residual-{depth}")}


def net_name(kind: str, depth: int) -> str:
    """The name of a net as the learner reads it, e.g. ``plain-56`` (translated)."""
    return _(_NET_NAME[kind]).format(depth=depth)


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
    image_size: int = 32  # side of the images the nets see: 32 (CIFAR) or smaller (averaged down, cheaper)

    def __post_init__(self) -> None:
        for d in self.depths:
            validate_cifar_depth(d)
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
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES} (32 divided by 1, 2 or 4), got {self.image_size!r}")


PAPER_LENGTH: dict[str, Any] = dict(
    depths=(20, 32, 44, 56), width=16, iters=64000, batch=128, lr=0.1, lr_milestones=(0.5, 0.75), augment=True,
    n_train=45000, n_val=5000, eval_every=1000, eval_size=5000, image_size=32,
)  # the paper's Figure 6 (section 4.2): 64k iterations of 128 images, lr 0.1 divided by 10 at 32k and 48k


def config_from_profile(profile: Any, *, paper_length: bool = False, **overrides: Any) -> CifarConfig:
    """The :class:`CifarConfig` of a run profile's :class:`~resnet_lab.profiles.DegradationBudget`.

    ``paper_length=True`` is the paper's full Figure 6 instead (:data:`PAPER_LENGTH`: hours on a GPU),
    whatever the profile; ``overrides`` change single fields either way.
    """
    if paper_length:
        return CifarConfig(**{**PAPER_LENGTH, "seeds": tuple(profile.degradation.seeds), **overrides})
    b = profile.degradation
    values: dict[str, Any] = dict(
        depths=tuple(b.cifar_depths), width=b.cifar_width, iters=b.cifar_iters, batch=b.cifar_batch,
        lr=b.cifar_lr, lr_milestones=tuple(b.cifar_lr_milestones), augment=b.cifar_augment,
        n_train=b.n_train, n_val=b.n_val, eval_every=b.eval_every, eval_size=b.eval_size, seeds=tuple(b.seeds),
        image_size=b.cifar_image_size,
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
        _shrink(normalize(x_tr.to(device), mean, std), cfg.image_size), data.y_train[train_idx].to(device),
        _shrink(normalize(data.x_train[val_idx].to(device), mean, std), cfg.image_size), data.y_train[val_idx].to(device),
    )


def validation_images(data: ImageData, cfg: CifarConfig, n: int = 256, device: torch.device | str = "cpu") -> Tensor:
    """``n`` validation images exactly as the nets of ``cfg`` see them (normalised, averaged down):
    images no net trained on, for measuring the trained nets (lesson 02's Figure 7)."""
    split = _prepare(data, cfg, torch.device(device))
    if not 1 <= n <= len(split.y_val):
        raise ValueError(f"n must be between 1 and the {len(split.y_val)} validation images, got {n}")
    return split.x_val[:n]


def _shrink(x: Tensor, size: int) -> Tensor:
    """Average ``x`` (N, C, 32, 32) down to ``size`` x ``size`` (each output pixel the mean of a block).

    A cheaper experiment with the same architecture: the nets are fully convolutional up to the
    global average pool, so a 16x16 image costs a quarter of the compute of a 32x32 one.
    """
    if x.shape[-1] % size:
        raise ValueError(f"cannot average {x.shape[-1]}x{x.shape[-1]} images down to {size}x{size}; "
                         f"image_size must divide the image side (valid: {IMAGE_SIZES})")
    factor = x.shape[-1] // size
    return x if factor == 1 else torch.nn.functional.avg_pool2d(x, factor)


def _error(model: nn.Module, x: Tensor, y: Tensor, batch: int = 500) -> float:
    """Top-1 error in evaluation mode (BN running statistics), in [0, 1]."""
    return 1.0 - evaluate_batches(model, ((x[i : i + batch], y[i : i + batch]) for i in range(0, len(y), batch)))[1]


def _lr_at(it: int, depth: int, cfg: CifarConfig) -> float:
    if depth >= cfg.warmup_min_depth and it < cfg.warmup_iters:
        return cfg.warmup_lr
    drops = sum(it >= m * cfg.iters for m in cfg.lr_milestones)
    return cfg.lr * 0.1**drops


def _train_batches(split: _Split, cfg: CifarConfig, seed: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled batches of the training split (a new permutation when one runs out), augmented
    on the device by the loader's batched crop/flip when ``cfg.augment``."""
    gen = torch.Generator().manual_seed(seed + 1)  # the order of the images (CPU)
    aug_gen = torch.Generator(device=device).manual_seed(seed + 2)  # crops and flips, drawn on the device
    n = len(split.y_train)
    while True:
        perm = torch.randperm(n, generator=gen)
        for pos in range(0, n - cfg.batch + 1, cfg.batch):
            idx = perm[pos : pos + cfg.batch].to(device)
            xb = split.x_train[idx]
            if cfg.augment:
                # the paper's 4-pixel shifts (scaled with the image side) and flips, one gather per batch
                xb = random_crop_flip(xb, aug_gen, pad=max(1, 4 * cfg.image_size // 32))
            yield xb, split.y_train[idx]


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
    """Train one plain or residual CIFAR net with the training core; return its history as plain JSON-able types.

    The steps are :func:`resnet_lab.train.core.train_loop`'s (the loop of lesson 04); its hook
    records. Every ``eval_every`` iterations (and at the start and end) the training and validation
    errors are measured in evaluation mode on fixed subsets of ``eval_size`` images: the training
    error is that of the current weights, not a running average over a changing net. A NaN/inf
    loss stops the run and marks it ``diverged``; ``on_eval`` is called with the history after
    every point.
    """
    return _train_cifar_model(depth, residual, split, cfg, seed=seed, device=device, on_eval=on_eval)[0]


def _train_cifar_model(
    depth: int,
    residual: bool,
    split: _Split,
    cfg: CifarConfig,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """:func:`train_cifar_net`, also returning the trained model."""
    device = torch.device(device)
    torch.manual_seed(seed)
    model = cifar_resnet(depth, residual=residual, width=cfg.width).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    ev_tr = torch.randperm(len(split.y_train), generator=torch.Generator().manual_seed(12345))[: cfg.eval_size].to(device)
    x_ev, y_ev = split.x_train[ev_tr], split.y_train[ev_tr]
    x_val, y_val = split.x_val[: cfg.eval_size], split.y_val[: cfg.eval_size]
    hist: dict[str, Any] = {
        "depth": depth, "kind": _kind(residual), "seed": seed, "iters": [], "train_error": [], "val_error": [],
        "loss": [], "diverged": False, "diverged_at": None, "seconds": 0.0,
    }
    start = time.perf_counter()
    running = [0.0, 0]  # sum and count of the training losses since the last point

    def record(it: int, loss: float | None) -> None:
        hist["iters"].append(it)
        hist["train_error"].append(_error(model, x_ev, y_ev))
        hist["val_error"].append(_error(model, x_val, y_val))
        hist["loss"].append(loss)
        hist["seconds"] = time.perf_counter() - start
        if on_eval is not None:
            on_eval(hist)

    def on_step(rec: StepRecord) -> bool:
        value = float(rec.loss)
        if not math.isfinite(value):
            hist["diverged"], hist["diverged_at"] = True, rec.step
            hist["seconds"] = time.perf_counter() - start
            if on_eval is not None:
                on_eval(hist)
            return True  # stop: the weights are no longer finite
        running[0], running[1] = running[0] + value, running[1] + 1
        if rec.step % cfg.eval_every == 0 or rec.step == cfg.iters:
            record(rec.step, running[0] / running[1])
            running[0], running[1] = 0.0, 0
        return False

    record(0, None)  # no loss measured before the first step
    train_loop(model, _train_batches(split, cfg, seed, device), opt, steps=cfg.iters,
               lr_at=lambda it: _lr_at(it, depth, cfg), on_step=on_step)
    return hist, model


def cache_settings(cfg: CifarConfig, depth: int, kind: str, seed: int) -> dict[str, Any]:
    """The settings that decide one run's result, the key of its cache entry (with the data's fingerprint).

    The lists of depths and seeds are left out (they choose which runs exist, not what one gives),
    so adding a depth to a budget reuses the runs already made.
    """
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("depths", "seeds")}
    return {**settings, "depth": depth, "kind": kind, "seed": seed, "version": 3}  # 3: weights kept beside


@dataclass
class DegradationResult:
    """Histories of every (depth, kind, seed) run plus what they were run on."""

    config: CifarConfig
    data_label: str
    data_source: str
    runs: list[dict[str, Any]]
    trained: int  # runs trained now (the others came from the cache)
    seconds: float  # wall time of this call
    weights: dict[tuple[int, str, int], Any] = field(default_factory=dict, repr=False)
    # (depth, kind, seed) -> the trained state_dict in memory, or the path of its cached copy

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of net this result holds (both, unless the experiment was asked for one)."""
        return tuple(k for k in KINDS if any(r["kind"] == k for r in self.runs))

    def model(self, depth: int, kind: str, seed: int | None = None) -> nn.Module:
        """The trained net of one run, in eval mode on the CPU (Figure 7 of lesson 02 measures these).

        Raises ValueError when the run's weights were not kept (a cache written before weights were
        stored: run the experiment again with ``retrain=True``).
        """
        seed = self.config.seeds[0] if seed is None else seed
        self.run(depth, kind, seed)  # a clear error for a run that does not exist
        state = self.weights.get((depth, kind, seed))
        if state is None:
            raise ValueError(f"the weights of {kind}-{depth} (seed {seed}) were not kept; "
                             "run the experiment again with retrain=True")
        if isinstance(state, Path):
            state = store.torch_load(state)
        net = cifar_resnet(depth, residual=kind == "residual", width=self.config.width)
        net.load_state_dict(state)
        return net.eval()

    def run(self, depth: int, kind: str, seed: int | None = None) -> dict[str, Any]:
        seed = self.config.seeds[0] if seed is None else seed
        for r in self.runs:
            if r["depth"] == depth and r["kind"] == kind and r["seed"] == seed:
                return r
        raise ValueError(f"no run for depth {depth}, kind {kind!r}, seed {seed}; depths {self.config.depths}, kinds {KINDS}")


SMALL_NET_WIDTH = 8  # on a CPU, nets this narrow train on one thread (see small_net_threads)


def small_net_threads(width: int, device: torch.device | str) -> Any:
    """One thread for the cpu and quick profiles' narrow nets on a CPU (lessons 01 and 05), else torch's default.

    Measured on this project's 2-core machine: 100 steps of plain-56 and residual-56 at width 8 on
    16x16 images took 21.8 s on two threads with the machine idle and 12.8 s on one thread while
    another two-thread job was running; lesson 05's quick training cell took 22.5 s on one thread,
    idle, and 312 s on two with other jobs running. The convolutions are too small to share.
    """
    from contextlib import nullcontext

    if torch.device(device).type == "cpu" and width <= SMALL_NET_WIDTH:
        return one_thread()
    return nullcontext()


def run_degradation_experiment(
    data: ImageData,
    cfg: CifarConfig,
    *,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    device: torch.device | str = "cpu",
    progress: Callable[[dict[str, Any]], None] | None = None,
    kinds: Sequence[str] = KINDS,
) -> DegradationResult:
    """Train (or load from the cache) plain and residual nets at every depth and seed of ``cfg``.

    ``kinds`` selects the nets (default both; lesson 06 asks for ``("residual",)`` alone).

    Each run is one JSON file of :mod:`resnet_lab.store` (kind ``degradation``, under ``cache_dir``,
    default :func:`resnet_lab.store.runs_dir`), keyed by :func:`cache_settings` and the data's
    fingerprint: changing the budget or the data trains anew, re-running the same notebook only
    re-plots. ``retrain=True`` ignores the cache (and overwrites it); ``cache=False`` neither reads
    nor writes it. A damaged file is trained again. ``progress`` receives each history as it grows.
    """
    if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be a non-empty selection of {KINDS} without repeats, got {tuple(kinds)!r}")
    start = time.perf_counter()
    data_fp = data_fingerprint(data) if cache else ""
    split: _Split | None = None
    runs: list[dict[str, Any]] = []
    weights: dict[tuple[int, str, int], Any] = {}
    trained = 0
    for seed in cfg.seeds:
        for depth in cfg.depths:
            for kind in (k for k in KINDS if k in kinds):
                path = None
                if cache:
                    key = store.settings_key(CACHE_KIND, cache_settings(cfg, depth, kind, seed), data_fp)
                    path = store.cache_path(CACHE_KIND, key, ".json", cache_dir)
                if path is not None and path.is_file() and not retrain:
                    try:
                        hist = store.read_json(path)
                        hist["from_cache"] = True
                        runs.append(hist)
                        if path.with_suffix(".pt").is_file():
                            weights[(depth, kind, seed)] = path.with_suffix(".pt")
                        if progress is not None:
                            progress(hist)
                        continue
                    except (OSError, ValueError):
                        pass  # unreadable cache file: train again and overwrite it
                if split is None:
                    split = _prepare(data, cfg, torch.device(device))
                with small_net_threads(cfg.width, device):
                    hist, model = _train_cifar_model(depth, kind == "residual", split, cfg, seed=seed,
                                                     device=device, on_eval=progress)
                hist = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in hist.items()}
                trained += 1
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                weights[(depth, kind, seed)] = state
                if path is not None:
                    store.atomic_torch_save(path.with_suffix(".pt"), state)  # the weights first: a history
                    store.atomic_write_json(path, hist)  # on disk always has its weights beside it
                hist["from_cache"] = False
                runs.append(hist)
    return DegradationResult(cfg, data.label, data.source, runs, trained, time.perf_counter() - start, weights)


def _last_finite(values: Sequence[float | None]) -> float:
    for v in reversed(values):
        if v is not None and math.isfinite(v):
            return float(v)
    return float("nan")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def final_errors(result: DegradationResult) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (depth, kind): final training and validation error (mean and std over seeds) and divergence.

    A diverged run has no final error (NaN): the net did not finish training. ``train_errors`` lists
    each finished seed's final training error; the std is over seeds (0 with one seed).
    """
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for depth in result.config.depths:
        for kind in result.kinds:
            runs = [result.run(depth, kind, s) for s in result.config.seeds]
            ok = [r for r in runs if not r["diverged"]]
            tr = [_last_finite(r["train_error"]) for r in ok]
            va = [_last_finite(r["val_error"]) for r in ok]
            (tr_mean, tr_std), (va_mean, va_std) = _mean_std(tr), _mean_std(va)
            out[(depth, kind)] = {
                "train_error": tr_mean, "train_error_std": tr_std, "train_errors": tr,
                "val_error": va_mean, "val_error_std": va_std,
                "diverged": len(runs) - len(ok),
                "runs": len(runs),
            }
    return out


def results_table(result: DegradationResult) -> str:
    """The final errors as a fixed-width text table (errors in %; mean ± std over seeds when there are several)."""
    errs = final_errors(result)
    several = len(result.config.seeds) > 1

    def cell(mean: float, std: float) -> str:
        if math.isnan(mean):
            return "--"
        return f"{100 * mean:.1f} ± {100 * std:.1f}%" if several else f"{100 * mean:.1f}%"

    w = 16 if several else 12
    head = f"{_('net'):<12}{_('train error'):>{w}}{_('val error'):>{w}}  {_('note')}"
    seeds = _("  ({n} seeds)").format(n=len(result.config.seeds)) if several else ""
    lines = [head + seeds, "-" * (len(head) + 4)]
    for kind in result.kinds:
        for depth in result.config.depths:
            e = errs[(depth, kind)]
            note = (_("diverged in {diverged} of {runs} runs").format(diverged=e["diverged"], runs=e["runs"])
                    if e["diverged"] else "")
            lines.append(f"{net_name(kind, depth):<12}{cell(e['train_error'], e['train_error_std']):>{w}}"
                         f"{cell(e['val_error'], e['val_error_std']):>{w}}  {note}".rstrip())
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
        return _("diverged") if math.isnan(v) else f"{100 * v:.1f}%"

    names = dict(plain_hi=net_name("plain", hi), plain_lo=net_name("plain", lo),
                 residual_hi=net_name("residual", hi), residual_lo=net_name("residual", lo))
    if degraded:
        s = _("Degradation appeared in this run: {plain_hi} ends with a training error of {p_hi}, "
              "above {plain_lo}'s {p_lo}.").format(**names, p_hi=pct(p_hi), p_lo=pct(p_lo))
    else:
        s = _("Degradation did NOT appear in this run: {plain_hi} ends with a training error of {p_hi}, "
              "not above {plain_lo}'s {p_lo} by more than {margin:.0f} points.").format(
            **names, p_hi=pct(p_hi), p_lo=pct(p_lo), margin=100 * margin)
    if residual_ok:
        s += _(" With shortcuts the deeper net is not worse: {residual_hi} {r_hi} vs {residual_lo} {r_lo}.").format(
            **names, r_hi=pct(r_hi), r_lo=pct(r_lo))
    elif degraded and all(math.isfinite(v) for v in (p_lo, p_hi, r_lo, r_hi)):
        s += _(" With shortcuts the deeper net is still worse: {residual_hi} {r_hi} vs {residual_lo} {r_lo}, "
               "but by {r_gap:.1f} points instead of the plain nets' {p_gap:.1f}.").format(
            **names, r_hi=pct(r_hi), r_lo=pct(r_lo), r_gap=100 * (r_hi - r_lo), p_gap=100 * (p_hi - p_lo))
    else:
        s += _(" With shortcuts the deeper net is still worse: {residual_hi} {r_hi} vs {residual_lo} {r_lo}.").format(
            **names, r_hi=pct(r_hi), r_lo=pct(r_lo))
    s += _(" (Training errors on {data}; margin {margin:.0f} points.)").format(
        data=show(result.data_label), margin=100 * margin)
    return {"degraded": degraded, "residual_ok": residual_ok, "shallow": lo, "deep": hi,
            "plain": (p_lo, p_hi), "residual": (r_lo, r_hi), "sentence": s}


# Sentences lesson 01 (and lesson 02) print around the experiment, in the learner's language.


def image_size_line(cfg: CifarConfig) -> str:
    """The image size the nets train on, noting when it is averaged down from CIFAR-10's 32x32."""
    line = _("images the nets see: {size}x{size}").format(size=cfg.image_size)
    return line + (_(" (averaged down from 32x32)") if cfg.image_size < 32 else "")


def training_summary(result: DegradationResult) -> str:
    """How many nets were trained now, how many came from the cache, and the seconds it took."""
    return _("{trained} nets trained now, {cached} loaded from the cache, {seconds:.1f} s").format(
        trained=result.trained, cached=len(result.runs) - result.trained, seconds=result.seconds)


def final_errors_heading(result: DegradationResult) -> str:
    """The heading printed above :func:`results_table`: the final errors and the data they were measured on."""
    return _("Final errors ({data}):").format(data=show(result.data_label))


def prediction_report(plain: object, residual: object, plain_gap: object, residual_gap: object) -> str:
    """Lesson 01's four prediction checks, one labelled line each, the results aligned in one column.

    The arguments are the checkers' results (:class:`resnet_lab.exercises.CheckResult`), printed with ``str``.
    """
    rows = [(_("Your plain prediction:"), plain), (_("Your residual prediction:"), residual),
            (_("Your plain gap:"), plain_gap), (_("Your residual gap:"), residual_gap)]
    width = max(display_width(label) for label, __ in rows)
    return "\n".join(f"{ljust(label, width)} {check}" for label, check in rows)
