"""Lesson 05: lesion studies (Veit et al. 2016, "Residual Networks Behave Like Ensembles of
Relatively Shallow Networks").

Deleting block ``i`` of a residual net means setting its branch to zero, ``F(x) = 0``, so the
block computes ``relu(shortcut(x))``: the identity for an ordinary block (its input is already
non-negative), and the parameter-free option-A map (every second pixel, zero channels appended)
or the learned projection (option B) for a downsampling block. A pre-activation block has no
ReLU after the addition, so it becomes ``shortcut(x)``.

A *plain* block has no shortcut. Deleting it means skipping it: the identity where the shape
stays, and, for a downsampling block (stride 2, channels doubled), the same parameter-free
option-A map, the only parameter-free way to hand the next block a tensor of the shape it
expects. So in both nets a deleted block is replaced by the very same function; the difference
is only whether the rest of the net was trained with that path present.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..data import show
from ..i18n import _
from ..models import BasicBlock, Bottleneck, PreActBlock, make_shortcut, residual_blocks
from .evalset import EvalSet, evaluate_loss_accuracy
from .paths import surviving_fraction_of_length, surviving_path_fraction

__all__ = [
    "BlockInfo",
    "block_channels",
    "block_table",
    "DeletedBlock",
    "deleted_blocks",
    "LesionResult",
    "single_block_lesion",
    "random_lesion_sets",
    "RandomLesionResult",
    "random_lesion_study",
    "retention",
    "effective_path_length",
    "lesion_summary",
    "downsampling_verdict",
    "lesion_report",
    "random_lesion_report",
]


@dataclass(frozen=True)
class BlockInfo:
    """One block of a net, in forward order."""

    index: int
    name: str  # qualified module name, e.g. "layer2.0"
    in_channels: int
    out_channels: int
    stride: int
    residual: bool

    @property
    def downsampling(self) -> bool:
        """True when the block changes the tensor's shape (stride 2 and/or more channels)."""
        return self.stride != 1 or self.in_channels != self.out_channels


def block_channels(block: nn.Module) -> tuple[int, int]:
    if isinstance(block, Bottleneck):
        return block.conv1.in_channels, block.conv3.out_channels
    if isinstance(block, (BasicBlock, PreActBlock)):
        return block.conv1.in_channels, block.conv2.out_channels
    raise ValueError(f"expected a BasicBlock, Bottleneck or PreActBlock, got {type(block).__name__}")


def block_table(model: nn.Module) -> list[BlockInfo]:
    """The blocks of ``model`` in forward order (index, name, channels, stride, residual or plain)."""
    table = []
    for i, (name, block) in enumerate(residual_blocks(model)):
        cin, cout = block_channels(block)
        table.append(BlockInfo(i, name, cin, cout, int(block.stride), bool(block.residual)))  # type: ignore[arg-type]
    if not table:
        raise ValueError("the model has no BasicBlock, Bottleneck or PreActBlock to delete")
    return table


class DeletedBlock(nn.Module):
    """What a block becomes when it is deleted: its branch set to zero, only the shortcut path left.

    * residual block: ``relu(shortcut(x))`` (``shortcut(x)`` for a pre-activation block, which has
      no ReLU after the addition); the shortcut is the block's own (identity, option A or B).
    * plain block (no shortcut): the identity when the shape stays, else the parameter-free
      option-A map (every ``stride``-th pixel, zero channels appended), followed by the ReLU the
      block would have applied.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        cin, cout = block_channels(block)
        stride = int(block.stride)  # type: ignore[arg-type]
        path: nn.Module | None
        if getattr(block, "residual", True):
            path = block.downsample  # type: ignore[assignment]
        elif stride != 1 or cin != cout:
            if cout < cin:
                raise ValueError(f"cannot skip a plain block that reduces channels ({cin} -> {cout})")
            path = make_shortcut(cin, cout, stride, "A")
        else:
            path = None
        self.path = path
        # A pre-activation block's projection reads BN-ReLU of the input (models.PreActBlock's default).
        preact = path is not None and getattr(block, "residual", True) and getattr(block, "shortcut_preactivated", False)
        self.pre: nn.Module | None = nn.Sequential(block.bn1, nn.ReLU()) if preact else None  # type: ignore[arg-type]
        self.final_relu = not isinstance(block, PreActBlock)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre is not None:
            x = self.pre(x)
        out = x if self.path is None else self.path(x)
        return F.relu(out) if self.final_relu else out


def _validate_indices(indices: Iterable[int], n_blocks: int) -> list[int]:
    out = list(indices)
    for i in out:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_blocks:
            raise ValueError(f"block indices must be integers in 0..{n_blocks - 1}, got {i!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"block indices must be distinct, got {out}")
    return out


@contextmanager
def deleted_blocks(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Temporarily replace the blocks ``indices`` (forward order) by :class:`DeletedBlock`.

    ``with deleted_blocks(net, [3]): net(x)`` runs the net without its 4th block; the original
    blocks are back afterwards, also when an exception is raised.
    """
    blocks = residual_blocks(model)
    chosen = _validate_indices(indices, len(blocks))
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for i in chosen:
            name, block = blocks[i]
            parent_name, __, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            replacement = DeletedBlock(block)
            setattr(parent, child, replacement)
            swapped.append((parent, child, block))
        yield model
    finally:
        for parent, child, block in reversed(swapped):
            setattr(parent, child, block)


