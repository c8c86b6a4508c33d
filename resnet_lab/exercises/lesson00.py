"""Lesson 00 exercises: the forward pass of a residual block, and the paper's option-A shortcut.

Both are graded by behaviour against :mod:`resnet_lab.models` (:class:`~resnet_lab.models.BasicBlock`
with the same weights, :class:`~resnet_lab.models.ShortcutA`); a wrong attempt gets a hint that names
the mistake, never the expected tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..i18n import _
from ..models import BasicBlock, make_shortcut
from .core import CheckResult, call_attempt, code_check

__all__ = ["residual_forward_reference", "shortcut_a_reference", "check_residual_forward", "check_shortcut_a"]


def residual_forward_reference(x: Tensor, branch: Callable[[Tensor], Tensor]) -> Tensor:
    """A residual block's output: the branch's output plus the input (the shortcut), then a ReLU."""
    return torch.relu(branch(x) + x)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def check_residual_forward(fn: Callable[[Tensor, Callable[[Tensor], Tensor]], Tensor]) -> CheckResult:
    """Compare ``fn(x, branch)`` with :class:`BasicBlock` (16 channels, eval mode) on random inputs."""

    def run() -> str | None:
        torch.manual_seed(0)
        block = BasicBlock(16, 16).eval()
        for bn in (block.bn1, block.bn2):  # non-trivial BN statistics, so the branch is not ~ x-independent
            nn.init.uniform_(bn.weight, 0.5, 1.5)
            nn.init.uniform_(bn.bias, -0.5, 0.5)
        x = torch.randn(2, 16, 8, 8)
        with torch.no_grad():
            want, f = block(x), block.branch(x)
            got = call_attempt(fn, x.clone(), block.branch)
        if not isinstance(got, Tensor):
            return _("return a tensor (the block's output), not a {type}.").format(type=type(got).__name__)
        got = got.detach()
        if got.shape != want.shape:
            return _("your output has shape {shape}; a block without downsampling keeps the input's shape.").format(
                shape=tuple(got.shape))
        if _close(got, want):
            return None
        if _close(got, torch.relu(f)) or _close(got, f):
            return _("the output ignores the shortcut: the input x has to be added to the branch's output.")
        if _close(got, torch.relu(x)) or _close(got, x):
            return _("the output ignores the branch: call branch(x) and add its output to x.")
        if _close(got, torch.relu(f) + x) or _close(got, f + torch.relu(x)):
            return _("ReLU applied before the addition: in the paper's block the ReLU comes after F(x) + x.")
        if _close(got, f + x):
            return _("no ReLU after the addition: the paper's block ends with relu(F(x) + x).")
        if _close(got, torch.relu(f - x)) or _close(got, torch.relu(x - f)):
            return _("check the sign: the shortcut ADDS the input to the branch's output.")
        return _("your output differs from the BasicBlock's with the same weights; write it as relu(branch(x) + x).")

    return code_check(_("`residual_forward`"), residual_forward_reference, run)


def shortcut_a_reference(x: Tensor, out_channels: int, stride: int) -> Tensor:
    """Option A: keep every ``stride``-th pixel in height and width, then append zero channels."""
    x = x[:, :, ::stride, ::stride]
    extra = out_channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, 0, extra))  # pads (W, W, H, H, C-front, C-back): zeros after the channels


_SHORTCUT_CASES = ((16, 32, 2, 8), (32, 64, 2, 6), (8, 8, 1, 5), (4, 12, 2, 7))  # (in, out, stride, side)


def check_shortcut_a(fn: Callable[[Tensor, int, int], Tensor]) -> CheckResult:
    """Compare ``fn(x, out_channels, stride)`` with the option-A shortcut of :func:`~resnet_lab.models.make_shortcut` on inputs of several shapes."""

    def run() -> str | None:
        g = torch.Generator().manual_seed(1)
        for c_in, c_out, stride, side in _SHORTCUT_CASES:
            x = torch.randn(2, c_in, side, side, generator=g)
            shortcut = make_shortcut(c_in, c_out, stride, "A")  # None: the identity (shape unchanged)
            want = x if shortcut is None else shortcut(x)
            got = call_attempt(fn, x.clone(), c_out, stride)
            case = _("For {c_in} -> {c_out} channels, stride {stride}, a {side}x{side} input").format(
                c_in=c_in, c_out=c_out, stride=stride, side=side)
            if not isinstance(got, Tensor):
                return _("return a tensor, not a {type}.").format(type=type(got).__name__)
            got = got.detach()
            if _close(got, want):
                continue
            n, c, h, w = want.shape
            if got.dim() != 4:
                return _("{case} your output has {dims} dimensions; keep (batch, channels, height, width).").format(
                    case=case, dims=got.dim())
            if got.shape[1] == c_in and c > c_in and (got.shape[2] == h + c - c_in or got.shape[3] == w + c - c_in):
                return _("{case} padding on the wrong dimension: F.pad's pairs start from the LAST dimension "
                         "(width, then height, then channels).").format(case=case)
            if got.shape[2:] != want.shape[2:]:
                if got.shape[2] != h and got.shape[3] != w:
                    return _("{case} the shortcut's stride is wrong: the output must have the branch's height and width.").format(case=case)
                return _("{case} subsample both height and width: one of them has the wrong size.").format(case=case)
            if got.shape[1] != c:
                if got.shape[1] == c_in:
                    return _("{case} the channels are not padded: option A appends zero channels up to out_channels.").format(case=case)
                return _("{case} the number of output channels is wrong: pad up to out_channels exactly.").format(case=case)
            sub = x[:, :, ::stride, ::stride]
            if _close(got[:, c - c_in:], sub) and c > c_in:
                return _("{case} zeros on the wrong side: keep the input's channels first and append the zeros after them.").format(
                    case=case)
            if stride > 1 and _close(got[:, :c_in], x[:, :, 1::stride, 1::stride]):
                return _("{case} the shortcut's stride starts at the wrong pixel: keep pixels 0, stride, 2*stride, ...").format(
                    case=case)
            if _close(got[:, :c_in], sub) and not torch.all(got[:, c_in:] == 0):
                return _("{case} the appended channels must be zeros (option A adds no parameter and no signal).").format(case=case)
            return _("{case} your output differs from option A's; subsample first, then pad the channel dimension.").format(
                case=case)
        return None

    return code_check(_("`shortcut_a`"), shortcut_a_reference, run)
