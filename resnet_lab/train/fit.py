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
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from ..data import ImageData, channel_stats, train_val_split
from ..loader import DeviceLoader, make_loader
from .checkpoint import _cpu_state, load_checkpoint, save_checkpoint
from .config import TrainConfig, _is_int
from .core import autocast as _autocast, train_step
from .distributed import _dist_info
from .evaluate import _evaluate_loader, _resolve_device
from .history import _SERIES, History
from .live import _LivePlot, _progress_bar
from .schedule import lr_at, make_optimizer, resolve_amp


def _check_resume(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
    old = state["config"]
    for key in ("model", "width", "batch_size"):
        if old.get(key) != getattr(config, key):
            raise ValueError(
                f"checkpoint {path} was written with {key}={old.get(key)!r}, this run has {key}={getattr(config, key)!r}. "
                "Use another checkpoint_dir, or resume=False to start over."
            )


def _fmt_epoch(history: History, total_epochs: int) -> str:
    i = -1
    val = (
        f"val loss {history.val_loss[i]:.3f} acc {100 * history.val_acc[i]:5.2f}%"  # type: ignore[operator]
        if history.val_acc[i] is not None
        else "no validation"
    )
    return (
        f"epoch {history.epoch[i]:>3}/{total_epochs}  train loss {history.train_loss[i]:.3f} "
        f"acc {100 * history.train_acc[i]:5.2f}%  {val}  lr {history.lr[i]:.4g}  "
        f"{history.epoch_time_s[i]:.1f} s  {history.images_per_s[i]:,.0f} img/s"
    )


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
    })
    start_epoch, start_batch, partial = 0, 0, None
    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    last_path = ckpt_dir / "last.pt" if ckpt_dir else None
    best_path = ckpt_dir / "best.pt" if ckpt_dir else None
    best_state: dict[str, Tensor] | None = None
    if last_path is not None and config.resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=dev)
        _check_resume(state, config, last_path)
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
            where = f"epoch {start_epoch}" + (f", batch {start_batch}" if start_batch else "")
            done = "; already complete" if start_epoch * steps_per_epoch + start_batch >= total_steps else ""
            print(f"resumed from {last_path} at {where} ({len(history)} epochs of history kept){done}")

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
            "config": config.to_dict(), "partial": part, "format": 1,
        }

    step = start_epoch * steps_per_epoch + start_batch
    bar = _progress_bar(total_steps, step, enabled=progress and main_rank, desc=f"{config.model} ({data.label})")
    live = _LivePlot(f"Training {config.model}") if live_plot and main_rank else None
    if live is not None and len(history):
        live.update(history)
    epoch, batch = start_epoch, start_batch
    sums = torch.zeros(3, device=dev, dtype=torch.float64)  # loss*images, correct, images (on the device: no sync per step)
    train_time = 0.0
    t0: float | None = None  # start of the running training loop (None outside it)
    try:
        for epoch in range(start_epoch, n_epochs):
            batch = start_batch if epoch == start_epoch else 0
            sums.zero_()
            train_time = prior_time = 0.0
            if partial and epoch == start_epoch and batch:
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
            val = _evaluate_loader(model, val_loader, amp_dtype) if val_loader is not None else None
            history.append(
                epoch=epoch + 1, step=step, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
                val_loss=val.loss if val else None, val_acc=val.accuracy if val else None, lr=float(lr),
                images_per_s=seen / max(train_time, 1e-9),
                epoch_time_s=time.perf_counter() - t_epoch + prior_time,
            )
            is_best = val is not None and history.best_epoch == epoch + 1
            if is_best and best_path is None:
                best_state = _cpu_state(model)
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
        msg = f"interrupted in epoch {epoch + 1}, after {batch} of its {steps_per_epoch} batches"
        if main_rank and last_path is not None:
            in_epoch = len(history) <= epoch  # False when the epoch was already recorded
            state = checkpoint(epoch if in_epoch else epoch + 1, batch if in_epoch else 0, step, part if in_epoch else None)
            save_checkpoint(last_path, state)
            msg += f"; saved {last_path}. Run fit again with the same checkpoint_dir to resume."
        if main_rank:
            print(msg)
    finally:
        if bar is not None:
            bar.close()
        if live is not None:
            live.close()
    if world > 1:
        dist.barrier()  # rank 0 has finished writing best.pt
    if restore_best and not history.meta["interrupted"] and history.best_epoch is not None:
        if best_path is not None and best_path.exists():
            model.load_state_dict(load_checkpoint(best_path, map_location=dev)["model"])
        elif best_state is not None:
            model.load_state_dict(best_state)
        history.meta["restored_epoch"] = history.best_epoch
    return history
