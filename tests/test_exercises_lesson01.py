"""Lesson 01's block checker and toy stack: reference accepted, typical mistakes named, the stub not attempted."""

from __future__ import annotations

import math

import torch

from resnet_lab.exercises import lesson01 as ex
from resnet_lab.lessons.toy_blocks import PlainMLPBlock, ResidualMLPBlock, train_block_stack


class _Stub(PlainMLPBlock):
    def forward(self, h):
        ...


class _ReluFirst(PlainMLPBlock):
    def forward(self, h):
        return torch.relu(self.branch(h)) + h


class _NoRelu(PlainMLPBlock):
    def forward(self, h):
        return self.branch(h) + h


def test_residual_block_checker():
    assert ex.check_residual_block(ResidualMLPBlock)
    assert ex.check_residual_block(_Stub).status == "not attempted"
    for cls, hint in ((PlainMLPBlock, "ignores the shortcut"), (_ReluFirst, "ReLU applied before the addition"),
                      (_NoRelu, "no ReLU after the addition")):
        r = ex.check_residual_block(cls)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert "tensor(" not in str(r)
    assert "relu(self.branch(h) + h)" in ex.check_residual_block(PlainMLPBlock).solution()
    r = ex.check_residual_block(torch.nn.Linear)  # other layers: named, not crashed
    assert r.status == "wrong"


def test_block_stack_trains_and_shortcuts_help():
    plain = train_block_stack(PlainMLPBlock, 30, steps=150)
    residual = train_block_stack(ResidualMLPBlock, 30, steps=150)
    assert len(plain.losses) == len(residual.losses) == 150
    assert residual.final_loss < plain.final_loss  # the lesson's point, in the quick budget
    assert residual.final_loss < residual.losses[0]
    assert 0.0 <= residual.final_error <= 1.0 and math.isfinite(plain.final_loss)
    same = train_block_stack(ResidualMLPBlock, 6, steps=3)
    assert same.losses == train_block_stack(ResidualMLPBlock, 6, steps=3).losses  # deterministic


def test_onset_checker_is_fair():
    sweep = {"depths": [4, 8, 12, 16, 20, 24], "loss": {"plain": [0.01, 0.01, 0.02, 0.01, 0.3, 0.5],
                                                        "residual": [0.01] * 6}}
    assert ex.check_onset_depth(..., sweep).status == "not attempted"
    wrong = ex.check_onset_depth(8, sweep)
    assert wrong.status == "wrong" and "too shallow" in str(wrong) and "20" not in str(wrong)
    assert "20" in wrong.solution()
    assert ex.check_lower_curve.__doc__  # the prediction checker keeps its placeholder rule (check_choice)


def test_weight_layers_checker():
    from torch import nn

    assert ex.check_weight_layers(ex.weight_layers_reference)
    assert ex.check_weight_layers(lambda m: None).status == "not attempted"
    cases = {
        "BatchNorm": lambda m: sum(1 for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))),
        "projection shortcuts": lambda m: sum(1 for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear))),
        "classifier": lambda m: sum(1 for n, x in m.named_modules() if isinstance(x, nn.Conv2d) and "downsample" not in n),
    }
    for hint, wrong in cases.items():
        r = ex.check_weight_layers(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert "18" not in str(r).replace("resnet18", "")
    # ResNet-50 is graded too: a count that is right on the basic-block nets but counts bottleneck
    # projections (4 of them) is caught there
    def skips_downsample_only_below_50(m):
        n = ex.weight_layers_reference(m)
        return n + 4 if n == 50 else n
    r = ex.check_weight_layers(skips_downsample_only_below_50)
    assert r.status == "wrong" and "resnet50()" in str(r) and "projection shortcuts" in str(r)
    assert "50" not in str(r).replace("resnet50", "")


def _fake_result(errors):
    from resnet_lab.lessons import degradation as dg

    cfg = dg.CifarConfig(depths=(8, 20), width=4, iters=3, batch=8, lr=0.1, lr_milestones=(), n_train=64, n_val=16,
                         eval_every=2, eval_size=16, seeds=(0,))
    runs = [{"depth": d, "kind": k, "seed": 0, "iters": [0, 3], "train_error": [0.9, e], "val_error": [0.9, e],
             "loss": [None, 1.0], "diverged": False, "diverged_at": None} for (d, k), e in errors.items()]
    return dg.DegradationResult(cfg, "synthetic stand-in, not CIFAR-10", "test", runs, 0, 0.0)


def test_gap_prediction_checker():
    res = _fake_result({(8, "plain"): 0.2, (20, "plain"): 0.35, (8, "residual"): 0.3, (20, "residual"): 0.29})
    assert ex.check_gap_prediction(..., res).status == "not attempted"
    assert ex.check_gap_prediction(15, res) and ex.check_gap_prediction(13.5, res)  # within 2 points
    assert ex.check_gap_prediction(-1, res, "residual")
    for answer, direction in ((30, "too high"), (0, "too low"), (-10, "too low")):
        r = ex.check_gap_prediction(answer, res)
        assert r.status == "wrong" and direction in str(r) and "15" not in str(r), str(r)
        assert "+15.0" in r.solution()
    r = ex.check_gap_prediction(5, res, "residual")
    assert r.status == "wrong" and "-1.0" not in str(r)
