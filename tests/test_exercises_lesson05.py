"""Lesson 05's code exercises (paths of a given length; deleting a block) and the wording of the
downsampling-lesion verdict: accept the reference, name typical mistakes, leak nothing."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from resnet_lab.exercises import lesson05 as ex
from resnet_lab.lessons import lesions
from resnet_lab.lessons.lesions import block_table


def _stub(*args):
    ...


def test_n_paths_checker():
    assert ex.check_n_paths(ex.n_paths_reference)
    assert ex.check_n_paths(_stub).status == "not attempted"
    cases = {"all the paths": lambda n, k: 2**n, "ordered choices": lambda n, k: math.perm(n, k),
             "subsets": lambda n, k: n * k, "off by one": lambda n, k: math.comb(n - 1, k)}
    for hint, wrong in cases.items():
        r = ex.check_n_paths(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        for n, k in ex._PATH_CASES:
            if math.comb(n, k) > 9:  # small counts coincide with the case's own numbers
                assert str(math.comb(n, k)) not in str(r)


def _replace(net, i, module_for):
    net = copy.deepcopy(net)
    stage, pos = block_table(net)[i].name.split(".")
    getattr(net, stage)[int(pos)] = module_for(getattr(net, stage)[int(pos)])
    return net


def test_delete_block_reference_matches_the_lesion_tool():
    net, x = ex._lesion_setup()
    for b in block_table(net):
        with torch.no_grad():
            got = ex.delete_block_reference(net, b.index)(x)
            with lesions.deleted_blocks(net, [b.index]):
                want = net(x)
        assert torch.allclose(got, want, atol=1e-6), b


def test_delete_block_checker():
    assert ex.check_delete_block(ex.delete_block_reference)
    assert ex.check_delete_block(_stub).status == "not attempted"

    class Zeros(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return torch.zeros_like(self.block(x))

    def in_place(net, i):
        stage, pos = block_table(net)[i].name.split(".")
        block = getattr(net, stage)[int(pos)]
        getattr(net, stage)[int(pos)] = block.downsample or nn.Identity()
        return net

    cases = {
        "shortcut (block.downsample": lambda net, i: _replace(net, i, lambda b: nn.Identity()),
        "hands on zeros": lambda net, i: _replace(net, i, Zeros),
        "still computes the block": lambda net, i: copy.deepcopy(net),
        "changed the net you were given": in_place,
        "different block": lambda net, i: ex.delete_block_reference(net, i + 1),
    }
    for hint, wrong in cases.items():
        r = ex.check_delete_block(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert "block.downsample" in r.solution()
    assert "nn.Module" in str(ex.check_delete_block(lambda net, i: 3))


def test_downsampling_verdict_words_the_measured_numbers():
    base = {"kept_ordinary": 0.95}
    assert "about as much" in lesions.downsampling_verdict({**base, "kept_downsampling": 0.93})
    assert "modestly more" in lesions.downsampling_verdict({**base, "kept_downsampling": 0.8})
    assert "clearly more" in lesions.downsampling_verdict({**base, "kept_downsampling": 0.6})
    assert "modestly more" in lesions.downsampling_verdict({"kept_ordinary": 0.74, "kept_downsampling": 0.64})
    text = lesions.downsampling_verdict({**base, "kept_downsampling": 0.1})
    assert "much more" in text and "10% vs 95%" in text
    with pytest.raises(ValueError, match="ordinary and downsampling"):
        lesions.downsampling_verdict({"kept_ordinary": float("nan"), "kept_downsampling": 0.5})
