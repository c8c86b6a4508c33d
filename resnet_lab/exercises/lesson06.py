"""Lesson 06 exercises: the parameters of a grouped convolution, the MACs of a widened block,
and which variant a result favours. Code exercises are graded by behaviour against PyTorch's
own counts and :mod:`resnet_lab.arithmetic`; no message contains the expected number."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..arithmetic.variants import wide_block_cost
from ..i18n import _
from .core import CheckResult, call_attempt, code_check

__all__ = ["grouped_conv_params_reference", "wide_block_macs_reference", "check_grouped_conv_params",
           "check_wide_block_macs"]

# (in channels, out channels, kernel, groups): cases where the usual mistakes give different answers
_CONV_CASES = ((64, 64, 3, 1), (128, 128, 3, 32), (64, 128, 3, 4), (256, 256, 1, 8), (32, 64, 3, 2))
_WIDE_CASES = ((16, 1, 32), (16, 2, 32), (32, 4, 16), (64, 10, 8))  # (channels, k, feature-map side)


def grouped_conv_params_reference(c_in: int, c_out: int, kernel: int, groups: int) -> int:
    """Weights of a bias-free grouped convolution: each of the ``c_out`` filters sees ``c_in / groups``
    input channels through a ``kernel`` x ``kernel`` window."""
    return c_out * (c_in // groups) * kernel * kernel


def check_grouped_conv_params(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Compare ``fn(c_in, c_out, kernel, groups)`` with PyTorch's count of ``nn.Conv2d(..., groups, bias=False)``."""

    def run() -> str | None:
        for c_in, c_out, k, g in _CONV_CASES:
            got = call_attempt(fn, c_in, c_out, k, g)
            want = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, groups=g, bias=False).parameters())
            if got == want:
                continue
            dense = c_in * c_out * k * k
            case = _("for c_in={c_in}, c_out={c_out}, kernel={k}, groups={g}").format(c_in=c_in, c_out=c_out, k=k, g=g)
            if g > 1 and got == dense:
                return _("{case} your count ignores the groups: each filter sees only c_in / groups input channels.").format(case=case)
            if got == want + c_out:
                return _("{case} you added a bias per filter: ResNet convolutions have none (a BN follows them).").format(case=case)
            if g > 1 and got * g == want:
                return _("{case} your count is too small by the factor groups: did you divide by groups twice?").format(case=case)
            if got == want // k:
                return _("{case} check the kernel: a k x k window has k*k weights per input channel.").format(case=case)
            return (_("{case} your count is too high; compare with a dense convolution.") if got > want
                    else _("{case} your count is too low; compare with a dense convolution.")).format(case=case)
        return None

    return code_check(_("`grouped_conv_params`"), grouped_conv_params_reference, run)


def wide_block_macs_reference(channels: int, k: int, size: int) -> int:
    """MACs of a wide block without downsampling: two 3x3 convolutions from ``k * channels`` to
    ``k * channels`` channels, each at every one of the ``size * size`` output positions."""
    c = k * channels
    return 2 * 9 * c * c * size * size


def check_wide_block_macs(fn: Callable[[int, int, int], int]) -> CheckResult:
    """Compare ``fn(channels, k, size)`` with :func:`resnet_lab.arithmetic.variants.wide_block_cost`."""

    def run() -> str | None:
        for channels, k, size in _WIDE_CASES:
            got = call_attempt(fn, channels, k, size)
            want = wide_block_cost(k * channels, channels, k, size).macs
            if got == want:
                continue
            case = _("for channels={channels}, k={k}, size={size}").format(channels=channels, k=k, size=size)
            if k > 1 and got * k == want:
                return _("{case} your cost grows only linearly with k: widening multiplies both the input and the "
                         "output channels of each convolution.").format(case=case)
            if got * 2 == want:
                return _("{case} you counted one convolution: a wide block has two 3x3 convolutions.").format(case=case)
            if size > 1 and got * size * size == want:
                return _("{case} MACs are counted at every output position: multiply by the feature map's area.").format(case=case)
            return (_("{case} your count is too high.") if got > want
                    else _("{case} your count is too low.")).format(case=case)
        return None

    return code_check(_("`wide_block_macs`"), wide_block_macs_reference, run)
