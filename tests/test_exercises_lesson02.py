"""Lesson 02's code checkers: reference accepted, typical mistakes named, the stub not attempted, no leaks."""

from __future__ import annotations

import itertools
import math

import torch

from resnet_lab.exercises import lesson02 as ex
from resnet_lab.lessons.paths import path_counts


def _stub(*args):
    ...


def test_block_jacobian_checker():
    assert ex.check_block_jacobian(ex.block_jacobian_reference)
    assert ex.check_block_jacobian(_stub).status == "not attempted"
    cases = {
        "shortcut is missing": lambda J, m: J,
        "ReLU after the addition is missing": lambda J, m: torch.eye(len(m)) + J,
        "wrong side": lambda J, m: (torch.eye(len(m)) + J) @ torch.diag(m),
        "transposed": lambda J, m: torch.diag(m) @ (torch.eye(len(m)) + J.T),
    }
    for hint, wrong in cases.items():
        r = ex.check_block_jacobian(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert "tensor(" not in str(r)
    assert "torch.diag(open_mask" in ex.check_block_jacobian(lambda J, m: J).solution()


def _mine(slopes):  # a learner's version, written differently from the reference
    out = [1.0]
    for a in slopes:  # multiply the polynomial prod (1 + a_i t) out
        out = [p + a * q for p, q in zip(out + [0.0], [0.0] + out)]
    return out


def test_paths_by_length_checker():
    assert ex.check_paths_by_length(ex.paths_by_length_reference)
    assert ex.check_paths_by_length(_mine)
    assert ex.check_paths_by_length(_stub).status == "not attempted"
    cases = {
        "reversed": lambda s: list(reversed(_mine(s))),
        "counted the paths": lambda s: path_counts(len(s)),
        "no branch": lambda s: [0.0] + _mine(s)[1:],
        "+ 1 numbers": lambda s: _mine(s)[1:],
        "split over path lengths": lambda s: [math.prod(1 + a for a in s)] + [0.0] * len(s),
        "too high": lambda s: [x + 1 for x in _mine(s)],
    }
    for hint, wrong in cases.items():
        r = ex.check_paths_by_length(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        for weights, x0 in ex._CHAINS:  # no expected value leaks (4 significant digits of any entry)
            slopes, grad = ex._chain_derivative(weights, x0)
            for v in itertools.chain(ex.paths_by_length_reference(slopes), [grad]):
                if abs(v) > 1e-3 and abs(v - 1) > 1e-9:
                    assert f"{v:.3f}" not in str(r)


def test_chain_derivative_is_the_product():
    slopes, grad = ex._chain_derivative((0.5, -0.3, 0.8), 0.2)
    assert math.isclose(grad, math.prod(1 + a for a in slopes), rel_tol=1e-9)
    assert math.isclose(sum(ex.paths_by_length_reference(slopes)), grad, rel_tol=1e-9)
