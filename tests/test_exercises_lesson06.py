"""Lesson 06's checkers: accept the reference, name typical mistakes, 'not attempted' for the stub, no leaks."""

from __future__ import annotations

from resnet_lab.exercises import lesson06 as ex


def _stub(*args):
    ...


def test_grouped_conv_params_checker():
    assert ex.check_grouped_conv_params(ex.grouped_conv_params_reference)
    assert ex.check_grouped_conv_params(_stub).status == "not attempted"
    cases = {
        "ignores the groups": lambda ci, co, k, g: ci * co * k * k,
        "bias": lambda ci, co, k, g: co * (ci // g) * k * k + co,
        "twice": lambda ci, co, k, g: co * (ci // g) * k * k // g,
    }
    for hint, wrong in cases.items():
        r = ex.check_grouped_conv_params(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        for c_in, c_out, k, g in ex._CONV_CASES:  # no expected count leaks
            assert str(ex.grouped_conv_params_reference(c_in, c_out, k, g)) not in str(r).replace(f"c_in={c_in}", "")
        assert "c_out * (c_in // groups)" in r.solution()


def test_wide_block_macs_checker():
    assert ex.check_wide_block_macs(ex.wide_block_macs_reference)
    assert ex.check_wide_block_macs(_stub).status == "not attempted"
    cases = {
        "linearly with k": lambda c, k, s: 2 * 9 * k * c * c * s * s,
        "one convolution": lambda c, k, s: 9 * (k * c) ** 2 * s * s,
        "every output position": lambda c, k, s: 2 * 9 * (k * c) ** 2,
    }
    for hint, wrong in cases.items():
        r = ex.check_wide_block_macs(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        for c, k, s in ex._WIDE_CASES:
            assert str(ex.wide_block_macs_reference(c, k, s)) not in str(r)
    crashed = ex.check_wide_block_macs(lambda c, k, s: c / 0)
    assert crashed.status == "wrong" and "ZeroDivisionError" in str(crashed)
