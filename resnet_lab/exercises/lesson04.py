"""Exercise checkers of lesson 04 (CIFAR-10 training)."""

from __future__ import annotations

from torch import nn

from ..train.schedule import param_groups
from .core import CheckResult, check_choice, check_number

__all__ = ["check_paper_epochs", "check_no_decay_count", "check_selection_split"]


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
