"""Lesson 02 exercises: the path count, the gradient through a stack of blocks, the cancelling scale."""

from __future__ import annotations

from ..lessons.paths import path_counts
from .core import CheckResult, check_number

__all__ = ["check_path_count", "check_stack_gradient", "check_cancelling_scale"]


def check_path_count(answer: int, n: int, k: int) -> CheckResult:
    """How many paths of length ``k`` (through exactly ``k`` branches) does a net of ``n`` blocks have?"""
    expected = path_counts(n)[k]
    return check_number(answer, expected, why=f"a path picks which {k} of the {n} branches it goes through: C({n}, {k}).")


def check_stack_gradient(answer: float, derivative: float, blocks: int) -> CheckResult:
    """Gradient factor through ``blocks`` scalar residual blocks whose branch has slope ``derivative``."""
    expected = (1 + derivative) ** blocks
    return check_number(
        answer, expected, rel_tol=1e-3, abs_tol=1e-12,
        why=f"each block multiplies the gradient by 1 + dF/dx = {1 + derivative:g}, so {blocks} blocks give ({1 + derivative:g})^{blocks}.",
    )


def check_cancelling_scale(answer: float, slope: float) -> CheckResult:
    """A branch ``F = s * G`` has ``dG/dx = slope``: which scale ``s`` makes the block pass no gradient?"""
    if slope == 0:
        raise ValueError("slope must be non-zero: a branch with dG/dx = 0 cannot cancel the shortcut at any scale")
    expected = -1.0 / slope  # the root of the block's gain 1 + s * slope
    return check_number(
        answer, expected, rel_tol=1e-3,
        why=f"dy/dx = 1 + s * {slope:g} vanishes at s = -1/{slope:g}: then dF/dx = -1 and the branch cancels the +1.",
    )
