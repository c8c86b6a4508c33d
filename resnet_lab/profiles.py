"""Run profiles: the one place that decides how big every experiment is.

* ``quick``: continuous integration and a first look. Seconds per notebook, CPU, stand-in data.
* ``cpu``: a laptop. A few minutes per notebook; real CIFAR-10 where it is on disk.
* ``gpu``: the full experiments of the paper, on a CUDA GPU with real CIFAR-10.

The profile is chosen automatically (``gpu`` when CUDA is available, ``cpu`` otherwise) unless the
environment variable ``RESNET_LAB_PROFILE`` names one. ``make test`` sets it to ``quick``.
Lessons read step counts, data sizes and depths from here and from nowhere else; each lesson has
its own small budget dataclass below, with one value per profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "PROFILE_ENV",
    "PROFILE_NAMES",
    "ProfileName",
    "Profile",
    "DegradationBudget",
    "GradientBudget",
    "ArithmeticBudget",
    "TrainingBudget",
    "WhyBudget",
    "VariantsBudget",
    "get_profile",
    "default_device",
]

PROFILE_ENV = "RESNET_LAB_PROFILE"
ProfileName = Literal["quick", "cpu", "gpu"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("quick", "cpu", "gpu")


# --- lesson 01: degradation ------------------------------------------------------------------
@dataclass(frozen=True)
class DegradationBudget:
    """Budget of lesson 01 (plain vs residual at growing depth)."""

    toy_max_depth: int  # deepest MLP the slider offers (layers)
    toy_steps: int  # optimisation steps per toy training run
    toy_points: int  # 2-D points in the toy data set
    cifar_depths: tuple[int, ...]  # CIFAR ResNet depths (6n+2) of the paper experiment
    cifar_width: int  # channels of the first stage (the paper: 16)
    cifar_iters: int  # SGD iterations per network
    cifar_batch: int  # images per SGD step
    n_train: int  # training images (stand-in or CIFAR-10 subset)
    n_val: int  # validation images
    eval_every: int  # iterations between two points of the error curves
    seeds: tuple[int, ...]  # one run per seed and network
    cifar_lr: float = 0.1  # SGD learning rate (the paper: 0.1)
    cifar_lr_milestones: tuple[float, ...] = ()  # lr / 10 at these fractions of cifar_iters (paper: 0.5, 0.75)
    cifar_augment: bool = False  # the paper's 4-pixel shifts and flips (worth it only for long runs)
    eval_size: int = 500  # images of the fixed train/val subsets on which the errors are measured
    cifar_image_size: int = 32  # image side the nets see (16: the 32x32 images averaged down, 4x cheaper)


# --- lesson 02: the gradient "+1" ------------------------------------------------------------
@dataclass(frozen=True)
class GradientBudget:
    """Budget of lesson 02 (gradients, Jacobians, layer responses, paths)."""

    max_depth: int  # deepest net the depth slider offers
    width: int  # channels of the first stage of the probed nets (the paper: 16)
    batch: int  # images per probe/SGD batch of the slider (small: a move must answer in ~3 s on 2 CPU cores)
    train_steps: int  # SGD steps before the "after k steps" gradient measurement
    jacobian_depth: int  # net whose first-stage blocks' Jacobians and spectra are taken
    jacobian_size: int  # side of the feature map fed to a block (Jacobian size: width * side^2 squared)
    response_depths: tuple[int, ...]  # depths of the Figure 7 response-statistics plot
    response_width: int  # channels of the first stage of those nets
    response_iters: int  # SGD iterations before measuring responses
    response_batch: int  # images per SGD step of those short trainings
    n_train: int  # stand-in/CIFAR images used for those short trainings
    path_depth: int  # the small net whose gradient is split by path length
    figure7_depths: tuple[int, ...] = (20, 56)  # Figure 7 measures lesson 01's trained nets of these depths ...
    figure7_iters: int | None = None  # ... trained this long (None: lesson 01's budget, so its cached nets are reused)


# --- lesson 03: block arithmetic -------------------------------------------------------------
@dataclass(frozen=True)
class ArithmeticBudget:
    """Budget of lesson 03 (counting parameters and FLOPs)."""

    imagenet_flop_check: bool  # also count ResNet-18..152 MACs with FlopCounterMode (meta device, ~1 s per net)
    cifar_check_max_depth: int  # deepest CIFAR ResNet also counted by PyTorch; the table covers 20..1202 by
    # formula either way (FlopCounterMode on ResNet-1202 takes ~5 s even on the meta device)


# --- lesson 04: CIFAR-10 training -------------------------------------------------------------
@dataclass(frozen=True)
class TrainingBudget:
    """Budget of lesson 04 (the full CIFAR-10 training run)."""

    model: str  # default model of the lesson (see resnet_lab.models.MODEL_NAMES)
    width: int | None  # first-stage channels of the paper's CIFAR nets (None: the paper's 16)
    epochs: int  # passes over the training split
    batch_size: int  # images per SGD step
    n_train: int  # training images, validation included (50,000 on real CIFAR-10)
    n_val: int  # of those, held out for validation (5,000 on real CIFAR-10: the 45k/5k split)
    n_test: int  # test images (10,000 on real CIFAR-10)
    compile: bool  # torch.compile the model
    benchmark_batches: int  # batches timed when comparing the two data paths


# --- lesson 05: why it works ------------------------------------------------------------------
@dataclass(frozen=True)
class WhyBudget:
    """Budget of lesson 05 (lesions, loss landscapes, pre-activation)."""

    depth: int  # depth of the residual and plain nets studied
    width: int  # channels of the first stage
    train_iters: int  # SGD iterations to train each net
    batch: int  # images per SGD step
    n_train: int  # training images
    n_eval: int  # images used to evaluate lesions and loss slices
    landscape_points_1d: int  # points of a 1-D loss slice
    landscape_points_2d: int  # points per axis of a 2-D loss slice (odd, so the trained weights are a point)
    preact_depth: int  # depth of the pre-activation comparison (original vs pre-activation)
    lesion_samples: int  # random block sets deleted per k in the random-lesion study
    lesion_max_k: int  # largest number of blocks deleted at random


# --- lesson 06: variants ---------------------------------------------------------------------
@dataclass(frozen=True)
class VariantsBudget:
    """Budget of lesson 06 (wide and grouped variants at equal compute, depth's limit, MNIST)."""

    compare_size: int  # image side of the equal-compute comparison (32: CIFAR's; smaller: averaged down)
    compare_steps: int  # SGD steps per net of that comparison
    compare_batch: int  # images per step
    n_train: int  # training images of the comparison (validation included)
    n_eval: int  # of those, held out for validation
    mnist_width: int  # first-stage channels of the MNIST ResNet-20
    mnist_epochs: int  # passes over the MNIST training split
    mnist_n_train: int  # MNIST training images (validation included)
    mnist_batch: int  # images per step
    depth_iters: int | None = None  # section 3's residual nets: lesson 01's iterations (None) or fewer


@dataclass(frozen=True)
class Profile:
    """Everything a lesson may size itself by."""

    name: ProfileName
    device: torch.device
    use_real_data: bool  # use CIFAR-10 where it is on disk (never in quick)
    degradation: DegradationBudget
    gradients: GradientBudget
    arithmetic: ArithmeticBudget
    training: TrainingBudget
    why: WhyBudget
    variants: VariantsBudget

    def describe(self) -> str:
        data = "CIFAR-10 if present, else the synthetic stand-in" if self.use_real_data else "synthetic stand-in"
        return f"profile {self.name!r} on {self.device} ({data})"


_DEGRADATION = {
    "quick": DegradationBudget(
        toy_max_depth=30, toy_steps=150, toy_points=256, cifar_depths=(8, 32), cifar_width=8,
        cifar_iters=150, cifar_batch=64, n_train=500, n_val=200, eval_every=50, seeds=(0,),
        cifar_lr=0.05, cifar_lr_milestones=(0.5, 0.75), eval_size=300, cifar_image_size=16,
    ),
    "cpu": DegradationBudget(
        toy_max_depth=50, toy_steps=150, toy_points=256, cifar_depths=(20, 32, 44, 56), cifar_width=8,
        cifar_iters=500, cifar_batch=48, n_train=1000, n_val=500, eval_every=100, seeds=(0, 1),
        # The paper's lr 0.1 at batch 128, scaled to batch 48 (0.04), with its two drops moved later (60%
        # and 85%) so the deepest residual net finishes fitting. 1,000 images at 16x16 (averaged down):
        # small enough that a net which optimises well fits its training set in 500 steps on 2 CPU cores,
        # so what remains of the training error is optimisation difficulty, the paper's point. Measured
        # on 2 cores: at lr 0.05, batch 64 and drops at 50%/75% residual-56 ended 1.9 points above
        # residual-20, and its steps (timed on idle cores) add up to about 10 minutes; at lr 0.1 and 400
        # steps residual-56 ended at 14-47%. The wall time of this budget is in resnet_lab/reference_data/lesson01_cpu.json.
        cifar_lr=0.04, cifar_lr_milestones=(0.6, 0.85), eval_size=250, cifar_image_size=16,
    ),
    "gpu": DegradationBudget(
        toy_max_depth=50, toy_steps=150, toy_points=256, cifar_depths=(20, 32, 44, 56), cifar_width=16,
        # Sized for one Colab sitting: about 17 minutes on a T4 by resnet_lab.estimates (an estimate from
        # counted FLOPs, not a measurement). The paper's full 64k iterations: config_from_profile(...,
        # paper_length=True), the switch lesson 01 names PAPER_LENGTH.
        cifar_iters=6000, cifar_batch=128, n_train=45000, n_val=5000, eval_every=500, seeds=(0,),
        cifar_lr=0.1, cifar_lr_milestones=(0.5, 0.75), cifar_augment=True, eval_size=2000,
    ),
}
_GRADIENTS = {
    "quick": GradientBudget(max_depth=110, width=16, batch=8, train_steps=3, jacobian_depth=56, jacobian_size=6,
                            response_depths=(20, 56), response_width=8, response_iters=20, response_batch=16,
                            n_train=1000, path_depth=20, figure7_depths=(8, 32), figure7_iters=40),
    "cpu": GradientBudget(max_depth=110, width=16, batch=8, train_steps=5, jacobian_depth=110, jacobian_size=8,
                          response_depths=(20, 56), response_width=16, response_iters=150, response_batch=32,
                          n_train=5000, path_depth=20),
    "gpu": GradientBudget(max_depth=110, width=16, batch=32, train_steps=20, jacobian_depth=110, jacobian_size=8,
                          response_depths=(20, 56, 110), response_width=16, response_iters=5000, response_batch=128,
                          n_train=45000, path_depth=20),
}
_ARITHMETIC = {
    "quick": ArithmeticBudget(imagenet_flop_check=True, cifar_check_max_depth=110),
    "cpu": ArithmeticBudget(imagenet_flop_check=True, cifar_check_max_depth=1202),
    "gpu": ArithmeticBudget(imagenet_flop_check=True, cifar_check_max_depth=1202),
}
_TRAINING = {
    "quick": TrainingBudget(model="resnet20", width=8, epochs=2, batch_size=64, n_train=1000, n_val=200, n_test=500,
                            compile=False, benchmark_batches=8),
    "cpu": TrainingBudget(model="resnet20", width=None, epochs=5, batch_size=128, n_train=8000, n_val=1000,
                          n_test=2000, compile=False, benchmark_batches=30),
    "gpu": TrainingBudget(model="resnet20", width=None, epochs=200, batch_size=128, n_train=50000, n_val=5000,
                          n_test=10000, compile=True, benchmark_batches=100),
}
_WHY = {
    "quick": WhyBudget(depth=20, width=8, train_iters=150, batch=32, n_train=2000, n_eval=250,
                       landscape_points_1d=9, landscape_points_2d=5, preact_depth=20, lesion_samples=3,
                       lesion_max_k=4),
    "cpu": WhyBudget(depth=20, width=16, train_iters=600, batch=64, n_train=10000, n_eval=1000,
                     landscape_points_1d=21, landscape_points_2d=11, preact_depth=32, lesion_samples=6,
                     lesion_max_k=6),
    # about 18 minutes on a T4 by resnet_lab.estimates (an estimate from counted FLOPs, not a measurement)
    "gpu": WhyBudget(depth=56, width=16, train_iters=4000, batch=128, n_train=50000, n_eval=5000,
                     landscape_points_1d=41, landscape_points_2d=21, preact_depth=110, lesion_samples=20,
                     lesion_max_k=12),
}

_VARIANTS = {
    "quick": VariantsBudget(compare_size=8, compare_steps=30, compare_batch=32, n_train=600, n_eval=200,
                            mnist_width=8, mnist_epochs=2, mnist_n_train=1200, mnist_batch=64, depth_iters=40),
    "cpu": VariantsBudget(compare_size=16, compare_steps=250, compare_batch=32, n_train=4000, n_eval=1000,
                          mnist_width=16, mnist_epochs=3, mnist_n_train=8000, mnist_batch=128),
    "gpu": VariantsBudget(compare_size=32, compare_steps=4000, compare_batch=128, n_train=50000, n_eval=5000,
                          mnist_width=16, mnist_epochs=15, mnist_n_train=60000, mnist_batch=128),
}


def default_device() -> torch.device:
    """CUDA when available, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def get_profile(name: str | None = None, device: torch.device | str | None = None) -> Profile:
    """The run profile: ``name`` if given, else ``$RESNET_LAB_PROFILE``, else gpu/cpu by hardware.

    Raises ValueError for a name that is not one of ``quick``, ``cpu``, ``gpu``.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip().lower() or None
        source = f"${PROFILE_ENV}"
    else:
        source = "name"
    if name is None:
        name = "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PROFILE_NAMES:
        raise ValueError(f"unknown run profile {name!r} (from {source}); valid profiles: {', '.join(PROFILE_NAMES)}")
    dev = torch.device(device) if device is not None else (torch.device("cpu") if name == "quick" else default_device())
    return Profile(
        name=name,  # type: ignore[arg-type]
        device=dev,
        use_real_data=name != "quick",
        degradation=_DEGRADATION[name],
        gradients=_GRADIENTS[name],
        arithmetic=_ARITHMETIC[name],
        training=_TRAINING[name],
        why=_WHY[name],
        variants=_VARIANTS[name],
    )
