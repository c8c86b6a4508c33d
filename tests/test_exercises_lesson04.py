"""Lesson 04's code exercises (the SGD step and the evaluation pass of the hand-written loop) and its
paper-epochs definition: the checkers accept the reference, name typical mistakes, leak nothing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnet_lab.data import synthetic_cifar
from resnet_lab.exercises import lesson04 as ex
from resnet_lab.lessons import training_loop
from resnet_lab.train import evaluate_batches, recipe, train_step


def _stub(*args):
    ...


def _step(model, x, y, opt, lr, *, train=True, set_lr=True, zero=True, late=False):
    if train:
        model.train()
    if set_lr:
        for g in opt.param_groups:
            g["lr"] = lr
    loss = F.cross_entropy(model(x), y)
    if zero and not late:
        opt.zero_grad()
    loss.backward()
    if late:
        opt.zero_grad()
    opt.step()
    return loss


def test_train_step_reference_matches_the_package_step():
    model, opt, x, y = ex._step_setup()
    model.train()
    train_step(model, x, y, opt, lr=0.05)
    ref, ref_opt, rx, ry = ex._step_setup()
    ex.train_step_reference(ref, rx, ry, ref_opt, 0.05)
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_train_step_checker():
    assert ex.check_train_step(ex.train_step_reference)
    assert ex.check_train_step(_stub).status == "not attempted"
    cases = {
        "zero_grad() before": lambda m, x, y, o, lr: _step(m, x, y, o, lr, zero=False),
        "after loss.backward()": lambda m, x, y, o, lr: _step(m, x, y, o, lr, late=True),
        "old learning rate": lambda m, x, y, o, lr: _step(m, x, y, o, lr, set_lr=False),
        "eval mode": lambda m, x, y, o, lr: _step(m, x, y, o, lr, train=False),
        "did not change": lambda m, x, y, o, lr: F.cross_entropy(m(x), y),
        "returned loss": lambda m, x, y, o, lr: _step(m, x, y, o, lr) * 2,
    }
    for hint, wrong in cases.items():
        r = ex.check_train_step(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert "optimizer.zero_grad()" in r.solution()
    model, opt, x, y = ex._step_setup()
    loss = float(ex.train_step_reference(model, x, y, opt, 0.05))
    assert f"{loss:.3f}" not in str(ex.check_train_step(cases["returned loss"]))


def test_evaluate_checker():
    assert ex.check_evaluate(ex.evaluate_reference)
    assert ex.check_evaluate(_stub).status == "not attempted"

    def ref_result():
        model, batches = ex._eval_setup()
        loss, acc, _ = evaluate_batches(model, batches)
        return loss, acc

    loss, acc = ref_result()
    assert ex.evaluate_reference(*ex._eval_setup()) == pytest.approx((loss, acc), rel=1e-6)

    def train_mode(model, batches):
        model.train()
        with torch.no_grad():
            n = sum(len(y) for _, y in batches)
            return (sum(float(F.cross_entropy(model(x), y, reduction="sum")) for x, y in batches) / n,
                    sum(int((model(x).argmax(1) == y).sum()) for x, y in batches) / n)

    def percent(model, batches):
        loss, acc = ex.evaluate_reference(model, batches)
        return loss, 100 * acc

    def with_graph(model, batches):
        model.eval()
        x, y = batches[0]
        return F.cross_entropy(model(x), y), 0.5

    cases = {"train mode": train_mode, "batches' means": ex._mean_of_batch_means, "fraction": percent,
             "no_grad": with_graph}
    for hint, wrong in cases.items():
        r = ex.check_evaluate(wrong)
        assert r.status == "wrong" and hint in str(r), (hint, str(r))
        assert f"{loss:.4f}" not in str(r) and f"{acc:.3f}" not in str(r)


def test_paper_epochs_is_one_definition():
    assert training_loop.paper_epochs() == pytest.approx(64_000 * 128 / 50_000)
    assert training_loop.paper_epochs(n_train=45_000) == pytest.approx(182.04, abs=0.01)
    assert ex.check_paper_epochs(training_loop.paper_epochs())
    assert ex.check_paper_epochs(...).status == "not attempted"
    wrong = ex.check_paper_epochs(100)
    assert wrong.status == "wrong" and "163.8" not in str(wrong) and "163.8" in wrong.solution()
    with pytest.raises(ValueError, match="iterations"):
        training_loop.paper_epochs(0)


def test_split_loaders_hold_out_the_validation_images():
    data = synthetic_cifar(n_train=300, n_test=20, seed=0)
    config = recipe("resnet20", epochs=1, batch_size=32, n_val=60, width=4)
    loaders = training_loop.split_loaders(data.x_train, data.y_train, config)
    assert len(loaders.val.labels) == 60 and len(loaders.train.labels) == 240
    assert len(loaders.train) == 240 // 32
    with pytest.raises(ValueError, match="n_val"):
        training_loop.split_loaders(data.x_train, data.y_train, recipe("resnet20", epochs=1, n_val=0, width=4))
