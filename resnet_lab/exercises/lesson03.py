"""Lesson 03 (block arithmetic): checkers for the learner's counts, graded against the closed forms
of :mod:`resnet_lab.arithmetic` (which the tests check against PyTorch).

A wrong answer gets a direction (too high / too low) and a hint that names what is often missed,
never the expected number; a right answer gets the explanation with the numbers.
"""

from __future__ import annotations

from typing import Literal

from ..arithmetic import imagenet_resnet_cost, variant_differences
from ..models import Variant, validate_variant
from .core import CheckResult

__all__ = ["check_resnet34_params", "check_stem_macs", "check_v15_extra_macs", "check_costliest_stage"]


def _check_count(answer: object, expected: int, why: str, hint: str) -> CheckResult:
    """Exact integer comparison (a count is right or wrong, not close); ``why`` is shown only when right."""
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return CheckResult(False, f"expected a whole number, got {answer!r}. {hint}")
    if value == expected:
        return CheckResult(True, f"{expected:,}. {why}")
    shown = f"{int(value):,}" if value.is_integer() else f"{value:g}"
    direction = "too high" if value > expected else "too low"
    close = " but within 1%: a small term is off" if abs(value - expected) <= 0.01 * abs(expected) else ""
    return CheckResult(False, f"you said {shown}: {direction}{close}. {hint}")


def check_resnet34_params(answer: int) -> CheckResult:
    """Exercise: the number of parameters of ResNet-34 (1000 classes), by hand."""
    cost = imagenet_resnet_cost("resnet34")
    parts = ", ".join(f"{stage} {params:,}" for stage, (params, _) in cost.by_stage().items())
    hint = ("Count stage by stage: the 3x3 convolutions (3*3*C_in*C_out each), the BN scale and shift (2C "
            "each), the three 1x1 projection shortcuts with their BN, the stem and the fc layer with its bias.")
    return _check_count(answer, cost.params, f"By stage: {parts}.", hint)


def check_stem_macs(answer: int, input_size: int = 224) -> CheckResult:
    """Exercise: the multiply-adds of the 7x7, stride-2 stem convolution (3 -> 64 channels)."""
    layer = imagenet_resnet_cost("resnet18", input_size=input_size)["conv1"]
    _, h, w = layer.out_shape
    why = f"The output is {h}x{w}x64 and each value is a 7*7*3 = 147-term dot product: {h}*{w}*64*147."
    hint = ("MACs = output height * output width * output channels * (multiply-adds per output value). "
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
    changed = ", ".join(a.name for a, _ in pairs)
    why = (f"Only {changed} changes: in v1.5 this 1x1 runs on the full-resolution input, four times as many "
           "positions as in v1; the 3x3 produces the same half-size output in both variants.")
    hint = ("Compare layer by layer: which convolution sees a different output size when the stride moves? "
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
    stages = imagenet_resnet_cost(name, variant=variant).by_stage()
    options = tuple(stages)
    if answer not in options:
        return CheckResult(False, f"{answer!r} is not one of the options {options}.")
    best = max(stages, key=lambda s: stages[s][index])
    what = "parameters" if quantity == "params" else "multiply-adds"
    if answer != best:
        return CheckResult(False, f"{answer} is not the stage with the most {what}. A 3x3 conv's weights grow with "
                                  "channels squared and do not depend on the image size; its MACs also scale with "
                                  "the pixels.")
    share = stages[best][index] / sum(v[index] for v in stages.values())
    return CheckResult(True, f"{best} has {share:.0%} of the {what} of {name} ({variant}). A 3x3 conv's weights grow "
                             "with channels squared and do not depend on the image size; its MACs also scale with "
                             "the pixels.")
