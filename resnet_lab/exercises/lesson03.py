"""Lesson 03 (block arithmetic): checkers for the learner's counts, graded against the closed forms
of :mod:`resnet_lab.arithmetic` (which the tests check against PyTorch).

A wrong answer gets a direction (too high / too low) and a hint that names what is often missed,
never the expected number; a right answer gets the explanation with the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from ..arithmetic import bottleneck_cost, imagenet_resnet_cost, make_block, variant_differences
from ..i18n import _, sentences
from ..models import Variant, count_parameters, validate_variant
from .core import CheckResult, call_attempt, code_check, is_placeholder, not_attempted

__all__ = ["check_resnet34_params", "check_stem_macs", "check_v15_extra_macs", "check_costliest_stage",
           "bottleneck_params_reference", "bottleneck_macs_reference", "check_bottleneck_params",
           "check_bottleneck_macs"]


def _check_count(answer: object, expected: int, why: str, hint: str) -> CheckResult:
    """Exact integer comparison (a count is right or wrong, not close); ``why`` is shown only when right
    (or through ``solution()``); the placeholder ``...`` is "not attempted yet"."""
    if is_placeholder(answer):
        return not_attempted(_("your count (a whole number)"))
    solution = f"{expected:,}. {why}"
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        message = _("expected a whole number, got {answer}.").format(answer=repr(answer))
        return CheckResult(False, sentences(message, hint), _solution=solution)
    if value == expected:
        return CheckResult(True, solution, _solution=solution)
    shown = f"{int(value):,}" if value.is_integer() else f"{value:g}"
    close = abs(value - expected) <= 0.01 * abs(expected)
    if value > expected:
        verdict = _("you said {value}: too high but within 1%: a small term is off.") if close else _("you said {value}: too high.")
    else:
        verdict = _("you said {value}: too low but within 1%: a small term is off.") if close else _("you said {value}: too low.")
    return CheckResult(False, f"{verdict.format(value=shown)} {hint}", _solution=solution)


def check_resnet34_params(answer: int) -> CheckResult:
    """Exercise: the number of parameters of ResNet-34 (1000 classes), by hand."""
    cost = imagenet_resnet_cost("resnet34")
    parts = ", ".join(f"{stage} {params:,}" for stage, (params, _macs) in cost.by_stage().items())
    hint = _("Count stage by stage: the 3x3 convolutions (3*3*C_in*C_out each), the BN scale and shift (2C "
             "each), the three 1x1 projection shortcuts with their BN, the stem and the fc layer with its bias.")
    return _check_count(answer, cost.params, _("By stage: {parts}.").format(parts=parts), hint)


def check_stem_macs(answer: int, input_size: int = 224) -> CheckResult:
    """Exercise: the multiply-adds of the 7x7, stride-2 stem convolution (3 -> 64 channels)."""
    layer = imagenet_resnet_cost("resnet18", input_size=input_size)["conv1"]
    _channels, h, w = layer.out_shape
    why = _("The output is {h}x{w}x64 and each value is a 7*7*3 = 147-term dot product: {h}*{w}*64*147.").format(h=h, w=w)
    hint = _("MACs = output height * output width * output channels * (multiply-adds per output value). "
             "The stride halves the output size; the padding of 3 keeps the border.")
    return _check_count(answer, layer.macs, why, hint)


def check_v15_extra_macs(answer: int, stage: int = 2) -> CheckResult:
    """Exercise: how many more multiply-adds the first block of ``stage`` (2, 3 or 4) of ResNet-50
    costs in v1.5 (stride on the 3x3) than in v1 (stride on the first 1x1)."""
    if stage not in (2, 3, 4):
        raise ValueError(f"stage must be one of (2, 3, 4) (stage 1 does not downsample), got {stage!r}")
    prefix = f"layer{stage}.0."
    pairs = [(a, b) for a, b in variant_differences("resnet50") if a.name.startswith(prefix)]
    extra = sum(b.macs - a.macs for a, b in pairs)
    changed = ", ".join(a.name for a, _b in pairs)
    why = _("Only {changed} changes: in v1.5 this 1x1 runs on the full-resolution input, four times as many "
            "positions as in v1; the 3x3 produces the same half-size output in both variants.").format(changed=changed)
    hint = _("Compare layer by layer: which convolution sees a different output size when the stride moves? "
             "The 3x3's output is half-size in both variants.")
    return _check_count(answer, extra, why, hint)


def check_costliest_stage(
    answer: str, name: str = "resnet50", variant: Variant = "v1", quantity: Literal["params", "macs"] = "params"
) -> CheckResult:
    """Exercise: which stage of ``name`` holds the most parameters (or spends the most MACs)."""
    if quantity not in ("params", "macs"):
        raise ValueError(f"quantity must be one of ('params', 'macs'), got {quantity!r}")
    validate_variant(variant)
    index = 0 if quantity == "params" else 1
    if is_placeholder(answer):
        return not_attempted(_("a stage name, e.g. \"layer1\""))
    stages = imagenet_resnet_cost(name, variant=variant).by_stage()
    options = tuple(stages)
    if answer not in options:
        return CheckResult(False, _("{answer} is not one of the options {options}.").format(answer=repr(answer), options=options))
    best = max(stages, key=lambda s: stages[s][index])
    what = _("parameters") if quantity == "params" else _("multiply-adds")
    if answer != best:
        return CheckResult(False, _("{answer} is not the stage with the most {what}. A 3x3 conv's weights grow with "
                                    "channels squared and do not depend on the image size; its MACs also scale with "
                                    "the pixels.").format(answer=answer, what=what))
    share = stages[best][index] / sum(v[index] for v in stages.values())
    return CheckResult(True, _("{best} has {share} of the {what} of {name} ({variant}). A 3x3 conv's weights grow "
                               "with channels squared and do not depend on the image size; its MACs also scale with "
                               "the pixels.").format(best=best, share=f"{share:.0%}", what=what, name=name, variant=variant))


# --- code exercises: the bottleneck block's parameters and multiply-adds ---------------------------------
# (inplanes, planes, stride): identity shortcuts, projections where the channels change, strided blocks
_PARAM_CASES = ((256, 64, 1), (64, 64, 1), (256, 128, 2), (512, 128, 1), (1024, 512, 2))
# (inplanes, planes, input size, stride): even sizes, so the output size is size // stride
_MAC_CASES = ((256, 64, 56, 1), (64, 64, 56, 1), (256, 128, 56, 2), (512, 256, 28, 2), (1024, 256, 14, 1))


def bottleneck_params_reference(inplanes: int, planes: int, stride: int) -> int:
    """Trainable parameters of a Bottleneck (expansion 4): three bias-free convolutions, a BN after
    each (scale and shift per channel), and a projection shortcut (1x1 conv + BN) where the shape changes."""
    out = 4 * planes
    convs = inplanes * planes + 3 * 3 * planes * planes + planes * out  # 1x1 reduce, 3x3, 1x1 expand
    bns = 2 * planes + 2 * planes + 2 * out                             # gamma and beta per channel
    if stride != 1 or inplanes != out:                                  # projection shortcut (option B)
        convs += inplanes * out
        bns += 2 * out
    return convs + bns


def bottleneck_macs_reference(inplanes: int, planes: int, size: int, stride: int) -> int:
    """Multiply-adds of the convolutions of a Bottleneck (expansion 4, torchvision's v1.5: the stride
    sits on the 3x3) on a ``size`` x ``size`` input. BN, ReLU and the addition are not counted."""
    out = 4 * planes
    small = size // stride                                  # output side after the strided 3x3
    macs = size * size * inplanes * planes                  # 1x1 reduce, at the input's resolution
    macs += small * small * 3 * 3 * planes * planes         # 3x3, strided: computed at the output size
    macs += small * small * planes * out                    # 1x1 expand
    if stride != 1 or inplanes != out:
        macs += small * small * inplanes * out              # strided 1x1 projection
    return macs


def _torch_params(inplanes: int, planes: int, stride: int) -> int:
    with torch.device("meta"):
        block = make_block("bottleneck", inplanes, planes, stride=stride)
    return count_parameters(block)


def check_bottleneck_params(fn: Callable[[int, int, int], int]) -> CheckResult:
    """Compare ``fn(inplanes, planes, stride)`` with PyTorch's parameter count of the Bottleneck block."""

    def run() -> str | None:
        for inplanes, planes, stride in _PARAM_CASES:
            got = call_attempt(fn, inplanes, planes, stride)
            want = _torch_params(inplanes, planes, stride)
            if got == want:
                continue
            out = 4 * planes
            projection = stride != 1 or inplanes != out
            case = _("for inplanes={inplanes}, planes={planes}, stride={stride}").format(
                inplanes=inplanes, planes=planes, stride=stride)
            bn = 2 * (planes + planes + out + (out if projection else 0))
            if projection and got == want - inplanes * out - 2 * out:
                return _("{case} you forgot the projection shortcut: where the channels or the size change, the "
                         "shortcut is a 1x1 convolution followed by its own BN.").format(case=case)
            if projection and got == want - 2 * out:
                return _("{case} the projection shortcut's BN is missing: it has a scale and a shift per channel too.").format(
                    case=case)
            if got == want - bn:
                return _("{case} you left out BatchNorm: each BN learns a scale and a shift per channel.").format(case=case)
            if got == want - bn // 2:
                return _("{case} BatchNorm learns two numbers per channel (scale and shift), not one.").format(case=case)
            if got == want + bn:
                return _("{case} you counted BN's running mean and variance: they are buffers, not trained "
                         "parameters.").format(case=case)
            if got == want + planes + planes + out + (out if projection else 0):
                return _("{case} you gave the convolutions a bias: ResNet convolutions have none (the BN after them shifts).").format(
                    case=case)
            if not projection and got > want:
                return _("{case} your count is too high: here the input already has planes*4 channels and stride 1, "
                         "so the shortcut is the identity, with no parameters.").format(case=case)
            return (_("{case} your count is too high; count the block layer by layer.") if got > want
                    else _("{case} your count is too low; count the block layer by layer.")).format(case=case)
        return None

    return code_check(_("`bottleneck_params`"), bottleneck_params_reference, run)


