"""Lesson 02 exercises: a block's Jacobian from its branch's, the gradient as a sum over paths, the path
count, the gradient through a stack of blocks, the cancelling scale. Code exercises are graded against
autograd; no message contains the expected values."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..lessons.jacobians import jacobian
from ..lessons.paths import path_counts
from ..lessons.probing import calibrate_batchnorm
from ..i18n import _
from ..models import BasicBlock
from .core import CheckResult, call_attempt, check_number, code_check

__all__ = ["check_path_count", "check_stack_gradient", "check_cancelling_scale", "block_jacobian_reference",
           "check_block_jacobian", "paths_by_length_reference", "check_paths_by_length"]


def block_jacobian_reference(J_F: Tensor, open_mask: Tensor) -> Tensor:
    """Jacobian of ``relu(x + F(x))``: the identity plus the branch's Jacobian, rows of closed ReLUs zeroed."""
    eye = torch.eye(J_F.shape[0], dtype=J_F.dtype)
    return torch.diag(open_mask.to(J_F.dtype)) @ (eye + J_F)


def check_block_jacobian(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Compare ``fn(J_F, open_mask)`` with autograd's Jacobian of a calibrated :class:`BasicBlock`.

    ``J_F`` is the branch's Jacobian (outputs x inputs, flattened), ``open_mask`` the 0/1 vector of
    the ReLU after the addition (1 where ``x + F(x) > 0``).
    """

    def run() -> str | None:
        torch.manual_seed(0)
        block = calibrate_batchnorm(BasicBlock(3, 3), torch.randn(16, 3, 4, 4))
        x = torch.randn(1, 3, 4, 4)
        J_F = jacobian(block.branch, x)
        with torch.no_grad():
            mask = ((x + block.branch(x)) > 0).float().flatten()
        want = jacobian(block, x)  # autograd on the whole block
        got = call_attempt(fn, J_F.clone(), mask.clone())
        if not isinstance(got, Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__
            return _("return a square matrix of the size of J_F; got {shape}.").format(shape=shape)
        got = got.detach().to(want.dtype)
        if torch.allclose(got, want, atol=1e-5):
            return None
        eye = torch.eye(J_F.shape[0])
        D = torch.diag(mask)
        if torch.allclose(got, J_F, atol=1e-5) or torch.allclose(got, D @ J_F, atol=1e-5):
            return _("the shortcut is missing: y = relu(x + F(x)) adds the identity I to the branch's Jacobian.")
        if torch.allclose(got, eye + J_F, atol=1e-5):
            return _("the ReLU after the addition is missing: where it is closed (mask 0) the row of the Jacobian is zero.")
        if torch.allclose(got, (eye + J_F) @ D, atol=1e-5):
            return _("the mask is on the wrong side: the ReLU acts on the OUTPUT, so it zeroes rows, not columns.")
        if torch.allclose(got, D @ (eye + J_F.T), atol=1e-5) or torch.allclose(got, (D @ (eye + J_F)).T, atol=1e-5):
            return _("transposed: a Jacobian's rows are outputs and its columns inputs.")
        return _("your matrix differs from autograd's Jacobian of the block.")

    return code_check(_("`block_jacobian`"), block_jacobian_reference, run)


def paths_by_length_reference(slopes: Sequence[float]) -> list[float]:
    """Entry k: the sum, over every choice of k of the blocks, of the product of the chosen branches' slopes
    (a path through k branches and n - k shortcuts contributes the product of its branch slopes)."""
    n = len(slopes)
    out = [0.0] * (n + 1)
    for choice in itertools.product((0, 1), repeat=n):
        out[sum(choice)] += math.prod(a for a, take in zip(slopes, choice) if take)
    return out


def _chain_derivative(weights: Sequence[float], x0: float) -> tuple[list[float], float]:
    """Scalar residual blocks x <- x + w * tanh(x): each branch's slope at its input, and dx_n/dx_0 by autograd."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    h, slopes = x, []
    for w in weights:
        hi = h.detach()
        slopes.append(float(w * (1 - torch.tanh(hi) ** 2)))
        h = h + w * torch.tanh(h)
    (grad,) = torch.autograd.grad(h, x)
    return slopes, float(grad)


_CHAINS = (((0.5, -0.3, 0.8, -0.6), 0.4), ((1.2, 0.7, -0.9), -0.2), ((0.3, 0.3, 0.3, 0.3, 0.3), 0.1))


def check_paths_by_length(fn: Callable[[list[float]], Sequence[float]]) -> CheckResult:
    """``fn(slopes)`` returns, per path length k = 0..n, the summed contribution of the paths through k branches.

    Graded on chains of scalar blocks ``x + w tanh(x)``: the lengths against the expansion of the
    product, their total against autograd's derivative of the whole chain.
    """

    def run() -> str | None:
        for weights, x0 in _CHAINS:
            slopes, grad = _chain_derivative(weights, x0)
            n = len(slopes)
            got = call_attempt(fn, list(slopes))
            try:
                got = [float(v) for v in got]
            except (TypeError, ValueError):
                return _("return a list of numbers, one per path length.")
            want = paths_by_length_reference(slopes)
            case = _("For {n} blocks").format(n=n)
            if len(got) != n + 1:
                return _("{case} return {n} + 1 numbers: path lengths 0 (shortcuts only) to {n} (every branch).").format(
                    case=case, n=n)
            if all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(got, want)):
                if not math.isclose(sum(got), grad, rel_tol=1e-6):
                    return _("{case} your lengths do not add up to the chain's derivative.").format(case=case)  # pragma: no cover
                continue
            if all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(got, reversed(want))):
                return _("{case} your list is reversed: entry k must be the paths through k branches (entry 0: no branch).").format(
                    case=case)
            if [round(v) for v in got] == path_counts(n):
                return _("{case} you counted the paths: weight each path by the product of its branches' slopes.").format(case=case)
            if math.isclose(got[0], 0.0, abs_tol=1e-9) and all(
                    math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(got[1:], want[1:])):
                return _("{case} the path through no branch (shortcuts only) is missing: it contributes 1.").format(case=case)
            if math.isclose(sum(got), grad, rel_tol=1e-6):
                return _("{case} your total is right but its split over path lengths is not.").format(case=case)
            return (_("{case} your total is too high compared with autograd's derivative of the chain.")
                    if sum(got) > grad else
                    _("{case} your total is too low compared with autograd's derivative of the chain.")).format(case=case)
        return None

    return code_check(_("`paths_by_length`"), paths_by_length_reference, run)


