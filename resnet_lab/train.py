"""Training on CIFAR-10 (or the stand-in): config, ``fit``, ``evaluate``, checkpoints, CLI and DDP.

The recipe of He et al. (2015), section 4.2, is the default: SGD with momentum 0.9, batch 128,
weight decay 1e-4, learning rate 0.1 divided by 10 at 32k and 48k iterations and stopped at 64k
(here: at 50% and 75% of however long the run is), random crop with padding 4 and horizontal flip.

Honest evaluation: :func:`fit` splits the training set into train and validation parts
(45k/5k on CIFAR-10) and chooses the best checkpoint on validation accuracy only; the test set
is touched by one explicit call to :func:`final_test`, at the end, never inside ``fit``.

Checkpoints (``last.pt`` after every epoch and on Ctrl-C, ``best.pt`` on each new best validation
accuracy) hold plain types only, are written to a temporary file and renamed, and are read with
``torch.load(..., weights_only=True)``. Calling ``fit`` again with the same ``checkpoint_dir``
resumes where the last one stopped, history included.

Command line (the same code), on one device or under ``torchrun`` as DDP::

    python -m resnet_lab.train --model resnet20 --epochs 200 --data-dir ~/data --checkpoint-dir runs/r20 --test
    torchrun --nproc_per_node=4 -m resnet_lab.train --model resnet56 --epochs 200 --data-dir ~/data --test
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .exercises.core import CheckResult, check_choice, check_number
from .data import ImageData, channel_stats, data_root, load_cifar10, synthetic_cifar, train_val_split
from .loader import LOADER_NAMES, DeviceLoader, make_loader
from .models import MODEL_NAMES, build_model

__all__ = [
    "SCHEDULES",
    "AMP_MODES",
    "TrainConfig",
    "History",
    "EvalResult",
    "lr_at",
    "param_groups",
    "make_optimizer",
    "make_model",
    "recipe",
    "resolve_amp",
    "evaluate",
    "fit",
    "final_test",
    "save_checkpoint",
    "load_checkpoint",
    "load_weights",
    "state_digest",
    "load_data",
    "setup_distributed",
    "config_from_argv",
    "runs_dir",
    "check_paper_epochs",
    "check_no_decay_count",
    "check_selection_split",
    "main",
]

SCHEDULES: tuple[str, ...] = ("step", "onecycle", "cosine")
AMP_MODES: tuple[str, ...] = ("auto", "bf16", "fp16", "off")
CHECKPOINT_KEYS: tuple[str, ...] = ("model", "optimizer", "epoch", "batch", "step", "history", "config")
# The paper's step schedule: /10 at 32k and 48k of 64k iterations, i.e. at these fractions of the run.
STEP_MILESTONES: tuple[float, ...] = (32 / 64, 48 / 64)
# One-cycle shape (the defaults of torch.optim.lr_scheduler.OneCycleLR).
ONECYCLE_PCT_START, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4
# Nets that are not the paper's CIFAR family (so they have no `width` and no 6n+2 depth).
_NOT_PAPER = ("cifar_resnet18", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def _paper_depth(model: str) -> int | None:
    """Depth of one of the paper's CIFAR nets (resnetN, plainN, preact_resnetN), else None."""
    if model not in MODEL_NAMES or model in _NOT_PAPER:
        return None
    return int(model[len(model.rstrip("0123456789")):])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything that defines a training run. Units in the comments; checked on creation."""

    model: str = "resnet20"  # a name from resnet_lab.models.MODEL_NAMES
    epochs: int = 182  # passes over the training split (64k iterations of 128 on 45k images = 182)
    batch_size: int = 128  # images per SGD step, summed over all DDP ranks
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # SGD momentum
    nesterov: bool = False  # Nesterov momentum instead of the heavy ball
    weight_decay: float = 1e-4  # L2 penalty coefficient
    decay_bn_and_bias: bool = True  # True: decay every parameter (the paper); False: not BN scales/shifts, biases
    label_smoothing: float = 0.0  # probability mass spread over all classes in the training loss
    schedule: str = "step"  # "step" (paper: /10 at 50% and 75% of the run), "onecycle" or "cosine"
    warmup_epochs: float = 0.0  # epochs of linear warm-up from lr/10 (step and cosine schedules)
    n_val: int = 5000  # images held out of the training set for validation (0: no validation)
    split_seed: int = 0  # seed of the train/validation split (keep it fixed when comparing runs)
    seed: int = 0  # seed of the weights (make_model), the batch order and the augmentation
    amp: str = "auto"  # autocast: "auto" (bf16 on CUDA if supported, else fp16; off on CPU), "bf16", "fp16", "off"
    channels_last: bool | None = None  # NHWC memory layout; None: on CUDA only
    compile: bool = False  # torch.compile the training model
    loader: str = "device"  # "device" (uint8 on the device, batched augmentation) or "torchvision"
    num_workers: int = 2  # worker processes of the torchvision loader
    width: int | None = None  # first-stage channels of a CIFAR ResNet (None: the paper's 16)
    eval_batch_size: int = 512  # images per evaluation batch
    checkpoint_dir: str | None = None  # folder for last.pt / best.pt (None: no checkpoints)
    resume: bool = True  # continue from checkpoint_dir/last.pt when it exists

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; valid names: {', '.join(MODEL_NAMES)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")
        for name in ("n_val", "num_workers", "seed", "split_seed"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (e.g. 0.9)")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs!r}")
        if self.warmup_epochs and self.schedule == "onecycle":
            raise ValueError("the onecycle schedule has its own warm-up; use warmup_epochs=0 with it")
        if self.amp not in AMP_MODES:
            raise ValueError(f"unknown amp mode {self.amp!r}; valid modes: {', '.join(AMP_MODES)}")
        if self.loader not in LOADER_NAMES:
            raise ValueError(f"unknown loader {self.loader!r}; valid loaders: {', '.join(LOADER_NAMES)}")
        if self.width is not None:
            if not _is_int(self.width) or self.width < 1:
                raise ValueError(f"width must be a positive integer or None, got {self.width!r}")
            if _paper_depth(self.model) is None:
                raise ValueError(
                    f"width applies only to the paper's CIFAR nets (resnetN, plainN, preact_resnetN with N = 6n+2), "
                    f"not to {self.model!r}; use width=None"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (safe for JSON and ``weights_only`` checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def make_model(config: TrainConfig, num_classes: int = 10) -> nn.Module:
    """The model named in ``config``, initialised from ``config.seed`` without touching the global RNG."""
    kwargs: dict[str, Any] = {} if config.width is None else {"width": config.width}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(config.model, num_classes=num_classes, **kwargs)


def recipe(
    model: str,
    *,
    epochs: int,
    batch_size: int = 128,
    n_val: int = 5000,
    width: int | None = None,
    compile: bool = False,
    **overrides: Any,
) -> TrainConfig:
    """The training recipe we use for ``model``; ``overrides`` replace any field.

    * the paper's CIFAR nets (``resnetN``, ``plainN``, ``preact_resnetN``): section 4.2 of He et al.
      (2015): SGD lr 0.1, momentum 0.9, weight decay 1e-4 on all parameters, the step schedule
      (/10 at 50% and 75% of the run); N >= 110 adds one epoch of warm-up, as the paper
      starts ResNet-110 at lr 0.01 "until the training error is below 80%";
    * ``cifar_resnet18`` (and the other ImageNet-shaped nets): 11M parameters overfit 45k images
      more, so weight decay 5e-4 and the cosine schedule, the usual recipe for ~95% on CIFAR-10.

    ``width`` applies to the paper's CIFAR nets only and is ignored for the others.
    """
    depth = _paper_depth(model)
    if depth is not None:
        base: dict[str, Any] = dict(schedule="step", weight_decay=1e-4, decay_bn_and_bias=True, width=width,
                                    warmup_epochs=1.0 if depth >= 110 and epochs > 1 else 0.0)
    else:
        base = dict(schedule="cosine", weight_decay=5e-4, decay_bn_and_bias=True, width=None)
    base |= dict(model=model, epochs=epochs, batch_size=batch_size, n_val=n_val, lr=0.1, momentum=0.9, compile=compile)
    return TrainConfig(**(base | overrides))


# --------------------------------------------------------------------------------------------
# Learning-rate schedules and the optimiser
# --------------------------------------------------------------------------------------------
def lr_at(
    step: int, total_steps: int, *, base_lr: float, schedule: str = "step", warmup_steps: int = 0
) -> float:
    """Learning rate of SGD step ``step`` (0-based) in a run of ``total_steps`` steps.

    * ``step``: ``base_lr``, divided by 10 at 50% and 75% of the run (the paper's 32k and 48k of
      64k iterations), as ``torch.optim.lr_scheduler.MultiStepLR``;
    * ``cosine``: half a cosine from ``base_lr`` to 0, as ``CosineAnnealingLR(T_max=total_steps)``;
    * ``onecycle``: up from ``base_lr/25`` to ``base_lr`` in the first 30%, then down to
      ``base_lr/25/1e4``, both by cosine, as ``OneCycleLR`` (without momentum cycling).

    ``warmup_steps`` (step and cosine) ramps linearly from ``base_lr/10`` over the first steps.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
    if total_steps < 1 or not 0 <= step:
        raise ValueError(f"need total_steps >= 1 and step >= 0, got step={step}, total_steps={total_steps}")
    if schedule == "onecycle":
        initial = base_lr / ONECYCLE_DIV
        minimum = initial / ONECYCLE_FINAL_DIV
        end_up = float(ONECYCLE_PCT_START * total_steps) - 1
        end_down = float(total_steps - 1)

        def anneal(start: float, end: float, pct: float) -> float:
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

        if step <= end_up:
            return anneal(initial, base_lr, step / end_up)
        return anneal(base_lr, minimum, (step - end_up) / max(end_down - end_up, 1e-12))
    if schedule == "step":
        milestones = [round(f * total_steps) for f in STEP_MILESTONES]
        lr = base_lr * 0.1 ** sum(step >= m for m in milestones)
    else:
        lr = base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    if step < warmup_steps:
        lr = lr * (0.1 + 0.9 * step / warmup_steps)
    return lr