@dataclass(frozen=True)
class LesionResult:
    """Accuracy and loss of a net with one block deleted at a time."""

    blocks: list[BlockInfo]
    baseline_loss: float
    baseline_accuracy: float
    loss: list[float]  # loss[i]: block i deleted
    accuracy: list[float]
    label: str  # which data

    @property
    def drop(self) -> list[float]:
        """Accuracy lost by deleting each block (baseline minus lesioned)."""
        return [self.baseline_accuracy - a for a in self.accuracy]


def single_block_lesion(model: nn.Module, eval_set: EvalSet, *, batch_size: int = 500) -> LesionResult:
    """Delete each block in turn, at test time, and measure loss and accuracy on ``eval_set``."""
    blocks = block_table(model)
    base_loss, base_acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
    losses, accs = [], []
    for info in blocks:
        with deleted_blocks(model, [info.index]):
            loss, acc = evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)
        losses.append(loss)
        accs.append(acc)
    return LesionResult(blocks, base_loss, base_acc, losses, accs, eval_set.label)


def random_lesion_sets(
    n_blocks: int, k: int, n_samples: int, *, seed: int = 0, candidates: Sequence[int] | None = None
) -> list[tuple[int, ...]]:
    """Up to ``n_samples`` distinct sets of ``k`` blocks to delete, drawn from ``candidates``.

    When there are no more than ``n_samples`` such sets (``comb(len(candidates), k)``), all of them
    are returned, in lexicographic order; otherwise ``n_samples`` distinct ones drawn at random
    (a local generator seeded with ``seed``; the global RNG is not touched). Each set is sorted.
    """
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ValueError(f"n_blocks must be a positive integer, got {n_blocks!r}")
    pool = sorted(range(n_blocks) if candidates is None else _validate_indices(candidates, n_blocks))
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(pool):
        raise ValueError(f"k must be an integer in 0..{len(pool)} (the number of candidate blocks), got {k!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    total = math.comb(len(pool), k)
    if total <= n_samples:
        return [tuple(s) for s in itertools.combinations(pool, k)]
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < n_samples:
        s = tuple(sorted(rng.sample(pool, k)))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


@dataclass(frozen=True)
class RandomLesionResult:
    """Accuracies of a net with random sets of ``k`` blocks deleted, for several ``k``."""

    n_blocks: int
    candidates: list[int]  # blocks that could be drawn
    sets: dict[int, list[tuple[int, ...]]]  # k -> the deleted sets
    accuracy: dict[int, list[float]]  # k -> accuracy with each set deleted
    label: str

    @property
    def ks(self) -> list[int]:
        return sorted(self.accuracy)

    def mean(self, k: int) -> float:
        return sum(self.accuracy[k]) / len(self.accuracy[k])

    def std(self, k: int) -> float:
        a = self.accuracy[k]
        m = self.mean(k)
        return math.sqrt(sum((v - m) ** 2 for v in a) / len(a))


def random_lesion_study(
    model: nn.Module,
    eval_set: EvalSet,
    ks: Iterable[int],
    n_samples: int,
    *,
    seed: int = 0,
    candidates: Sequence[int] | None = None,
    batch_size: int = 500,
) -> RandomLesionResult:
    """Delete random sets of ``k`` blocks (``n_samples`` sets per ``k``) and record the accuracies."""
    n = len(block_table(model))
    pool = list(range(n)) if candidates is None else sorted(_validate_indices(candidates, n))
    sets: dict[int, list[tuple[int, ...]]] = {}
    accs: dict[int, list[float]] = {}
    for k in ks:
        sets[k] = random_lesion_sets(n, k, n_samples, seed=seed + 7919 * k, candidates=pool)
        accs[k] = []
        for s in sets[k]:
            with deleted_blocks(model, s):
                accs[k].append(evaluate_loss_accuracy(model, eval_set, batch_size=batch_size)[1])
    return RandomLesionResult(n, pool, sets, accs, eval_set.label)


def retention(result: RandomLesionResult, chance: float) -> dict[int, float]:
    """Accuracy above chance kept after deleting k blocks, as a fraction of the intact net's (k = 0 is 1).

    ``(mean accuracy(k) - chance) / (accuracy(0) - chance)``; needs k = 0 among the measured ks and an
    intact net better than chance.
    """
    if 0 not in result.accuracy:
        raise ValueError("retention needs the intact net: include k = 0 in the study's ks")
    base = result.mean(0) - chance
    if base <= 0:
        raise ValueError(f"the intact net is not better than chance ({result.mean(0):.3f} <= {chance:.3f})")
    return {k: (result.mean(k) - chance) / base for k in result.ks}


def effective_path_length(result: RandomLesionResult, chance: float) -> tuple[int, dict[int, float]]:
    """The path length ``l`` whose survival curve ``comb(n-k, l)/comb(n, l)`` best matches :func:`retention`.

    Veit et al.'s reading: if a residual net behaves like an ensemble of its paths and relies
    mostly on paths of about ``l`` blocks, it loses accuracy as those paths disappear. Returns
    ``(l, {l: mean squared gap})`` over ``l = 1..n``.
    """
    kept = retention(result, chance)
    errors = {
        length: sum((kept[k] - surviving_fraction_of_length(result.n_blocks, k, length)) ** 2 for k in kept) / len(kept)
        for length in range(1, result.n_blocks + 1)
    }
    return min(errors, key=lambda length: errors[length]), errors


def lesion_summary(results: Mapping[str, LesionResult], *, chance: float = 0.1) -> dict[str, dict[str, float]]:
    """Per net: intact accuracy, and what one deleted block leaves, for ordinary and downsampling blocks.

    ``kept_*`` is the accuracy above ``chance`` that is left, as a fraction of the intact net's
    (1: no harm, 0: chance level), averaged over the blocks of that kind; ``drop_*`` the mean
    accuracy lost; ``worst_block`` the block whose deletion hurts most.
    """
    out: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        span = r.baseline_accuracy - chance
        if span <= 0:
            raise ValueError(f"{name}: the intact net ({r.baseline_accuracy:.3f}) is not better than chance ({chance:.3f})")
        groups: dict[str, list[int]] = {"ordinary": [], "downsampling": []}
        for b in r.blocks:
            groups["downsampling" if b.downsampling else "ordinary"].append(b.index)
        row: dict[str, float] = {"baseline": r.baseline_accuracy}
        for kind, idx in groups.items():
            row[f"drop_{kind}"] = sum(r.drop[i] for i in idx) / len(idx) if idx else float("nan")
            row[f"kept_{kind}"] = sum((r.accuracy[i] - chance) / span for i in idx) / len(idx) if idx else float("nan")
        worst = min(range(len(r.accuracy)), key=lambda i: r.accuracy[i])
        row["worst_block"] = float(worst)
        row["worst_accuracy"] = r.accuracy[worst]
        out[name] = row
    return out


def downsampling_verdict(row: Mapping[str, float]) -> str:
    """Words for how much more one deleted downsampling block costs than an ordinary one, from one net's
    :func:`lesion_summary` row (the accuracy above chance kept, averaged over the blocks of each kind).

    The words grade the *extra* loss, ``kept_ordinary - kept_downsampling`` in points of kept accuracy:
    "about as much" up to 5 points, "modestly more" up to 20, "clearly more" up to 40, "much more"
    beyond. Veit et al. call the effect of removing a downsampling block of their 110-layer ResNet on
    CIFAR-10 a modest one.
    """
    ordinary, down = row["kept_ordinary"], row["kept_downsampling"]
    if math.isnan(ordinary) or math.isnan(down):
        raise ValueError("the net needs ordinary and downsampling blocks to compare them")
    extra = ordinary - down
    if extra <= 0.05:
        how = _("about as much as (or less than)")
    elif extra <= 0.2:
        how = _("modestly more than")
    elif extra <= 0.4:
        how = _("clearly more than")
    else:
        how = _("much more than")
    return _("deleting a downsampling block costs {how} deleting an ordinary one "
             "({down:.0f}% vs {ordinary:.0f}% of the accuracy above chance kept)").format(
        how=how, down=100 * down, ordinary=100 * ordinary)


def lesion_report(summary: Mapping[str, Mapping[str, float]], data_label: str, n_images: int) -> str:
    """The lines that read a single-block lesion study: one per net of :func:`lesion_summary`'s ``summary``
    (intact accuracy, accuracy above chance kept after deleting one ordinary / one downsampling block, the
    worst block), then whether the residual net survives ordinary deletions clearly better than the plain
    net (more than 10 points more kept) and :func:`downsampling_verdict` for the residual net.

    ``summary`` needs the keys ``"residual"`` and ``"plain"``; ``data_label`` names the data and
    ``n_images`` is the number of held-out images the study used.
    """
    r, p = summary["residual"], summary["plain"]
    lines = [_("Your run ({data}, {n_images} held-out images):").format(data=show(data_label), n_images=n_images)]
    for key, s in summary.items():
        lines.append(_("  {net:8s}: intact {intact:.1f}%; one ordinary block deleted keeps {ordinary:.0f}% "
                       "of the accuracy above chance, one downsampling block {down:.0f}%; "
                       "worst: block {worst} ({worst_accuracy:.1f}%)").format(
            net=key, intact=100 * s["baseline"], ordinary=100 * s["kept_ordinary"],
            down=100 * s["kept_downsampling"], worst=int(s["worst_block"]), worst_accuracy=100 * s["worst_accuracy"]))
    graceful = r["kept_ordinary"] > p["kept_ordinary"] + 0.1
    sentence = (_("So in your run the residual net survives ordinary deletions much better than the plain net "
                  "({residual:.0f}% vs {plain:.0f}% kept), and in the residual net {verdict}.") if graceful else
                _("So in your run the residual net does not survive deletions clearly better than the plain net "
                  "({residual:.0f}% vs {plain:.0f}% kept), and in the residual net {verdict}."))
    lines.append(sentence.format(residual=100 * r["kept_ordinary"], plain=100 * p["kept_ordinary"],
                                 verdict=downsampling_verdict(r)))
    return "\n".join(lines)


def random_lesion_report(results: Mapping[str, RandomLesionResult], chance: float, data_label: str) -> str:
    """The lines that read a random lesion study (``results``: net -> :func:`random_lesion_study`, with a
    ``"residual"`` entry whose intact net beats ``chance``): at the largest ``k``, the fraction of all
    paths and of the paths of length 1 that survive; per net better than chance, the accuracy above
    chance it keeps (:func:`retention`); and the path length whose survival curve the residual net's
    follows (:func:`effective_path_length`).
    """
    residual = results["residual"]
    n_blocks, k_max = residual.n_blocks, residual.ks[-1]
    kept = {key: retention(res, chance) for key, res in results.items() if res.mean(0) > chance}
    l_eff, __ = effective_path_length(residual, chance)
    lines = [_("Your run ({data}): with {k} of {n_blocks} blocks deleted, only 2^-{k} = {fraction:.3f} of the "
               "paths are left, and {fraction_1:.3f} of the paths of length 1.").format(
        data=show(data_label), k=k_max, n_blocks=n_blocks, fraction=surviving_path_fraction(n_blocks, k_max),
        fraction_1=surviving_fraction_of_length(n_blocks, k_max, 1))]
    for key, kk in kept.items():
        lines.append(_("  {net:8s} keeps {kept:.0f}% of its accuracy above chance").format(net=key, kept=100 * kk[k_max]))
    lines.append(_("The residual net's curve is closest to the survival curve of paths of length {length} "
                   "(of {n_blocks} blocks): in the ensemble reading, your net relies mostly on paths that short.").format(
        length=l_eff, n_blocks=n_blocks))
    return "\n".join(lines)
