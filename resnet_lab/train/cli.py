"""The command line: ``python -m resnet_lab.train`` (also under ``torchrun``)."""

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
from ..data import ImageData, data_root, load_cifar10, synthetic_cifar
from ..mnist import load_mnist, synthetic_mnist
from ..loader import LOADER_NAMES
from ..models import MODEL_NAMES, paper_cifar_depth
from .. import store
from .checkpoint import state_digest
from .schedule import resolve_amp
from .config import AMP_MODES, SCHEDULES, TrainConfig, recipe
from .distributed import setup_distributed
from .evaluate import final_test
from .fit import fit
from .config import make_model


SYNTHETIC_TRAIN = 10_000  # stand-in training images when --n-train is not given
DEFAULT_N_VAL = 5000  # the paper-faithful 45k/5k split of CIFAR-10's 50k training images


def default_n_val(n_images: int) -> int:
    """5,000 validation images (CIFAR-10's 45k/5k split), or a tenth of a smaller training set."""
    return DEFAULT_N_VAL if n_images >= 10 * DEFAULT_N_VAL else max(1, n_images // 10)


def _check_output(flag: str, path: str | None) -> None:
    """Fail before training if an output file's folder cannot be written."""
    if path:
        try:
            store.check_writable(Path(path).expanduser().parent)
        except store.StoreError as exc:
            raise ValueError(f"{flag}: {exc}") from exc


DATASETS: tuple[str, ...] = ("cifar10", "mnist")


def load_data(
    data_dir: str | Path | None,
    *,
    synthetic: bool = False,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    dataset: str = "cifar10",
) -> ImageData:
    """CIFAR-10 or MNIST (``dataset``) from ``data_dir`` (default: :func:`resnet_lab.data.data_root`),
    or its synthetic stand-in if ``synthetic``.

    Downloads only if ``download``. A missing folder or data set without ``download`` raises
    FileNotFoundError explaining how to get the data.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown --dataset {dataset!r}; valid data sets: {', '.join(DATASETS)}")
    for flag, value in (("--n-train", n_train), ("--n-test", n_test)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive number of images, got {value}")
    if synthetic:
        if dataset == "mnist":
            return synthetic_mnist(n_train or SYNTHETIC_TRAIN, n_test or 1000, seed=seed)
        return synthetic_cifar(n_train or SYNTHETIC_TRAIN, n_test or 1000, seed=seed)
    root = Path(data_dir).expanduser() if data_dir is not None else data_root()
    name = "MNIST" if dataset == "mnist" else "CIFAR-10"
    if not root.exists() and not download:
        raise FileNotFoundError(
            f"data directory {root} does not exist and downloading is off. Create it and put {name} there, "
            "or allow the download (--download), or use --synthetic."
        )
    if dataset == "mnist":
        return load_mnist(root, download=download).subset(n_train, n_test)
    return load_cifar10(root, download=download).subset(n_train, n_test)


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m resnet_lab.train",
        description="Train a ResNet on CIFAR-10 or MNIST (or their synthetic stand-ins). Runs under torchrun as DDP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=d.model, help=f"one of: {', '.join(MODEL_NAMES)}")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step, over all processes")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=None, help="default: the model's recipe (see recipe())")
    p.add_argument("--no-decay-bn-bias", action="store_true", help="no weight decay on BN parameters and biases")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--schedule", default=None, help=f"one of: {', '.join(SCHEDULES)} (default: the model's recipe)")
    p.add_argument("--warmup-epochs", type=float, default=None, help="default: the model's recipe")
    p.add_argument("--n-val", type=int, default=None, help="validation images held out of the training set (default: 5000, or a tenth of fewer than 50,000)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--amp", default=d.amp, help=f"one of: {', '.join(AMP_MODES)}")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--loader", default=d.loader, help=f"one of: {', '.join(LOADER_NAMES)}")
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--width", type=int, default=None, help="first-stage channels of a CIFAR ResNet (default 16)")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoint-dir has last.pt")
    p.add_argument("--max-iters", type=int, default=None, help="stop after this many SGD steps in total")
    p.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py/ (default: $RESNET_LAB_DATA)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 into --data-dir if absent")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS,
                   help="cifar10 (3x32x32 colour) or mnist (1x28x28 digits: the model gets one input channel, "
                        "and digits are shifted but never flipped)")
    p.add_argument("--synthetic", action="store_true", help="use the data set's synthetic stand-in (not the real data)")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--n-test", type=int, default=None, help="use only the first N test images")
    p.add_argument("--test", action="store_true", help="evaluate the test set once at the end")
    p.add_argument("--keep-last", action="store_true", help="end with the last weights, not the best validation epoch's")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--history-json", default=None, help="rank 0 writes the history (and test result) here")
    p.add_argument("--digest-dir", default=None, help="every rank writes rank<R>.json with a hash of its final weights")
    return p


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's config: the model's :func:`recipe`, with what the command line sets explicitly."""
    if args.model not in MODEL_NAMES:
        raise ValueError(f"unknown model {args.model!r}; valid names: {', '.join(MODEL_NAMES)}")
    from_recipe = {k: v for k, v in (("weight_decay", args.weight_decay), ("schedule", args.schedule),
                                     ("warmup_epochs", args.warmup_epochs)) if v is not None}
    return recipe(
        args.model, epochs=args.epochs, batch_size=args.batch_size, n_val=args.n_val, width=args.width,
        compile=args.compile, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        decay_bn_and_bias=not args.no_decay_bn_bias, label_smoothing=args.label_smoothing, seed=args.seed,
        amp=args.amp, channels_last=args.channels_last, loader=args.loader, num_workers=args.num_workers,
        checkpoint_dir=args.checkpoint_dir, resume=not args.no_resume, **from_recipe,
    )


def config_from_argv(argv: Sequence[str]) -> TrainConfig:
    """The :class:`TrainConfig` that ``python -m resnet_lab.train ARGV`` would train with."""
    args = _parser().parse_args(argv)
    if args.n_val is None:
        args.n_val = DEFAULT_N_VAL
    return _config_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m resnet_lab.train --help``. Returns the exit status.

    A user error (bad flag values, data that is missing or corrupt, a checkpoint of another run, an
    unwritable output folder) prints one line naming the flag and exits with status 2, no traceback;
    a diverged run (non-finite loss) exits with status 3, keeping its last good checkpoint.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.width is not None and paper_cifar_depth(args.model) is None:
            raise ValueError(f"--width applies only to the paper's CIFAR nets (resnetN, plainN, preact_resnetN), "
                             f"not to {args.model!r}; leave --width out")
        if args.max_iters is not None and args.max_iters < 1:
            raise ValueError(f"--max-iters must be a positive number of steps, got {args.max_iters}")
        data = load_data(args.data_dir, synthetic=args.synthetic, download=args.download, n_train=args.n_train,
                         n_test=args.n_test, seed=args.seed, dataset=args.dataset)
        if args.n_val is None:
            args.n_val = default_n_val(len(data.y_train))
        if args.n_val >= len(data.y_train):
            raise ValueError(f"--n-val {args.n_val} leaves no training images of the {len(data.y_train)}; lower --n-val")
        config = _config_from_args(args)
        if args.batch_size > len(data.y_train) - args.n_val:
            raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(data.y_train) - args.n_val} "
                             "training images; lower --batch-size or raise --n-train")
        import torch

        resolve_amp(config.amp, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        _check_output("--history-json", args.history_json)
        _check_output("--digest-dir", str(Path(args.digest_dir) / "x") if args.digest_dir else None)
    except (ValueError, FileNotFoundError, store.StoreError) as exc:
        parser.error(str(exc).replace("resume=False", "--no-resume"))  # exits with status 2 and the message
    rank, world, device = setup_distributed()
    try:
        model = make_model(config, num_classes=len(data.classes), in_channels=data.in_channels)
        if rank == 0:
            print(f"{config.model} on {data!r}; {world} process(es) on {device}")
        try:
            history = fit(model, data, config, device=device, progress=not args.no_progress,
                          max_iters=args.max_iters, restore_best=not args.keep_last)
        except (ValueError, store.StoreError) as exc:
            print(f"{parser.prog}: error: {str(exc).replace('--no-resume (resume=False)', '--no-resume').replace('resume=False', '--no-resume')}", file=sys.stderr)
            return 2
        except FloatingPointError as exc:
            print(f"{parser.prog}: error: {exc}", file=sys.stderr)
            return 3
        result: dict[str, Any] = {"history": history.to_dict(), "config": config.to_dict()}
        if args.test and not history.meta["interrupted"] and rank == 0:
            test = final_test(model, data, history, device=device)
            result["test"] = {"loss": test.loss, "accuracy": test.accuracy, "n": test.n}
        if args.digest_dir:
            store.atomic_write_json(Path(args.digest_dir) / f"rank{rank}.json",
                                    {"rank": rank, "world_size": world, "digest": state_digest(model)})
        if args.history_json and rank == 0:
            store.atomic_write_json(args.history_json, result)
        return 130 if history.meta["interrupted"] else 0
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
