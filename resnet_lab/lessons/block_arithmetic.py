"""Lesson 03's checks of the counting rules against PyTorch, as short calls for the notebook.

The formulas live in :mod:`resnet_lab.arithmetic`; this module only pairs each formula with the
PyTorch layer or block it describes, so that the lesson's cells show the comparison, not the plumbing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .. import arithmetic as ar
from ..i18n import N_, _
from ..models import count_parameters

__all__ = ["conv_rule_lines", "bn_linear_lines", "BLOCK_CASES", "block_case_cost", "block_case_agreement",
           "table1_comparison_lines", "imagenet_check_line", "imagenet_check_off", "variant_summary_lines",
           "cifar_summary_lines", "formula_only_line"]


def conv_rule_lines(conv: nn.Conv2d, size: int) -> list[str]:
    """The formula's parameters, output size and MACs of ``conv`` on a ``size`` x ``size`` input, each next
    to PyTorch's (the parameter count, the output shape on the meta device, ``FlopCounterMode``)."""
    k, s, p, g = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.groups
    params = ar.conv2d_params(conv.in_channels, conv.out_channels, k, groups=g, bias=conv.bias is not None)
    out = ar.conv_output_size(size, k, stride=s, padding=p)
    macs = ar.conv2d_macs(conv.in_channels, conv.out_channels, k, out, groups=g)
    with torch.device("meta"):
        twin = nn.Conv2d(conv.in_channels, conv.out_channels, k, stride=s, padding=p, groups=g, bias=conv.bias is not None)
        y = twin(torch.zeros(1, conv.in_channels, size, size))
    return [_("{conv:72s} on {size}x{size}").format(conv=str(conv), size=size),
            _("   params  formula {formula:>11,}   PyTorch {pytorch:>11,}").format(
                formula=params, pytorch=count_parameters(conv)),
            _("   output  formula {formula:>11}   PyTorch {pytorch:>11}").format(formula=out, pytorch=y.shape[-1]),
            _("   MACs    formula {formula:>11,}   FlopCounterMode {measured:>11,}").format(
                formula=macs, measured=ar.measure_macs(twin, size, conv.in_channels).total)]


def bn_linear_lines(channels: int = 64, fc_in: int = 512, fc_out: int = 1000) -> list[str]:
    """BatchNorm's parameters and buffers and a Linear layer's parameters and MACs, formula vs PyTorch."""
    bn, fc = nn.BatchNorm2d(channels), nn.Linear(fc_in, fc_out)
    return [_("{layer}: parameters formula {formula}, PyTorch {pytorch} ({names})").format(
                layer=f"BatchNorm2d({channels})", formula=ar.batchnorm_params(channels), pytorch=count_parameters(bn),
                names=", ".join(n for n, __ in bn.named_parameters())),
            _("{indent}buffers formula {formula}, PyTorch {pytorch} ({names})").format(
                indent=" " * len(f"BatchNorm2d({channels}): "), formula=ar.batchnorm_buffers(channels),
                pytorch=sum(b.numel() for b in bn.buffers()), names=", ".join(n for n, __ in bn.named_buffers())),
            _("{layer}: parameters formula {formula:,}, PyTorch {pytorch:,}; MACs formula {macs:,}").format(
                layer=f"Linear({fc_in}, {fc_out})", formula=ar.linear_params(fc_in, fc_out),
                pytorch=count_parameters(fc), macs=ar.linear_macs(fc_in, fc_out))]


# (description, block keyword arguments for ar.make_block, input size)
BLOCK_CASES: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("Basic 64->64", dict(kind="basic", inplanes=64, planes=64), 56),
    ("Basic 64->128 /2, B", dict(kind="basic", inplanes=64, planes=128, stride=2), 56),
    ("Basic 16->32 /2, A", dict(kind="basic", inplanes=16, planes=32, stride=2, shortcut="A"), 32),
    ("Bottleneck 256-64-256", dict(kind="bottleneck", inplanes=256, planes=64), 56),
    ("Bottleneck 256->512 /2 v1", dict(kind="bottleneck", inplanes=256, planes=128, stride=2, stride_in_1x1=True), 56),
    ("Bottleneck 256->512 /2 v1.5", dict(kind="bottleneck", inplanes=256, planes=128, stride=2), 56),
    ("ResNeXt 32x4d 256", dict(kind="bottleneck", inplanes=256, planes=64, groups=32, base_width=4), 56),
    ("Bottleneck 64-64-128 (e=2)", dict(kind="bottleneck", inplanes=64, planes=64, expansion=2), 56),
)


