"""Lesson 01: toy nets, the plain-vs-residual CIFAR experiment, its cache, divergence and checkers."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_lab import plots
from resnet_lab.exercises import lesson01
from resnet_lab.lessons import activations, toy
from resnet_lab.lessons import degradation as dg
from resnet_lab.data import synthetic_cifar
from resnet_lab.models import cifar_resnet
from resnet_lab.profiles import get_profile
from resnet_lab.widgets import degradation as wdg

TINY = dict(depths=(8,), width=4, iters=3, batch=8, lr=0.1, lr_milestones=(), augment=True, n_train=64, n_val=16,
            eval_every=2, eval_size=16, seeds=(0,))


@pytest.fixture(scope="module")
def tiny_data():
    return synthetic_cifar(96, 8, seed=3)


# --- toy nets ----------------------------------------------------------------------------------


def _reference_forward(model: toy.ToyMLPs, k: int, x: torch.Tensor) -> torch.Tensor:
    """Net k of the block-diagonal pack, rebuilt from separate nn.Linear/nn.BatchNorm1d layers."""
    w = model.width
    sl = slice(k * w, (k + 1) * w)

    def bn(i: int) -> nn.BatchNorm1d:
        m = nn.BatchNorm1d(w).train()
        m.weight.data.copy_(model.bn_weight[i].data[sl])
        m.bias.data.copy_(model.bn_bias[i].data[sl])
        return m

    def lin(weight: torch.Tensor) -> nn.Linear:
        m = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        m.weight.data.copy_(weight)
        return m

    h = torch.relu(bn(0)(lin(model.w_in.data[sl])(x)))
    for b in range(0, len(model.hidden), 2):
        out = torch.relu(bn(b + 1)(lin(model.hidden[b].data[sl, sl])(h)))
        out = bn(b + 2)(lin(model.hidden[b + 1].data[sl, sl])(out))
        h = torch.relu(out + h) if model.kinds[k] == "residual" else torch.relu(out)
    return F.linear(h, model.w_out.data[k], model.b_out.data[k])


def test_toy_pack_equals_separate_nets():
    x, _ = toy.two_spirals(64, seed=1)
    model = toy.ToyMLPs(8, width=6, kinds=("plain", "residual"), seed=2)
    with torch.no_grad():
        out = model(x)
        for k in range(2):
            torch.testing.assert_close(out[k], _reference_forward(model, k, x), rtol=1e-4, atol=1e-5)


def test_toy_nets_do_not_leak_into_each_other():
    x, y = toy.two_spirals(64, seed=1)
    model = toy.ToyMLPs(6, width=5, seed=0)
    logits = model(x)
    F.cross_entropy(logits[0], y).backward()  # loss of the plain net only
    w = model.width
    for p in model.hidden:
        assert p.grad[w:, :].abs().max() == 0 and p.grad[:, w:].abs().max() == 0
    assert model.w_out.grad[1].abs().max() == 0


def test_toy_task_shows_degradation_in_quick_budget():
    b = get_profile("quick").degradation
    shallow = toy.train_toy(4, steps=b.toy_steps, points=b.toy_points, seed=0)
    deep = toy.train_toy(b.toy_max_depth, steps=b.toy_steps, points=b.toy_points, seed=0)
    assert deep.final_loss["plain"] > 5 * shallow.final_loss["plain"] + 0.05
    assert deep.final_loss["residual"] < 0.05
    assert not any(deep.diverged.values())


# --- the CIFAR experiment on the stand-in, quick budget -------------------------------------------

# Fixed seeds of the effect test; the thresholds are the ones issue 12 asks of the cpu profile.
EFFECT_SEED = 0
DATA_SEED = 0
PLAIN_GAP = 0.05  # the deepest plain net ends at least 5 points above the shallowest in training error ...
RESIDUAL_TOL = 0.01  # ... and the deepest residual net no more than 1 point above the shallowest


@pytest.fixture(scope="module")
def quick_result():
    profile = get_profile("quick")
    cfg = dg.config_from_profile(profile, seeds=(EFFECT_SEED,))
    data = synthetic_cifar(cfg.n_train + cfg.n_val, 10, seed=DATA_SEED)
    with toy.one_thread():  # measured per-step cost is far lower on a shared 2-core machine
        return dg.run_degradation_experiment(data, cfg, cache=False)


def test_quick_budget_reproduces_degradation(quick_result):
    """The paper's two orderings in the quick budget: plain-deep trains clearly worse than plain-shallow,
    residual-deep is not worse than residual-shallow."""
    errs = dg.final_errors(quick_result)
    lo, hi = min(quick_result.config.depths), max(quick_result.config.depths)
    assert errs[(hi, "plain")]["train_error"] >= errs[(lo, "plain")]["train_error"] + PLAIN_GAP
    assert errs[(hi, "residual")]["train_error"] <= errs[(lo, "residual")]["train_error"] + RESIDUAL_TOL
    verdict = dg.degradation_verdict(quick_result, margin=0.0)
    assert verdict["degraded"] and "appeared" in verdict["sentence"]
    assert "synthetic" in verdict["sentence"]
    assert lesson01.check_lower_curve("shallow", quick_result, "plain")
    assert not lesson01.check_lower_curve("deep", quick_result, "plain")


def test_quick_budget_shows_figure_7_at_its_deepest_nets(quick_result):
    """Figure 7 on the quick run's trained nets, what the quick budget can guard: at the deepest depth the
    residual branches respond less than the plain layers, and the deeper residual net responds less than
    the shallower one. (At 8 layers and 150 steps the two kinds are too close to order; the full first
    finding is guarded on the recorded cpu run in tests/test_references.py.)"""
    from resnet_lab.lessons import responses

    cfg = quick_result.config
    images = dg.validation_images(synthetic_cifar(cfg.n_train + cfg.n_val, 10, seed=DATA_SEED), cfg, n=128)
    verdict = responses.figure7_verdict(responses.trained_response_stds(quick_result, images), "stand-in")
    means, hi = verdict["means"], max(cfg.depths)
    assert means[(hi, "residual")] < means[(hi, "plain")], verdict["sentence"]
    assert verdict["deeper_smaller"], verdict["sentence"]


# --- cache, divergence, inputs ------------------------------------------------------------------


def test_cache_round_trip_does_not_retrain(tiny_data, tmp_path, monkeypatch):
    cfg = dg.CifarConfig(**TINY)
    calls = []
    real = dg._train_cifar_model
    monkeypatch.setattr(dg, "_train_cifar_model", lambda *a, **k: calls.append(a[:2]) or real(*a, **k))
    first = dg.run_degradation_experiment(tiny_data, cfg, cache_dir=tmp_path)
    assert len(calls) == 2 and first.trained == 2
    files = sorted((tmp_path / dg.CACHE_KIND).glob("degradation-*.json"))  # resnet_lab.store's layout
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))
    assert all(f.with_suffix(".pt").is_file() for f in files)  # the trained weights beside each history
    json.loads(files[0].read_text())  # strict JSON (allow_nan=False on write)
    second = dg.run_degradation_experiment(tiny_data, cfg, cache_dir=tmp_path)
    assert len(calls) == 2 and second.trained == 0
    for a, b in zip(first.runs, second.runs):
        assert {k: v for k, v in a.items() if k != "from_cache"} == {k: v for k, v in b.items() if k != "from_cache"}
        assert b["from_cache"]
    # the weights come back from the cache: the same net as the one just trained
    x = dg.validation_images(tiny_data, cfg, n=4)
    for kind in ("plain", "residual"):
        torch.testing.assert_close(first.model(8, kind)(x), second.model(8, kind)(x))
    with pytest.raises(ValueError, match="depth 20"):
        second.model(20, "plain")
    dg.run_degradation_experiment(tiny_data, cfg, cache_dir=tmp_path, retrain=True)
    assert len(calls) == 4
    # another budget is another key: trains anew
    dg.run_degradation_experiment(tiny_data, dg.CifarConfig(**{**TINY, "iters": 4}), cache_dir=tmp_path)
    assert len(calls) == 6


def test_augmentation_is_the_loaders_batched_crop_flip(tiny_data, monkeypatch):
    """One call of the device loader's crop/flip per SGD step, on the whole batch: no per-image loop."""
    shapes = []
    real = dg.random_crop_flip
    monkeypatch.setattr(dg, "random_crop_flip", lambda x, *a, **k: shapes.append(tuple(x.shape)) or real(x, *a, **k))
    cfg = dg.CifarConfig(**TINY)
    dg.run_degradation_experiment(tiny_data, cfg, cache=False)
    # train_loop may draw one batch past the last step before it stops
    nets = len(dg.KINDS)
    assert set(shapes) == {(cfg.batch, 3, 32, 32)} and cfg.iters * nets <= len(shapes) <= (cfg.iters + 1) * nets
    shapes.clear()
    dg.run_degradation_experiment(tiny_data, dg.CifarConfig(**{**TINY, "augment": False}), cache=False)
    assert shapes == []


