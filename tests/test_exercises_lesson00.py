"""Lesson 00's checkers: accept the reference, name typical mistakes, 'not attempted' for the stub, no leaks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from resnet_lab.exercises import lesson00 as ex


def _stub(*args):
    ...


def _no_tensor_values(message: str) -> None:
    """A message never contains the numbers of an expected tensor (no tensor printout at all)."""
    assert "tensor(" not in message and "e-0" not in message


def test_residual_forward_checker():
    assert ex.check_residual_forward(ex.residual_forward_reference)
    assert ex.check_residual_forward(_stub).status == "not attempted"
    cases = {
        "ignores the shortcut": lambda x, branch: torch.relu(branch(x)),
        "ReLU applied before the addition": lambda x, branch: torch.relu(branch(x)) + x,
        "no ReLU after the addition": lambda x, branch: branch(x) + x,
        "ignores the branch": lambda x, branch: torch.relu(x),
        "sign": lambda x, branch: torch.relu(branch(x) - x),
    }
    for hint, wrong in cases.items():
        r = ex.check_residual_forward(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        _no_tensor_values(str(r))
        assert "torch.relu(branch(x) + x)" in r.solution()
    shape = ex.check_residual_forward(lambda x, branch: branch(x)[:, :8])
    assert shape.status == "wrong" and "shape" in str(shape)
    crashed = ex.check_residual_forward(lambda x, branch: branch(x) + x[0, 0, 0, 99])
    assert crashed.status == "wrong" and "IndexError" in str(crashed)


def test_shortcut_a_checker():
    assert ex.check_shortcut_a(ex.shortcut_a_reference)
    assert ex.check_shortcut_a(_stub).status == "not attempted"

    def front(x, c, s):
        x = x[:, :, ::s, ::s]
        return F.pad(x, (0, 0, 0, 0, c - x.shape[1], 0))

    cases = {
        "stride is wrong": lambda x, c, s: F.pad(x, (0, 0, 0, 0, 0, c - x.shape[1])),
        "wrong side": front,
        "wrong dimension": lambda x, c, s: F.pad(x[:, :, ::s, ::s], (0, c - x.shape[1])),
        "wrong pixel": lambda x, c, s: F.pad(x[:, :, 1::s, 1::s] if s > 1 else x, (0, 0, 0, 0, 0, c - x.shape[1])),
        "not padded": lambda x, c, s: x[:, :, ::s, ::s],
        "both height and width": lambda x, c, s: F.pad(x[:, :, ::s, :], (0, 0, 0, 0, 0, c - x.shape[1])),
        "must be zeros": lambda x, c, s: F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, c - x.shape[1]), value=1.0),
    }
    for hint, wrong in cases.items():
        r = ex.check_shortcut_a(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        _no_tensor_values(str(r))