def block_case_cost(kw: dict[str, Any], size: int) -> ar.Cost:
    """The closed-form cost of the block ``kw`` (``ar.make_block``'s arguments) on a ``size`` input."""
    kw = dict(kw)
    kind = kw.pop("kind")
    if kind == "basic":
        return ar.basic_block_cost(kw["inplanes"], kw["planes"], size, kw.get("stride", 1), shortcut=kw.get("shortcut", "B"))
    return ar.bottleneck_cost(kw["inplanes"], kw["planes"], size, kw.get("stride", 1), expansion=kw.get("expansion", 4),
                              groups=kw.get("groups", 1), base_width=kw.get("base_width", 64),
                              stride_in_1x1=kw.get("stride_in_1x1", False))


def block_case_agreement(kw: dict[str, Any], size: int) -> ar.Agreement:
    """The formula of :func:`block_case_cost` against the block built on the meta device, layer by layer."""
    kw = dict(kw)
    kind = kw.pop("kind")
    with torch.device("meta"):
        block = ar.make_block(kind, **kw)
    return ar.compare_with_pytorch(block_case_cost({"kind": kind, **kw}, size), block, size, in_channels=kw["inplanes"])


_COUNTERS = (N_("formula"), N_("our model"), N_("torchvision"))  # the "params (...)" keys, as a sentence names them


def _names(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(row["network"]) for row in rows) if rows else _("none")


