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
from ..models import count_parameters

__all__ = ["conv_rule_lines", "bn_linear_lines", "BLOCK_CASES", "block_case_cost", "block_case_agreement",
           "table1_comparison_lines"]


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
    return [f"{str(conv):72s} on {size}x{size}",
            f"   params  formula {params:>11,}   PyTorch {count_parameters(conv):>11,}",
            f"   output  formula {out:>11}   PyTorch {y.shape[-1]:>11}",
            f"   MACs    formula {macs:>11,}   FlopCounterMode {ar.measure_macs(twin, size, conv.in_channels).total:>11,}"]


def bn_linear_lines(channels: int = 64, fc_in: int = 512, fc_out: int = 1000) -> list[str]:
    """BatchNorm's parameters and buffers and a Linear layer's parameters and MACs, formula vs PyTorch."""
    bn, fc = nn.BatchNorm2d(channels), nn.Linear(fc_in, fc_out)
    return [f"BatchNorm2d({channels}): parameters formula {ar.batchnorm_params(channels)}, PyTorch {count_parameters(bn)} "
            f"({', '.join(n for n, _ in bn.named_parameters())})",
            f"{' ' * len(f'BatchNorm2d({channels}): ')}buffers formula {ar.batchnorm_buffers(channels)}, PyTorch "
            f"{sum(b.numel() for b in bn.buffers())} ({', '.join(n for n, _ in bn.named_buffers())})",
            f"Linear({fc_in}, {fc_out}): parameters formula {ar.linear_params(fc_in, fc_out):,}, PyTorch "
            f"{count_parameters(fc):,}; MACs formula {ar.linear_macs(fc_in, fc_out):,}"]


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


def _names(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(row["network"]) for row in rows) if rows else "none"


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
        lines.append("parameters: formula only (not counted with PyTorch here)")
    else:
        lines.append(f"parameters, {' vs '.join(key[8:-1] for key in counts)}: "
                     f"{'identical for every network' if agree else 'NOT identical'}")

    def ours(row: Mapping[str, Any]) -> float:
        return float(row["GMACs v1"])

    def paper(row: Mapping[str, Any]) -> float:
        return float(row["paper Table 1"])

    def tenths(x: float) -> int:   # x rounded to the paper's one decimal, in tenths (exact integer arithmetic)
        return round(x * 10)

    for row in rows:
        same = "agrees" if tenths(ours(row)) == tenths(paper(row)) else "differs"
        lines.append(f"{row['network']:>9s}: v1 formula {ours(row):.3f} G, rounded {ours(row):.1f} G; paper "
                     f"{paper(row):.1f} G: {same} when rounded ({ours(row) / paper(row) - 1:+.1%})")
    worst = max(rows, key=lambda row: abs(ours(row) / paper(row) - 1))
    lines.append(f"every v1 count is within {abs(ours(worst) / paper(worst) - 1):.1%} of the paper's figure "
                 f"(largest gap: {worst['network']})")
    off = [row for row in rows if tenths(ours(row)) != tenths(paper(row))]
    lines.append(f"rounded to one decimal, {len(rows) - len(off)} of {len(rows)} counts give the paper's figure"
                 + "".join(f"; {row['network']} rounds to {ours(row):.1f} G, "
                           f"{tenths(ours(row)) - tenths(paper(row)):+d} in the last digit against the paper's "
                           f"{paper(row):.1f} G" for row in off))
    truncated = {str(row["network"]): math.floor(ours(row) * 10 + 1e-9) for row in rows}
    t_match = [row for row in rows if truncated[str(row["network"])] == tenths(paper(row))]
    t_off = [row for row in rows if row not in t_match]
    lines.append(f"truncated to one decimal instead, {len(t_match)} of {len(rows)} match (those that do not: "
                 + (", ".join(f"{row['network']} {ours(row):.3f} G -> {truncated[str(row['network'])] / 10:.1f} G, "
                              f"paper {paper(row):.1f} G" for row in t_off) or "none") + ")")
    more = [row for row in rows if float(row["GMACs v1.5"]) > ours(row)]
    same = [row for row in rows if float(row["GMACs v1.5"]) == ours(row)]
    lines.append(f"v1.5 costs more than v1 for {_names(more)}; the same for {_names(same)}")
    for row in more:
        if row["network"] == "resnet50":
            v15 = float(row["GMACs v1.5"])
            lines.append(f"resnet50: v1.5 {v15:.3f} G (about {v15:.1f} G) against v1 {ours(row):.3f} G "
                         f"(about {ours(row):.1f} G), {v15 / ours(row) - 1:+.1%}")
    return lines
