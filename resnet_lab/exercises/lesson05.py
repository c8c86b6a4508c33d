"""Lesson 05 exercises: counting paths, deleted blocks, filter norms, the clean shortcut."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..lessons.landscape import filter_norms
from ..lessons.lesions import DeletedBlock, block_channels
from ..lessons.paths import path_counts, surviving_path_fraction
from ..lessons.preact import shortcut_gap
from ..models import ShortcutA, cifar_resnet
from .core import CheckResult, check_choice, check_number

__all__ = [
    "DELETION_OPTIONS",
    "deletion_kind",
    "check_paths_of_length",
    "check_surviving_fraction",
    "check_deleted_block",
    "check_filter_norm",
    "check_clean_shortcut",
]


DELETION_OPTIONS: tuple[str, ...] = (
    "zeros",
    "the input unchanged",
    "F(x), the branch alone",
    "the input subsampled, with zero channels appended",
    "a learned 1x1 projection of the input",
)


def deletion_kind(block: nn.Module) -> str:
    """Which of :data:`DELETION_OPTIONS` a deleted ``block`` hands to the next block (read off :class:`DeletedBlock`)."""
    path = DeletedBlock(block).path
    if path is None:
        return DELETION_OPTIONS[1]
    if isinstance(path, ShortcutA):
        return DELETION_OPTIONS[3]
    return DELETION_OPTIONS[4]


def check_paths_of_length(answer: object, n_blocks: int, length: int) -> CheckResult:
    """How many paths of ``length`` residual branches run through ``n_blocks`` blocks?"""
    if not 0 <= length <= n_blocks:
        raise ValueError(f"length must be in 0..{n_blocks}, got {length}")
    expected = path_counts(n_blocks)[length]
    return check_number(answer, expected, why=(
        f"a path picks, at each of the {n_blocks} blocks, the branch or the shortcut; choosing which {length} "
        f"blocks it goes through gives comb({n_blocks}, {length}) = {expected} paths."))  # type: ignore[arg-type]


def check_surviving_fraction(answer: object, n_blocks: int, k: int) -> CheckResult:
    """What fraction of the paths is left after deleting ``k`` of ``n_blocks`` blocks?"""
    expected = surviving_path_fraction(n_blocks, k)
    return check_number(answer, expected, rel_tol=1e-3, why=(
        f"a path survives if it takes the shortcut at each of the {k} deleted blocks: 2**{n_blocks - k} of the "
        f"2**{n_blocks} paths, a fraction 2**-{k} = {expected:g}, whatever n is."))  # type: ignore[arg-type]


def check_deleted_block(answer: object, block: nn.Module) -> CheckResult:
    """What does ``block``, once deleted, pass on to the next block? (one of :data:`DELETION_OPTIONS`)"""
    expected = deletion_kind(block)
    cin, cout = block_channels(block)
    return check_choice(answer, expected, DELETION_OPTIONS, why=(
        f"the block maps {cin} to {cout} channels with stride {int(block.stride)}; with its branch gone only "  # type: ignore[arg-type]
        "its shortcut path is left, and the ReLU of a non-negative input changes nothing."))


def check_filter_norm(answer: object, model: nn.Module, direction: Mapping[str, Tensor], name: str, index: int) -> CheckResult:
    """What is the norm of filter ``index`` of ``direction[name]``?"""
    params = dict(model.named_parameters())
    if name not in params or params[name].ndim < 2:
        valid = [n for n, p in params.items() if p.ndim >= 2]
        raise ValueError(f"name must be a weight with filters, one of {valid[:4]}..., got {name!r}")
    w = params[name]
    if not 0 <= index < w.shape[0]:
        raise ValueError(f"index must be in 0..{w.shape[0] - 1}, got {index}")
    expected = float(filter_norms(w)[index])
    return check_number(answer, expected, rel_tol=1e-3, why=(
        f"filter normalisation rescales each filter of the direction to the norm of the same filter of the "
        f"weights, here |w[{index}]| = {expected:.4g}."))


def check_clean_shortcut(answer: object, seed: int = 0) -> CheckResult:
    """Which layout, 'original' or 'pre-activation', makes ``stage(x) == x + sum F(x_i)`` hold exactly?

    The expected answer is computed: two stages of three random blocks each are run on a random
    input and :func:`shortcut_gap` decides.
    """
    options = ("original", "pre-activation")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x = torch.randn(2, 4, 8, 8)
        gaps = {}
        for name, preact in zip(options, (False, True)):
            net = cifar_resnet(20, width=4, preact=preact).eval()
            stage = list(net.layer1)
            for b in stage:  # random BN statistics, so the blocks are not near the identity
                for m in b.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.running_mean.normal_()
                        m.running_var.uniform_(0.5, 2.0)
                        m.bias.data.normal_()
            gaps[name] = shortcut_gap(stage, x)
    expected = min(gaps, key=lambda k: gaps[k])
    return check_choice(answer, expected, options, why=(
        f"relative gap |stage(x) - (x + sum F)| / |stage(x)|: original {gaps['original']:.3g}, "
        f"pre-activation {gaps['pre-activation']:.1e}. Nothing follows the addition in a pre-activation block, "
        "so the identity path runs through the whole stage untouched."))
