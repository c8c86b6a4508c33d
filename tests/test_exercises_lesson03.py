"""Lesson 03's code exercises: the bottleneck's parameters (against PyTorch) and MACs (against the
formulas that tests/test_arithmetic.py checks against FlopCounterMode); fair numeric checkers."""

from __future__ import annotations

import torch

from resnet_lab import arithmetic as ar
from resnet_lab.exercises import lesson03 as ex
from resnet_lab.models import count_parameters


def _stub(*args):
    ...


def _leaks(result, values) -> bool:
    text = str(result)
    return any(f"{v:,}" in text or str(v) in text for v in values)


def test_references_agree_with_pytorch_and_the_formulas():
    for inplanes, planes, stride in ex._PARAM_CASES:
        with torch.device("meta"):
            block = ar.make_block("bottleneck", inplanes, planes, stride=stride)
        assert ex.bottleneck_params_reference(inplanes, planes, stride) == count_parameters(block)
    for inplanes, planes, size, stride in ex._MAC_CASES:
        assert ex.bottleneck_macs_reference(inplanes, planes, size, stride) == ar.bottleneck_cost(inplanes, planes, size, stride).macs
    inplanes, planes, size, stride = ex._MAC_CASES[2]
    with torch.device("meta"):
        block = ar.make_block("bottleneck", inplanes, planes, stride=stride)
    assert ar.measure_macs(block, size, inplanes).total == ex.bottleneck_macs_reference(inplanes, planes, size, stride)


def test_bottleneck_params_checker():
    assert ex.check_bottleneck_params(ex.bottleneck_params_reference)
    assert ex.check_bottleneck_params(_stub).status == "not attempted"

    def no_projection(i, p, s):
        o = 4 * p
        return i * p + 9 * p * p + p * o + 2 * (p + p + o)

    def no_bn(i, p, s):
        o = 4 * p
        return i * p + 9 * p * p + p * o + (i * o if s != 1 or i != o else 0)

    def biases(i, p, s):
        o = 4 * p
        proj = s != 1 or i != o
        return ex.bottleneck_params_reference(i, p, s) + p + p + o + (o if proj else 0)

    cases = {"projection shortcut": no_projection, "left out BatchNorm": no_bn, "bias": biases}
    expected = [ex.bottleneck_params_reference(*c) for c in ex._PARAM_CASES]
    for hint, wrong in cases.items():
        r = ex.check_bottleneck_params(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert not _leaks(r, expected), str(r)
        assert "convs = inplanes * planes" in r.solution()
    crashed = ex.check_bottleneck_params(lambda i, p, s: i / 0)
    assert crashed.status == "wrong" and "ZeroDivisionError" in str(crashed)


def test_bottleneck_macs_checker():
    assert ex.check_bottleneck_macs(ex.bottleneck_macs_reference)
    assert ex.check_bottleneck_macs(_stub).status == "not attempted"

    def flops(i, p, n, s):
        return 2 * ex.bottleneck_macs_reference(i, p, n, s)

    def no_projection(i, p, n, s):
        o, m = 4 * p, n // s
        return n * n * i * p + m * m * (9 * p * p + p * o)

    def no_stride(i, p, n, s):  # every layer at the input's size
        o = 4 * p
        return n * n * (i * p + 9 * p * p + p * o + (i * o if s != 1 or i != o else 0))

    def with_bn(i, p, n, s):
        o, m = 4 * p, n // s
        bn = n * n * p + m * m * p + m * m * o + (m * m * o if s != 1 or i != o else 0)
        return ex.bottleneck_macs_reference(i, p, n, s) + bn

    def v1(i, p, n, s):
        return ar.bottleneck_cost(i, p, n, s, stride_in_1x1=True).macs

    cases = {"FLOPs": flops, "projection shortcut": no_projection, "spatial size after the stride": no_stride,
             "counted BatchNorm": with_bn, "v1": v1}
    expected = [ex.bottleneck_macs_reference(*c) for c in ex._MAC_CASES]
    for hint, wrong in cases.items():
        r = ex.check_bottleneck_macs(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert not _leaks(r, expected), str(r)


def test_numeric_checkers_are_fair():
    assert ex.check_resnet34_params(...).status == "not attempted"
    assert ex.check_stem_macs(...).status == "not attempted"
    assert ex.check_v15_extra_macs(..., stage=3).status == "not attempted"
    assert ex.check_costliest_stage(...).status == "not attempted"
    r34 = ar.imagenet_resnet_cost("resnet34").params
    wrong = ex.check_resnet34_params(r34 + 1000)
    assert wrong.status == "wrong" and f"{r34:,}" not in str(wrong) and f"{r34:,}" in wrong.solution()
    stem = ar.imagenet_resnet_cost("resnet18")["conv1"].macs
    assert f"{stem:,}" not in str(ex.check_stem_macs(stem * 4))


def test_block_arithmetic_helpers_agree_with_pytorch():
    from torch import nn

    from resnet_lab.lessons import block_arithmetic as ba

    lines = ba.conv_rule_lines(nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), 56)
    formula, torch_count = lines[1].split()[2], lines[1].split()[-1]
    assert formula == torch_count and lines[3].split()[2] == lines[3].split()[-1]
    assert "PyTorch 128" in ba.bn_linear_lines()[0]
    for _, kw, size in ba.BLOCK_CASES:
        assert ba.block_case_agreement(kw, size).ok