def test_diverging_run_is_recorded_not_raised(tiny_data, tmp_path):
    cfg = dg.CifarConfig(**{**TINY, "lr": 1e12, "iters": 20})
    result = dg.run_degradation_experiment(tiny_data, cfg, cache_dir=tmp_path)
    run = result.run(8, "plain")
    assert run["diverged"] and 1 <= run["diverged_at"] <= 20
    assert "diverged" in dg.results_table(result)
    fig = plots.plot_error_curves(result)
    assert any("diverged" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)
    again = dg.run_degradation_experiment(tiny_data, cfg, cache_dir=tmp_path)  # cached as diverged
    assert again.trained == 0 and again.run(8, "plain")["diverged"]


def test_toy_divergence_is_recorded():
    run = toy.train_toy(6, lr=1e6, steps=30, points=64)
    assert run.diverged["plain"] or run.diverged["residual"]
    for kind, dead in run.diverged.items():
        if dead:
            assert math.isnan(run.final_loss[kind])


@pytest.mark.parametrize(
    "make",
    [
        lambda: dg.CifarConfig(depths=(9,)),
        lambda: dg.CifarConfig(depths=()),
        lambda: dg.CifarConfig(iters=0),
        lambda: dg.CifarConfig(image_size=12),
        lambda: toy.ToyMLPs(5),
        lambda: toy.ToyMLPs(6, kinds=("plain", "wide")),
        lambda: toy.two_spirals(2),
        lambda: toy.train_toy(6, lr=-1.0),
        lambda: wdg.draw_toy_comparison(6, shortcuts="maybe", show=False),
        lambda: toy.degradation_onset({"depths": [4], "loss": {"plain": [0.1]}}, kind="wide"),
    ],
)
def test_bad_input_raises_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_too_little_data_is_a_value_error(tiny_data):
    with pytest.raises(ValueError, match="n_train"):
        dg.run_degradation_experiment(tiny_data, dg.CifarConfig(**{**TINY, "n_train": 1000}), cache=False)


