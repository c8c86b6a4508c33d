"""``fit``: train a model for a number of epochs, with validation, checkpoints, resume and DDP.

The SGD step itself is :func:`resnet_lab.train.core.train_step`, the same as every other loop of the package.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from ..data import ImageData, channel_stats, show, train_val_split
from ..i18n import _
from ..loader import DeviceLoader, make_loader
from .. import store
from .checkpoint import _cpu_state, load_checkpoint, save_checkpoint
from .config import TrainConfig, _is_int
from .core import autocast as _autocast, train_step
from .distributed import _dist_info
from .evaluate import _evaluate_loader, _resolve_device
from .history import _SERIES, History
from .live import _LivePlot, _progress_bar
from .schedule import lr_at, make_optimizer, resolve_amp


# Settings that do not change what a run computes; every other TrainConfig field must match to resume.
# ``epochs`` may grow: extending a finished run is a resume by design (the schedule is refitted to the new length).
_NOT_RESULT_KEYS = frozenset({"checkpoint_dir", "resume", "num_workers", "eval_batch_size", "compile", "epochs"})
_DATA_KEYS = ("data", "source", "data_fingerprint", "n_train", "n_val")


def _resume_mismatch(state: dict[str, Any], config: TrainConfig, meta: dict[str, Any]) -> list[str]:
    """The differences (``"lr: 0.1 -> 0.05"``) between a checkpoint's run and this one; empty if none."""
    old_cfg, new_cfg = state["config"], config.to_dict()
    diffs = [f"{k}: {old_cfg.get(k)!r} -> {new_cfg[k]!r}" for k in new_cfg
             if k not in _NOT_RESULT_KEYS and old_cfg.get(k) != new_cfg[k]]
    old_meta = state["history"].get("meta", {})
    diffs += [f"{k}: {old_meta.get(k)!r} -> {meta.get(k)!r}" for k in _DATA_KEYS if old_meta.get(k) != meta.get(k)]
    return diffs


def _check_resume(state: dict[str, Any], config: TrainConfig, meta: dict[str, Any], path: Path) -> None:
    diffs = _resume_mismatch(state, config, meta)
    if diffs:
        raise ValueError(
            f"{path} belongs to a different run ({'; '.join(diffs)}), so it cannot be resumed. Use another "
            "checkpoint folder (--checkpoint-dir / checkpoint_dir), or start over with --no-resume (resume=False), "
            "which moves the earlier run aside instead of deleting it."
        )


def _move_aside(ckpt_dir: Path) -> Path:
    """Rename an earlier run's folder to ``<name>.previous-<timestamp>`` and return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = ckpt_dir.with_name(f"{ckpt_dir.name}.previous-{stamp}")
    i = 1
    while target.exists():
        target, i = ckpt_dir.with_name(f"{ckpt_dir.name}.previous-{stamp}-{i}"), i + 1
    ckpt_dir.rename(target)
    return target


class _DeferredInterrupt:
    """Ctrl-C during training stops *between* two steps, never inside one.

    A KeyboardInterrupt in the middle of a step would leave BatchNorm's running statistics updated by
    a batch whose weight update never happened, so the resumed run would differ from an uninterrupted
    one. While active (main thread only), the first SIGINT is recorded and :meth:`check` raises
    KeyboardInterrupt after the current step; a second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _fmt_epoch(history: History, total_epochs: int) -> str:
    i = -1
    val = (
        _("val loss {loss:.3f} acc {acc:5.2f}%").format(loss=history.val_loss[i], acc=100 * history.val_acc[i])  # type: ignore[operator]
        if history.val_acc[i] is not None
        else _("no validation")
    )
    return _(
        "epoch {epoch:>3}/{total}  train loss {loss:.3f} acc {acc:5.2f}%  {val}  lr {lr:.4g}  "
        "{seconds:.1f} s  {speed:,.0f} img/s"
    ).format(epoch=history.epoch[i], total=total_epochs, loss=history.train_loss[i], acc=100 * history.train_acc[i],
             val=val, lr=history.lr[i], seconds=history.epoch_time_s[i], speed=history.images_per_s[i])