def table1_comparison_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the ImageNet table of lesson 03 shows, as printed sentences (so the lesson's prose needs no numbers).

    ``rows`` are :func:`resnet_lab.arithmetic.imagenet_rows`: the parameters by formula (and, if counted, of
    our model and torchvision's), the v1 and v1.5 GMACs by formula and the paper's Table 1 figure (quoted).
    The lines compare the parameter counts, each v1 count with the paper's figure rounded and truncated to
    the paper's one decimal, and v1.5 with v1.
    """
    lines: list[str] = []
    counts = [key for key in ("params (formula)", "params (our model)", "params (torchvision)") if key in rows[0]]
    agree = all(len({row[key] for key in counts}) == 1 for row in rows)
    if len(counts) < 2:
        lines.append(_("parameters: formula only (not counted with PyTorch here)"))
    else:
        which = _(" vs ").join(_(key[8:-1]) for key in counts)
        lines.append((_("parameters, {which}: identical for every network") if agree else
                      _("parameters, {which}: NOT identical")).format(which=which))

    def ours(row: Mapping[str, Any]) -> float:
        return float(row["GMACs v1"])

    def paper(row: Mapping[str, Any]) -> float:
        return float(row["paper Table 1"])

    def tenths(x: float) -> int:   # x rounded to the paper's one decimal, in tenths (exact integer arithmetic)
        return round(x * 10)

    for row in rows:
        agrees = tenths(ours(row)) == tenths(paper(row))
        lines.append((_("{network:>9s}: v1 formula {ours:.3f} G, rounded {rounded:.1f} G; paper {paper:.1f} G: "
                        "agrees when rounded ({gap:+.1%})") if agrees else
                      _("{network:>9s}: v1 formula {ours:.3f} G, rounded {rounded:.1f} G; paper {paper:.1f} G: "
                        "differs when rounded ({gap:+.1%})")).format(
            network=row["network"], ours=ours(row), rounded=ours(row), paper=paper(row), gap=ours(row) / paper(row) - 1))
    worst = max(rows, key=lambda row: abs(ours(row) / paper(row) - 1))
    lines.append(_("every v1 count is within {gap:.1%} of the paper's figure (largest gap: {network})").format(
        gap=abs(ours(worst) / paper(worst) - 1), network=worst["network"]))
    off = [row for row in rows if tenths(ours(row)) != tenths(paper(row))]
    lines.append(_("rounded to one decimal, {matching} of {total} counts give the paper's figure").format(
                     matching=len(rows) - len(off), total=len(rows))
                 + "".join(_("; {network} rounds to {rounded:.1f} G, {digits:+d} in the last digit against the "
                             "paper's {paper:.1f} G").format(
                     network=row["network"], rounded=ours(row), digits=tenths(ours(row)) - tenths(paper(row)),
                     paper=paper(row)) for row in off))
    truncated = {str(row["network"]): math.floor(ours(row) * 10 + 1e-9) for row in rows}
    t_match = [row for row in rows if truncated[str(row["network"])] == tenths(paper(row))]
    t_off = [row for row in rows if row not in t_match]
    lines.append(_("truncated to one decimal instead, {matching} of {total} match (those that do not: {others})").format(
        matching=len(t_match), total=len(rows),
        others=", ".join(_("{network} {ours:.3f} G -> {truncated:.1f} G, paper {paper:.1f} G").format(
            network=row["network"], ours=ours(row), truncated=truncated[str(row["network"])] / 10, paper=paper(row))
            for row in t_off) or _("none")))
    more = [row for row in rows if float(row["GMACs v1.5"]) > ours(row)]
    same = [row for row in rows if float(row["GMACs v1.5"]) == ours(row)]
    lines.append(_("v1.5 costs more than v1 for {more}; the same for {same}").format(more=_names(more), same=_names(same)))
    for row in more:
        if row["network"] == "resnet50":
            v15 = float(row["GMACs v1.5"])
            lines.append(_("resnet50: v1.5 {v15:.3f} G (about {v15_rounded:.1f} G) against v1 {v1:.3f} G "
                           "(about {v1_rounded:.1f} G), {change:+.1%}").format(
                v15=v15, v15_rounded=v15, v1=ours(row), v1_rounded=ours(row), change=v15 / ours(row) - 1))
    return lines


def imagenet_check_line(network: str, label: str, formula_macs: int, measured_macs: int) -> str:
    """One line of the ImageNet check: the formula's MACs of ``network`` (built as ``label``, e.g.
    ``"ours, v1"``) equal ``FlopCounterMode``'s count, layer by layer."""
    return _("{network:>9s} {label:17s}: formula {formula:>14,} MACs == FlopCounterMode {measured:>14,}, "
             "every layer agrees").format(network=network, label=label, formula=formula_macs, measured=measured_macs)


def imagenet_check_off() -> str:
    """What the ImageNet check prints when the run profile switches it off (``imagenet_flop_check``)."""
    return _("The FlopCounterMode check of the ImageNet networks is off in this profile.")


def variant_summary_lines(v1: ar.Cost, v15: ar.Cost, diffs: Sequence[tuple[ar.LayerCost, ar.LayerCost]],
                          layers: Sequence[str] = ("layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2")) -> list[str]:
    """Below the v1/v1.5 differences of one network: the differences ``diffs`` (from
    :func:`resnet_lab.arithmetic.variant_differences`) add up to the gap between the totals of ``v1`` and
    ``v15``, how much more v1.5 costs in percent, and what each 3x3 convolution in ``layers`` costs in both."""
    extra = sum(b.macs - a.macs for a, b in diffs)
    lines = [_("sum of the differences {extra:,} = total v1.5 {v15:,} - total v1 {v1:,} = {gap:,}").format(
                 extra=extra, v15=v15.macs, v1=v1.macs, gap=v15.macs - v1.macs),
             _("v1.5 spends {extra:.1%} more multiply-adds than v1").format(extra=v15.macs / v1.macs - 1)]
    lines += [_("{layer}: the 3x3 costs {v1:,} MACs in v1 and {v15:,} in v1.5").format(
                  layer=name, v1=v1[name].macs, v15=v15[name].macs) for name in layers]
    return lines


def cifar_summary_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Below the CIFAR table (:func:`resnet_lab.arithmetic.cifar_rows`, shallowest first): how many times
    the deepest net's parameters and MACs are the shallowest's, and what option B's two projections add."""
    first, last = rows[0], rows[-1]
    return [_("ResNet-{deep} / ResNet-{shallow}: {params:.1f}x the parameters, {macs:.1f}x the MACs").format(
                deep=last["depth"], shallow=first["depth"], params=last["params A"] / first["params A"],
                macs=last["MMACs A"] / first["MMACs A"]),
            _("option B adds {params:,} parameters at every depth: two projections (16->32 and 32->64, each with "
              "its BN); their MACs add {macs:.3f} M").format(
                params=first["params B"] - first["params A"], macs=first["MMACs B"] - first["MMACs A"])]


def formula_only_line(profile_name: str, depths: Sequence[int]) -> str:
    """The CIFAR depths the ``profile_name`` profile leaves to the formula (not counted with PyTorch)."""
    return _("not counted by PyTorch in the {profile} profile (formula only): {depths}").format(
        profile=repr(profile_name), depths=list(depths))