# --- activation statistics ------------------------------------------------------------------------


def test_activation_stats_match_direct_computation():
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    stats = activations.activation_stats(14, x, width=4, seed=5)
    assert len(stats["blocks"]) == 6 and len(stats["act_std"]["plain"]) == 6
    torch.manual_seed(5)
    net = cifar_resnet(14, residual=False, width=4).train()
    with torch.no_grad():
        h = net.relu(net.bn1(net.conv1(x)))
        first = net.layer1[0](h)
    assert stats["act_std"]["plain"][0] == pytest.approx(float(first.std()), rel=1e-5)
    assert all(v > 0 and math.isfinite(v) for k in toy.KINDS for v in stats["grad_std"][k])


# --- checkers on hand-made results -----------------------------------------------------------------


def _fake_result(errors: dict[tuple[int, str], float]) -> dg.DegradationResult:
    cfg = dg.CifarConfig(**{**TINY, "depths": (8, 20)})
    runs = [{"depth": d, "kind": k, "seed": 0, "iters": [0, 3], "train_error": [0.9, e], "val_error": [0.9, e],
             "loss": [None, 1.0], "diverged": False, "diverged_at": None} for (d, k), e in errors.items()]
    return dg.DegradationResult(cfg, "synthetic stand-in, not CIFAR-10", "test", runs, 0, 0.0)