def param_groups(model: nn.Module, weight_decay: float, decay_bn_and_bias: bool = True) -> list[dict[str, Any]]:
    """Optimiser parameter groups: weight decay on every parameter, or only on weight matrices/kernels.

    With ``decay_bn_and_bias=False`` one-dimensional parameters (BatchNorm scales and shifts,
    biases) get no weight decay. BN makes a layer's output independent of the scale of the
    weights before it, so decaying BN's own scale mainly shrinks the signal instead of regularising.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_bn_and_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum (Nesterov if asked) over :func:`param_groups`."""
    return torch.optim.SGD(
        param_groups(model, config.weight_decay, config.decay_bn_and_bias),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: full float32)."""
    if amp not in AMP_MODES:
        raise ValueError(f"unknown amp mode {amp!r}; valid modes: {', '.join(AMP_MODES)}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device (it uses a gradient scaler); on the CPU use 'bf16' or 'off'")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# --------------------------------------------------------------------------------------------
# History and evaluation
# --------------------------------------------------------------------------------------------
_SERIES = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "epoch_time_s")


@dataclass
class History:
    """Per-epoch record of a run, plain Python types only (JSON- and ``weights_only``-safe).

    Accuracies are fractions in [0, 1]. ``val_*`` are None when the run had no validation split.
    ``train_loss`` is the training objective (with label smoothing if used); ``val_loss`` is the
    plain cross-entropy. ``images_per_s`` counts training images over the training part of the epoch;
    ``epoch_time_s`` is the whole epoch's wall time, evaluation included.
    """

    epoch: list[int] = field(default_factory=list)  # epochs completed (1-based)
    step: list[int] = field(default_factory=list)  # SGD steps completed at the end of the epoch
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)  # learning rate of the epoch's last step
    images_per_s: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # model, data, mean/std, steps, resumes, interruptions

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **values: Any) -> None:
        for name in _SERIES:
            getattr(self, name).append(values[name])

    @property
    def best_epoch(self) -> int | None:
        """Epoch (1-based) with the highest validation accuracy (None without validation)."""
        scored = [(acc, e) for e, acc in zip(self.epoch, self.val_acc) if acc is not None]
        if not scored:
            return None
        best = max(acc for acc, _ in scored)
        return next(e for acc, e in scored if acc == best)

    @property
    def best_val_acc(self) -> float | None:
        accs = [a for a in self.val_acc if a is not None]
        return max(accs) if accs else None

    @property
    def total_time_s(self) -> float:
        return float(sum(self.epoch_time_s))

    def to_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in _SERIES} | {"meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        missing = [name for name in _SERIES if name not in d]
        if missing:
            raise ValueError(f"not a training history: missing {', '.join(missing)}")
        return cls(**{name: list(d[name]) for name in _SERIES}, meta=dict(d.get("meta", {})))


@dataclass
class EvalResult:
    """Loss (mean cross-entropy), accuracy (fraction) and the logits (CPU float32) of an evaluation."""

    loss: float
    accuracy: float
    logits: Tensor
    labels: Tensor

    @property
    def probs(self) -> Tensor:
        return self.logits.softmax(dim=1)

    @property
    def predictions(self) -> Tensor:
        return self.logits.argmax(dim=1)

    @property
    def n(self) -> int:
        return len(self.labels)

    def __str__(self) -> str:
        return f"loss {self.loss:.4f}, accuracy {100 * self.accuracy:.2f}% on {self.n} images"


def _evaluate_loader(model: nn.Module, loader: DeviceLoader, amp_dtype: torch.dtype | None) -> EvalResult:
    was_training = model.training
    model.eval()
    logits_list: list[Tensor] = []
    labels_list: list[Tensor] = []
    try:
        with torch.inference_mode(), _autocast(loader.device, amp_dtype):
            for x, y in loader.epoch(0):
                logits_list.append(model(x).float().cpu())
                labels_list.append(y.cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(logits_list)
    labels = torch.cat(labels_list)
    loss = nn.functional.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).double().mean().item()
    return EvalResult(loss, acc, logits, labels)


def _resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def evaluate(
    model: nn.Module,
    images_uint8: Tensor,
    labels: Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str | None = None,
    batch_size: int = 512,
    amp: str = "off",
    channels_last: bool = False,
) -> EvalResult:
    """Loss and accuracy of ``model`` (in eval mode, no augmentation) on uint8 images.

    ``mean``/``std`` must be those of the training split (``History.meta['mean']``/``['std']``).
    The model is moved to ``device`` (default: CUDA if available, else the CPU).
    """
    dev = _resolve_device(device)
    model.to(dev)
    loader = DeviceLoader(
        images_uint8, labels, batch_size=batch_size, mean=mean, std=std, device=dev, train=False,
        channels_last=channels_last,
    )
    return _evaluate_loader(model, loader, resolve_amp(amp, dev))


def final_test(
    model: nn.Module,
    data: ImageData,
    history: History,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 512,
    verbose: bool = True,
) -> EvalResult:
    """The one test-set evaluation of a finished run, with the training split's normalisation.

    Call it once, after every choice (model, epochs, checkpoint) was made on validation data.
    """
    mean, std = history.meta.get("mean"), history.meta.get("std")
    if mean is None or std is None:
        raise ValueError("history.meta has no 'mean'/'std': pass the History that fit() returned")
    result = evaluate(model, data.x_test, data.y_test, mean=mean, std=std, device=device, batch_size=batch_size)
    if verbose:
        print(f"test accuracy (reported once): {100 * result.accuracy:.2f}% on {result.n} test images ({data.label})")
    return result


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: to a temporary file in the same folder, then ``os.replace``.

    A crash while writing leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: torch.device | str | None = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a clear error if it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for damaged files
        raise ValueError(
            f"checkpoint {path} is corrupt or not a resnet_lab checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Delete it, or use another checkpoint_dir "
            "or resume=False."
        ) from exc
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        have = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint {path} is not a resnet_lab checkpoint: expected keys {CHECKPOINT_KEYS}, got {have}")
    return state


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``model`` (on the model's device); returns the checkpoint."""
    device = next(model.parameters()).device
    state = load_checkpoint(path, map_location=device)
    model.load_state_dict(state["model"])
    return state


