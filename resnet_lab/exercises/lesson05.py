"""Lesson 05 exercises: counting paths, deleted blocks, filter norms, the clean shortcut."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from ..i18n import _
from ..lessons.landscape import filter_norms
from ..lessons.lesions import DeletedBlock, block_channels, block_table
from ..lessons.lesions import deleted_blocks as lesions_deleted
from ..lessons.paths import path_counts, surviving_path_fraction
from ..lessons.preact import shortcut_gap
from ..models import ShortcutA, cifar_resnet
from .core import CheckResult, call_attempt, check_choice, check_number, code_check

__all__ = [
    "DELETION_OPTIONS",
    "deletion_kind",
    "check_paths_of_length",
    "check_surviving_fraction",
    "check_deleted_block",
    "check_filter_norm",
    "check_clean_shortcut",
    "n_paths_reference",
    "check_n_paths",
    "delete_block_reference",
    "check_delete_block",
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
    return check_number(answer, expected, why=_(
        "a path picks, at each of the {n_blocks} blocks, the branch or the shortcut; choosing which {length} "
        "blocks it goes through gives comb({n_blocks}, {length}) = {expected} paths.").format(
            n_blocks=n_blocks, length=length, expected=expected))  # type: ignore[arg-type]


def check_surviving_fraction(answer: object, n_blocks: int, k: int) -> CheckResult:
    """What fraction of the paths is left after deleting ``k`` of ``n_blocks`` blocks?"""
    expected = surviving_path_fraction(n_blocks, k)
    return check_number(answer, expected, rel_tol=1e-3, why=_(
        "a path survives if it takes the shortcut at each of the {k} deleted blocks: 2**{left} of the "
        "2**{n_blocks} paths, a fraction 2**-{k} = {expected}, whatever n is.").format(
            k=k, left=n_blocks - k, n_blocks=n_blocks, expected=f"{expected:g}"))  # type: ignore[arg-type]


def check_deleted_block(answer: object, block: nn.Module) -> CheckResult:
    """What does ``block``, once deleted, pass on to the next block? (one of :data:`DELETION_OPTIONS`)"""
    expected = deletion_kind(block)
    cin, cout = block_channels(block)
    return check_choice(answer, expected, DELETION_OPTIONS, why=_(
        "the block maps {cin} to {cout} channels with stride {stride}; with its branch gone only "
        "its shortcut path is left, and the ReLU of a non-negative input changes nothing.").format(
            cin=cin, cout=cout, stride=int(block.stride)))  # type: ignore[arg-type]


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
    return check_number(answer, expected, rel_tol=1e-3, why=_(
        "filter normalisation rescales each filter of the direction to the norm of the same filter of the "
        "weights, here |w[{index}]| = {norm}.").format(index=index, norm=f"{expected:.4g}"))


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
    return check_choice(answer, expected, options, why=_(
        "relative gap |stage(x) - (x + sum F)| / |stage(x)|: original {original}, "
        "pre-activation {preact}. Nothing follows the addition in a pre-activation block, "
        "so the identity path runs through the whole stage untouched.").format(
            original=f"{gaps['original']:.3g}", preact=f"{gaps['pre-activation']:.1e}"))


# --- code exercise: the number of paths of each length ----------------------------------------------------
_PATH_CASES = ((3, 1), (9, 2), (27, 3), (9, 0), (6, 6), (54, 4))


def n_paths_reference(n_blocks: int, length: int) -> int:
    """Paths through ``n_blocks`` residual blocks that go through exactly ``length`` branches: choose which
    ``length`` of the blocks the path enters (the order is fixed by the net), the rest it skips."""
    return math.comb(n_blocks, length)


def check_n_paths(fn: Callable[[int, int], int]) -> CheckResult:
    """Compare ``fn(n_blocks, length)`` with :func:`resnet_lab.lessons.paths.path_counts`."""

    def run() -> str | None:
        for n, k in _PATH_CASES:
            got = call_attempt(fn, n, k)
            want = path_counts(n)[k]
            if got == want:
                continue
            case = _("for n_blocks={n}, length={k}").format(n=n, k=k)
            if got == 2**n:
                return _("{case} you counted all the paths, of every length: count only those through exactly `length` "
                         "branches.").format(case=case)
            if k > 0 and got == math.perm(n, k):
                return _("{case} you counted ordered choices: a path meets the blocks in the net's order, so choosing "
                         "the same blocks in another order gives the same path (divide by length!).").format(case=case)
            if got in (n * k, n**k, k**n):
                return _("{case} a path chooses, for each block, the branch or the shortcut: which subsets of blocks have size "
                         "`length`?").format(case=case)
            if (k > 0 and got == math.comb(n, k - 1)) or got == math.comb(max(n - 1, 0), k) or got == math.comb(n + 1, k):
                return _("{case} your count is off by one somewhere: check the edge cases length=0 and length=n_blocks.").format(
                    case=case)
            return (_("{case} your count is too high.") if got > want
                    else _("{case} your count is too low.")).format(case=case)
        return None

    return code_check(_("`n_paths`"), n_paths_reference, run)


# --- code exercise: delete a block from a trained net ------------------------------------------------------
def delete_block_reference(net: nn.Module, i: int) -> nn.Module:
    """A copy of the residual ``net`` without its block ``i`` (forward order): only the block's shortcut path
    is left, the identity or, for a downsampling block, its own shortcut (``block.downsample``, option A)."""
    net = copy.deepcopy(net)                        # leave the trained net as it is
    name = block_table(net)[i].name                 # e.g. "layer2.0": stage "layer2", position 0
    stage, position = name.split(".")
    block = getattr(net, stage)[int(position)]
    path = block.downsample if block.downsample is not None else nn.Identity()
    getattr(net, stage)[int(position)] = path       # relu(shortcut(x)) = shortcut(x): x is already >= 0
    return net


def _lesion_setup(seed: int = 0) -> tuple[nn.Module, Tensor]:
    """A small residual CIFAR net with option-A shortcuts and BN statistics that make every block matter."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = cifar_resnet(20, width=4)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.normal_(0, 0.3)
        x = torch.randn(4, 3, 16, 16)
    return net.eval(), x