def test_check_lower_curve_right_and_wrong():
    res = _fake_result({(8, "plain"): 0.2, (20, "plain"): 0.4, (8, "residual"): 0.3, (20, "residual"): 0.1})
    assert lesson01.check_lower_curve("shallow", res, "plain") and not lesson01.check_lower_curve("deep", res, "plain")
    assert lesson01.check_lower_curve("deep", res, "residual") and not lesson01.check_lower_curve("shallow", res, "residual")
    assert not lesson01.check_lower_curve("middle", res)
    v = dg.degradation_verdict(res)
    assert v["degraded"] and v["residual_ok"]
    flat = _fake_result({(8, "plain"): 0.4, (20, "plain"): 0.2, (8, "residual"): 0.3, (20, "residual"): 0.1})
    assert not dg.degradation_verdict(flat)["degraded"] and "did NOT" in dg.degradation_verdict(flat)["sentence"]


def test_check_onset_depth_right_and_wrong():
    sweep = {"depths": [4, 8, 12, 16, 20, 24], "loss": {"plain": [0.01, 0.01, 0.02, 0.01, 0.3, 0.5],
                                                        "residual": [0.01] * 6}}
    onset = toy.degradation_onset(sweep)
    assert onset == 20  # 0.3 > 2 * min(0.01, 0.01, 0.02, 0.01) and > 0.05
    assert lesson01.check_onset_depth(onset, sweep)
    assert lesson01.check_onset_depth(16, sweep)  # one grid step either way is accepted
    assert not lesson01.check_onset_depth(8, sweep)
    assert not lesson01.check_onset_depth(5, sweep)  # not a depth of the sweep
    assert not lesson01.check_onset_depth("deep", sweep)
    sweep["loss"]["plain"][3] = float("nan")  # a diverged net counts as degraded
    assert toy.degradation_onset(sweep) == 16


# --- widget ---------------------------------------------------------------------------------------


def test_draw_toy_comparison_draws_what_it_trained():
    out = wdg.draw_toy_comparison(6, width=8, lr=0.1, shortcuts="both", steps=20, points=64, show=False)
    fig, run = out["figure"], out["run"]
    assert len(fig.axes) == 3 and run.kinds == ("plain", "residual")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and len(lines[0].get_xdata()) == 20
    assert fig.axes[1].get_title().startswith("plain-6") and fig.axes[2].get_title().startswith("residual-6")
    plt.close(fig)
    single = wdg.draw_toy_comparison(6, width=8, shortcuts="off", steps=5, points=32, show=False)
    assert len(single["figure"].axes) == 2 and single["run"].kinds == ("plain",)
    plt.close(single["figure"])


def test_widget_controls_redraw(monkeypatch):
    calls = []
    monkeypatch.setattr(wdg, "draw_toy_comparison", lambda *a, **k: calls.append((a, k)))
    profile = get_profile("quick")
    box = wdg.make_degradation_widget(profile)
    c = box.controls
    assert c["depth"].max == profile.degradation.toy_max_depth
    c["depth"].value = 8
    c["shortcuts"].value = "off"
    args, kwargs = calls[-1]
    assert args[0] == 8 and args[3] == "off" and kwargs["steps"] == profile.degradation.toy_steps