def check_bottleneck_macs(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Compare ``fn(inplanes, planes, size, stride)`` with the MACs of :func:`resnet_lab.arithmetic.bottleneck_cost`
    (v1.5, convolutions only), which the tests check against ``FlopCounterMode``."""

    def run() -> str | None:
        for inplanes, planes, size, stride in _MAC_CASES:
            got = call_attempt(fn, inplanes, planes, size, stride)
            cost = bottleneck_cost(inplanes, planes, size, stride)
            want = cost.macs
            if got == want:
                continue
            case = _("for inplanes={inplanes}, planes={planes}, size={size}, stride={stride}").format(
                inplanes=inplanes, planes=planes, size=size, stride=stride)
            projection = [layer.macs for layer in cost if layer.name == "downsample.0"]
            bn_values = sum(layer.out_shape[0] * layer.out_shape[1] * layer.out_shape[2] for layer in cost if layer.kind == "bn")
            v1 = bottleneck_cost(inplanes, planes, size, stride, stride_in_1x1=True).macs
            out = 4 * planes  # every convolution counted at the input's resolution:
            at_input = size * size * (inplanes * planes + 9 * planes * planes + planes * out
                                      + (inplanes * out if projection else 0))
            if got == 2 * want:
                return _("{case} you counted FLOPs (a multiply and an add): count multiply-adds, one per weight per output "
                         "position.").format(case=case)
            if projection and got == want - projection[0]:
                return _("{case} you forgot the projection shortcut: a strided 1x1 convolution that also costs MACs.").format(case=case)
            if got in (want + bn_values, want + 2 * bn_values, want + 4 * bn_values):
                return _("{case} you counted BatchNorm: like the paper, count only the multiply-adds of the "
                         "convolutions (BN, ReLU and the addition are left out).").format(case=case)
            if stride > 1 and got == v1:
                return _("{case} you put the stride on the first 1x1 (the paper's v1): this exercise uses torchvision's "
                         "v1.5, where the 3x3 downsamples and the first 1x1 runs at the input's resolution.").format(case=case)
            if stride > 1 and got == at_input:
                return _("{case} the spatial size after the stride is wrong: the strided 3x3, the last 1x1 and the "
                         "projection all produce a map of side size // stride.").format(case=case)
            if stride > 1 and got > want:
                return _("{case} your count is too high: check the spatial size of each layer's output after the "
                         "stride (the first 1x1 runs before it, the rest after it).").format(case=case)
            return (_("{case} your count is too high; count the block layer by layer.") if got > want
                    else _("{case} your count is too low; count the block layer by layer.")).format(case=case)
        return None

    return code_check(_("`bottleneck_macs`"), bottleneck_macs_reference, run)