def state_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, shapes and bytes): equal digests, equal weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------------
def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup_distributed() -> tuple[int, int, torch.device]:
    """Start DDP from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK): NCCL on CUDA, gloo on CPU.

    Returns ``(rank, world_size, device)``; without torchrun: ``(0, 1, default device)``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank, world = _dist_info()
    return rank, world, device


# --------------------------------------------------------------------------------------------
# Live plot
# --------------------------------------------------------------------------------------------
class _LivePlot:
    """One figure shown once and updated in place each epoch (``display_id``), closed at the end."""

    def __init__(self, title: str) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .evaluation import plot_history

        self._plt = plt
        self._plot = plot_history
        self.title = title
        self.fig, self.axes = plt.subplots(1, 3, figsize=(13, 3.4))
        self.handle = display(self.fig, display_id=True)

    def update(self, history: History) -> None:
        for ax in self.axes:
            ax.clear()
        self._plot(history, axes=self.axes, title=self.title)
        if self.handle is not None:
            self.handle.update(self.fig)

    def close(self) -> None:
        self._plt.close(self.fig)


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------
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
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with _autocast(dev, amp_dtype):
                    out = train_model(x)
                    loss = criterion(out, y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
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


def _progress_bar(total: int, initial: int, *, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)


def runs_dir() -> Path:
    """Where lessons keep checkpoints: ``$RESNET_LAB_RUNS``, else ``<cache>/resnet_lab/runs``."""
    env = os.environ.get("RESNET_LAB_RUNS")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "resnet_lab" / "runs"


# --------------------------------------------------------------------------------------------
# Exercise checkers of lesson 04
# --------------------------------------------------------------------------------------------
def check_paper_epochs(answer: float, *, iterations: int = 64_000, batch_size: int = 128, n_train: int = 45_000) -> CheckResult:
    """How many epochs (passes over 45k images) are the paper's 64k iterations of batch 128?"""
    expected = iterations * batch_size / n_train
    return check_number(answer, expected, abs_tol=1.0, why=(
        f"{iterations:,} steps x {batch_size} images = {iterations * batch_size:,} images, "
        f"divided by {n_train:,} images per epoch = {expected:.1f} epochs (a whole number within 1 counts)."
    ))