class _Zeros(nn.Module):
    """A deleted block done wrong: it hands on zeros of the block's output shape."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(self.block(x))


def _zeroed_output(net: nn.Module, x: Tensor, i: int) -> Tensor:
    twin = copy.deepcopy(net)
    name = block_table(twin)[i].name
    parent, _dot, child = name.rpartition(".")
    owner = twin.get_submodule(parent)
    setattr(owner, child, _Zeros(getattr(owner, child)))
    with torch.no_grad():
        return twin(x)


def check_delete_block(fn: Callable[[nn.Module, int], nn.Module]) -> CheckResult:
    """Compare ``fn(net, i)`` with :func:`resnet_lab.lessons.lesions.deleted_blocks` on an ordinary and a
    downsampling block of a small residual net, by the outputs on the same images."""

    def run() -> str | None:
        net, x = _lesion_setup()
        table = block_table(net)
        with torch.no_grad():
            intact = net(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        ordinary = next(b.index for b in table if not b.downsampling and b.index > 0)
        down = next(b.index for b in table if b.downsampling)
        for i in (ordinary, down):
            kind = "downsampling" if i == down else "ordinary"
            case = (_("deleting block {i} ({name}, downsampling)") if kind == "downsampling"
                    else _("deleting block {i} ({name}, ordinary)")).format(i=i, name=table[i].name)
            try:
                lesioned = call_attempt(fn, net, i)
                if not isinstance(lesioned, nn.Module):
                    return _("{case}: return the net (an nn.Module) without the block, not a {type}.").format(
                        case=case, type=type(lesioned).__name__)
                with torch.no_grad():
                    got = lesioned.eval()(x)
            except RuntimeError as exc:
                if kind == "downsampling" and ("size" in str(exc) or "shape" in str(exc)):
                    return _("{case}: the next block expects half the size and twice the channels. A downsampling "
                             "block's shortcut path is its own shortcut (block.downsample, option A here), not the "
                             "identity.").format(case=case)
                raise
            with torch.no_grad():
                net_now = net(x)
            if not torch.equal(net_now, intact) or any(not torch.equal(v, state[k]) for k, v in net.state_dict().items()):
                return _("{case}: you changed the net you were given; delete the block in a copy "
                         "(copy.deepcopy(net)), the lesion study needs the intact net afterwards.").format(case=case)
            with lesions_deleted(net, [i]):
                with torch.no_grad():
                    want = net(x)
            if torch.allclose(got, want, atol=1e-5):
                continue
            if got.shape == intact.shape and torch.allclose(got, intact, atol=1e-6):
                return _("{case}: the net still computes the block: replace it by its shortcut path.").format(case=case)
            if got.shape == want.shape and torch.allclose(got, _zeroed_output(net, x, i), atol=1e-5):
                return _("{case}: your deleted block hands on zeros. Only the branch F(x) is removed; the "
                         "shortcut path still carries the input.").format(case=case)
            for j in (i - 1, i + 1):
                if 0 <= j < len(table):
                    with lesions_deleted(net, [j]), torch.no_grad():
                        other = net(x)
                    if got.shape == other.shape and torch.allclose(got, other, atol=1e-5):
                        return _("{case}: you deleted a different block; block i is block_table(net)[i], counting from 0.").format(
                            case=case)
            return _("{case}: the net's outputs differ from the net with only that block's shortcut path left.").format(case=case)
        return None

    return code_check(_("`delete_block`"), delete_block_reference, run)