def check_path_count(answer: int, n: int, k: int) -> CheckResult:
    """How many paths of length ``k`` (through exactly ``k`` branches) does a net of ``n`` blocks have?"""
    expected = path_counts(n)[k]
    return check_number(answer, expected, why=_("a path picks which {k} of the {n} branches it goes through: C({n}, {k}).").format(
        k=k, n=n))


def check_stack_gradient(answer: float, derivative: float, blocks: int) -> CheckResult:
    """Gradient factor through ``blocks`` scalar residual blocks whose branch has slope ``derivative``."""
    expected = (1 + derivative) ** blocks
    return check_number(
        answer, expected, rel_tol=1e-3, abs_tol=1e-12,
        why=_("each block multiplies the gradient by 1 + dF/dx = {gain}, so {blocks} blocks give ({gain})^{blocks}.").format(
            gain=f"{1 + derivative:g}", blocks=blocks),
    )


def check_cancelling_scale(answer: float, slope: float) -> CheckResult:
    """A branch ``F = s * G`` has ``dG/dx = slope``: which scale ``s`` makes the block pass no gradient?"""
    if slope == 0:
        raise ValueError("slope must be non-zero: a branch with dG/dx = 0 cannot cancel the shortcut at any scale")
    expected = -1.0 / slope  # the root of the block's gain 1 + s * slope
    return check_number(
        answer, expected, rel_tol=1e-3,
        why=_("dy/dx = 1 + s * {slope} vanishes at s = -1/{slope}: then dF/dx = -1 and the branch cancels the +1.").format(
            slope=f"{slope:g}"),
    )