def check_no_decay_count(answer: int, model: nn.Module) -> CheckResult:
    """How many parameters of ``model`` get no weight decay with ``decay_bn_and_bias=False``?"""
    groups = param_groups(model, 1e-4, decay_bn_and_bias=False)
    expected = sum(p.numel() for p in groups[1]["params"])
    n_bn = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return check_number(answer, expected, why=(
        f"every BatchNorm layer has a scale and a shift per channel ({n_bn} BN layers here), and the "
        f"classifier has one bias per class; together {expected:,} of {sum(p.numel() for p in model.parameters()):,} parameters."
    ))


def check_selection_split(answer: str) -> CheckResult:
    """Which split may be used to choose the checkpoint (or any hyper-parameter)?"""
    return check_choice(answer, "validation", ("train", "validation", "test"), why=(
        "choices are made on held-out validation images; the training loss is biased by fitting, and a test set "
        "used for choosing stops being an unbiased estimate of the error on new images."
    ))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def load_data(
    data_dir: str | Path | None,
    *,
    synthetic: bool = False,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> ImageData:
    """CIFAR-10 from ``data_dir`` (default: :func:`resnet_lab.data.data_root`), or the stand-in if ``synthetic``.

    Downloads only if ``download``. A missing folder or archive without ``download`` raises
    FileNotFoundError explaining how to get the data.
    """
    if synthetic:
        return synthetic_cifar(n_train or 5000, n_test or 1000, seed=seed)
    root = Path(data_dir).expanduser() if data_dir is not None else data_root()
    if not root.exists() and not download:
        raise FileNotFoundError(
            f"data directory {root} does not exist and downloading is off. Create it and put CIFAR-10 there, "
            "or allow the download (--download), or use --synthetic."
        )
    return load_cifar10(root, download=download).subset(n_train, n_test)


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m resnet_lab.train",
        description="Train a ResNet on CIFAR-10 (or the synthetic stand-in). Runs under torchrun as DDP.",
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
    p.add_argument("--n-val", type=int, default=d.n_val, help="validation images held out of the training set")
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
    p.add_argument("--synthetic", action="store_true", help="use the synthetic stand-in (not CIFAR-10)")
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
    return _config_from_args(_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m resnet_lab.train --help``. Returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config_from_args(args)
        data = load_data(args.data_dir, synthetic=args.synthetic, download=args.download, n_train=args.n_train,
                         n_test=args.n_test, seed=args.seed)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))  # exits with status 2 and the message
    rank, world, device = setup_distributed()
    try:
        model = make_model(config, num_classes=len(data.classes))
        if rank == 0:
            print(f"{config.model} on {data!r}; {world} process(es) on {device}")
        history = fit(model, data, config, device=device, progress=not args.no_progress, max_iters=args.max_iters,
                      restore_best=not args.keep_last)
        result: dict[str, Any] = {"history": history.to_dict(), "config": config.to_dict()}
        if args.test and not history.meta["interrupted"] and rank == 0:
            test = final_test(model, data, history, device=device)
            result["test"] = {"loss": test.loss, "accuracy": test.accuracy, "n": test.n}
        if args.digest_dir:
            Path(args.digest_dir).mkdir(parents=True, exist_ok=True)
            (Path(args.digest_dir) / f"rank{rank}.json").write_text(
                json.dumps({"rank": rank, "world_size": world, "digest": state_digest(model)})
            )
        if args.history_json and rank == 0:
            Path(args.history_json).write_text(json.dumps(result, indent=1))
        return 130 if history.meta["interrupted"] else 0
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
