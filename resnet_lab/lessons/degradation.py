"""Lesson 01, the paper's experiment (He et al. 2015, Figure 6): plain vs residual CIFAR nets.

Plain and residual CIFAR ResNets (:func:`resnet_lab.models.cifar_resnet`) at growing depth are
trained with SGD and recorded as error-against-iteration curves, then read as a table and a
verdict sentence. Results are cached on disk as JSON so a notebook re-plots without retraining.
A run whose loss becomes NaN or infinite is stopped, kept and marked ``diverged``; it never
raises. The figure is :func:`resnet_lab.plots.plot_error_curves`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import ImageData, channel_stats, normalize, train_val_split
from ..loader import random_crop_flip
from ..models import cifar_resnet
from .toy import KINDS

__all__ = [
    "KINDS",
    "CifarConfig",
    "config_from_profile",
    "train_cifar_net",
    "DegradationResult",
    "run_degradation_experiment",
    "cache_key",
    "final_errors",
    "results_table",
    "degradation_verdict",
]


def _kind(residual: bool) -> str:
    return "residual" if residual else "plain"


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
    gen = torch.Generator().manual_seed(seed + 1)  # the order of the images (CPU)
    aug_gen = torch.Generator(device=device).manual_seed(seed + 2)  # crops and flips, drawn on the device
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
            xb = random_crop_flip(xb, aug_gen)  # the paper's 4-pixel shifts and flips, one gather per batch
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