def resume_summary(history: History) -> str:
    """How many epochs a history holds after a re-run of ``fit`` and where it resumed from
    (``history.meta["resumed_from"]``: the [epoch, batch] of each resume), in the learner's language."""
    return _("epochs in the history after the re-run: {n} (resumed from {resumed})").format(
        n=len(history), resumed=history.meta.get("resumed_from", []))


def fit(
    model: nn.Module,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    live_plot: bool = False,
    max_iters: int | None = None,
    verbose: bool = True,
    restore_best: bool = True,
    on_epoch_end: Callable[[History], None] | None = None,
) -> History:
    """Train ``model`` on ``data``'s training images as ``config`` says; returns the :class:`History`.

    * ``config.n_val`` training images are held out (``train_val_split``) for validation; the
      normalisation comes from the remaining training split; the test set is not touched.
    * ``max_iters`` caps the run at that many SGD steps in total; the schedule is fitted to the
      shorter run. ``restore_best`` loads the weights of the best validation epoch at the end.
    * With ``config.checkpoint_dir``, ``last.pt`` is written after every epoch and on Ctrl-C
      (KeyboardInterrupt: fit stops, saves and returns the history with ``meta['interrupted']``),
      ``best.pt`` on each new best validation accuracy. A later call resumes from ``last.pt``.
    * Under ``torch.distributed`` (see :func:`setup_distributed`) the model is wrapped in DDP,
      each rank trains on its shard with ``batch_size / world_size`` images per step, and only
      rank 0 writes checkpoints and prints.
    """
    dev = _resolve_device(device)
    rank, world = _dist_info()
    main_rank = rank == 0
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of DDP processes ({world})")
    if max_iters is not None and (not _is_int(max_iters) or max_iters < 1):
        raise ValueError(f"max_iters must be a positive integer or None, got {max_iters!r}")
    n = len(data.y_train)
    if config.n_val:
        train_idx, val_idx = train_val_split(n, config.n_val, seed=config.split_seed)
    else:
        train_idx, val_idx = torch.arange(n), torch.arange(0)
    x_tr, y_tr = data.x_train[train_idx], data.y_train[train_idx]
    mean, std = channel_stats(x_tr)
    amp_dtype = resolve_amp(config.amp, dev)
    channels_last = dev.type == "cuda" if config.channels_last is None else config.channels_last
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    per_rank_batch = config.batch_size // world
    train_loader = make_loader(
        config.loader, x_tr, y_tr, batch_size=per_rank_batch, mean=mean, std=std, device=dev, train=True,
        seed=config.seed, rank=rank, world_size=world, channels_last=channels_last, num_workers=config.num_workers,
        flip=data.mirror_symmetric,  # no flips for digits: a mirrored digit is not that digit
    )
    val_loader = (
        DeviceLoader(data.x_train[val_idx], data.y_train[val_idx], batch_size=config.eval_batch_size, mean=mean,
                     std=std, device=dev, train=False, channels_last=channels_last)
        if config.n_val else None
    )
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the {len(y_tr)} training images (after holding out "
            f"n_val={config.n_val}); use a smaller batch_size or more data"
        )
    total_steps = config.epochs * steps_per_epoch if max_iters is None else min(max_iters, config.epochs * steps_per_epoch)
    n_epochs = -(-total_steps // steps_per_epoch)
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    optimizer = make_optimizer(model, config)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    history = History(meta={
        "model": config.model, "data": data.label, "source": data.source, "mean": list(mean), "std": list(std),
        "n_train": len(y_tr), "n_val": int(config.n_val), "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps, "world_size": world, "device": str(dev), "torch": str(torch.__version__),
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off", "channels_last": channels_last,
        "resumed_from": [], "interrupted": False,
        "data_fingerprint": store.fingerprint(data.x_train) + store.fingerprint(data.y_train),
    })
    start_epoch, start_batch, partial = 0, 0, None
    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    last_path = ckpt_dir / "last.pt" if ckpt_dir else None
    best_path = ckpt_dir / "best.pt" if ckpt_dir else None
    best_state: dict[str, Tensor] | None = None
    best_epoch_saved: int | None = None
    if ckpt_dir is not None and main_rank:
        store.clean_stale_temporaries(ckpt_dir)  # left by a save that was killed
        if not config.resume and last_path is not None and last_path.exists():
            moved = _move_aside(ckpt_dir)
            if verbose:
                print(_("starting over: the earlier run in {folder} was moved to {moved}").format(
                    folder=ckpt_dir, moved=moved))
        store.check_writable(ckpt_dir)  # before the first step, not after hours of training
    if world > 1:
        dist.barrier()
    if last_path is not None and config.resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=dev)
        _check_resume(state, config, history.meta, last_path)
        if state.get("best"):
            best_state, best_epoch_saved = state["best"]["model"], int(state["best"]["epoch"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        old = History.from_dict(state["history"])
        history = History(**{k: getattr(old, k) for k in _SERIES}, meta=old.meta | {
            k: v for k, v in history.meta.items() if k not in ("resumed_from", "interrupted")
        })
        start_epoch, start_batch, partial = int(state["epoch"]), int(state["batch"]), state.get("partial")
        history.meta["resumed_from"] = list(old.meta.get("resumed_from", [])) + [[start_epoch, start_batch]]
        history.meta["interrupted"] = False
        if main_rank and verbose:
            where = (_("epoch {epoch}, batch {batch}") if start_batch else _("epoch {epoch}")).format(
                epoch=start_epoch, batch=start_batch)
            done = _("; already complete") if start_epoch * steps_per_epoch + start_batch >= total_steps else ""
            print(_("resumed from {path} at {where} ({n} epochs of history kept){done}").format(
                path=last_path, where=where, n=len(history), done=done))

    train_model: nn.Module = model
    if world > 1:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if config.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]

    def checkpoint(epoch: int, batch: int, step: int, part: dict[str, float] | None) -> dict[str, Any]:
        return {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "epoch": epoch, "batch": batch, "step": step, "history": history.to_dict(),
            "config": config.to_dict(), "partial": part, "format": 2,
            # The best validation epoch's weights live in the same atomic file as the history that names it.
            "best": {"epoch": best_epoch_saved, "model": best_state} if best_state is not None else None,
        }

    step = start_epoch * steps_per_epoch + start_batch
    bar = _progress_bar(total_steps, step, enabled=progress and main_rank, desc=f"{config.model} ({show(data.label)})")
    live = _LivePlot(_("Training {model}").format(model=config.model)) if live_plot and main_rank else None
    if live is not None and len(history):
        live.update(history)
    epoch, batch = start_epoch, start_batch
    sums = torch.zeros(3, device=dev, dtype=torch.float64)  # loss*images, correct, images (on the device: no sync per step)
    train_time = 0.0
    t0: float | None = None  # start of the running training loop (None outside it)
    interrupt = _DeferredInterrupt().__enter__()
    try:
        for epoch in range(start_epoch, n_epochs):
            batch = start_batch if epoch == start_epoch else 0
            sums.zero_()
            train_time = prior_time = 0.0
            if partial and epoch == start_epoch and batch and main_rank:  # rank 0's own partial sums, added once
                sums += torch.tensor([partial["loss_sum"], partial["correct"], partial["seen"]], device=dev, dtype=sums.dtype)
                train_time = prior_time = float(partial["time_s"])
            t_epoch = time.perf_counter()
            t0 = time.perf_counter()
            train_model.train()
            lr = optimizer.param_groups[0]["lr"]
            for x, y in train_loader.epoch(epoch, batch):
                if step >= total_steps:
                    break
                lr = lr_at(step, total_steps, base_lr=config.lr, schedule=config.schedule, warmup_steps=warmup_steps)
                loss, out = train_step(train_model, x, y, optimizer, lr=lr, criterion=criterion, amp_dtype=amp_dtype,
                                       scaler=scaler)
                with torch.no_grad():
                    sums[0] += loss.detach().double() * len(y)
                    sums[1] += (out.argmax(1) == y).sum()
                    sums[2] += len(y)
                step += 1
                batch += 1
                interrupt.check()  # a Ctrl-C during the step stops here, with the step complete
                if bar is not None:
                    bar.update(1)
                    if step % 25 == 0 or step == total_steps:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", lr=f"{lr:.3g}")
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            train_time += time.perf_counter() - t0
            t0 = None
            totals = sums.clone()
            if world > 1:
                dist.all_reduce(totals)
                for buf in model.buffers():  # BN statistics: make every rank hold rank 0's
                    dist.broadcast(buf, 0)
            loss_sum, correct, seen = totals.tolist()
            if not math.isfinite(loss_sum):
                where = (_(" ({path} still holds the last good epoch)").format(path=last_path)
                         if last_path is not None and last_path.exists() else "")
                raise FloatingPointError(_(
                    "the training loss became {loss} in epoch {epoch}: training diverged{where}. "
                    "Lower the learning rate (--lr) or add warm-up (--warmup-epochs)."
                ).format(loss=loss_sum / max(seen, 1), epoch=epoch + 1, where=where))
            val = _evaluate_loader(model, val_loader, amp_dtype) if val_loader is not None else None
            history.append(
                epoch=epoch + 1, step=step, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
                val_loss=val.loss if val else None, val_acc=val.accuracy if val else None, lr=float(lr),
                images_per_s=seen / max(train_time, 1e-9),
                epoch_time_s=time.perf_counter() - t_epoch + prior_time,
            )
            is_best = val is not None and history.best_epoch == epoch + 1
            if is_best:
                best_state, best_epoch_saved = _cpu_state(model), epoch + 1
            if main_rank and ckpt_dir is not None:
                state = checkpoint(epoch + 1, 0, step, None)
                save_checkpoint(last_path, state)  # type: ignore[arg-type]
                if is_best:
                    save_checkpoint(best_path, state)  # type: ignore[arg-type]
            if main_rank:
                if live is not None:
                    live.update(history)
                if verbose:
                    line = _fmt_epoch(history, n_epochs)
                    (bar.write(line) if bar is not None else print(line))
            if on_epoch_end is not None:
                on_epoch_end(history)
            batch = 0
    except KeyboardInterrupt:
        history.meta["interrupted"] = True
        if t0 is not None:
            train_time += time.perf_counter() - t0
        loss_sum, correct, seen = sums.tolist()
        part = {"loss_sum": loss_sum, "correct": correct, "seen": seen, "time_s": train_time}
        msg = (_("interrupted in epoch {epoch}, after {batch} of its {n} batches") if batch < steps_per_epoch
               else _("interrupted at the end of epoch {epoch} (all {n} batches done)")).format(
                   epoch=epoch + 1, batch=batch, n=steps_per_epoch)
        if main_rank and last_path is not None:
            in_epoch = len(history) <= epoch  # False when the epoch was already recorded
            state = checkpoint(epoch if in_epoch else epoch + 1, batch if in_epoch else 0, step, part if in_epoch else None)
            save_checkpoint(last_path, state)
            msg += _("; saved {path}. Run fit again with the same checkpoint_dir to resume.").format(path=last_path)
        if main_rank:
            print(msg)
    finally:
        interrupt.__exit__()
        if bar is not None:
            bar.close()
        if live is not None:
            live.close()
    if world > 1:
        dist.barrier()  # rank 0 has finished writing best.pt
    if restore_best and not history.meta["interrupted"] and history.best_epoch is not None:
        if best_state is not None and best_epoch_saved == history.best_epoch:
            model.load_state_dict(best_state)
            history.meta["restored_epoch"] = history.best_epoch
        else:  # never test other weights as if they were the best ones
            history.meta["restored_epoch"] = None
            if main_rank and verbose:
                print(_("the weights of the best epoch ({epoch}) were not saved; keeping the last weights").format(
                    epoch=history.best_epoch))
    return history
