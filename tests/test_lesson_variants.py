"""Lesson 06's package side: block costs by formula vs PyTorch, equal-compute nets, verdicts, MNIST stats."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from resnet_lab.data import synthetic_cifar as synthetic_cifar10
from resnet_lab.lessons import degradation, variants
from resnet_lab.models import build_model, count_parameters
from resnet_lab.profiles import get_profile


def test_block_comparison_formulas_agree_with_pytorch() -> None:
    rows = variants.block_comparison(channels=16, size=8, k=2, cardinality=8, width=4)
    assert [r.name for r in rows] == ["basic", "pre-activation", "wide (k=2)", "bottleneck", "ResNeXt 8x4d"]
    assert all(r.agrees for r in rows), [r for r in rows if not r.agrees]
    by = {r.name: r for r in rows}
    assert by["wide (k=2)"].macs_formula == 4 * by["pre-activation"].macs_formula  # widening costs k^2


def test_equal_compute_nets_are_within_fifteen_percent_and_build() -> None:
    costs = variants.net_costs()
    macs = [m for _, m in costs.values()]
    assert max(macs) / min(macs) < 1.15, costs
    for name, (model_name, _) in variants.EQUAL_COMPUTE_NETS.items():
        assert count_parameters(build_model(model_name)) == costs[name][0]


def test_resize_images_averages_and_names_valid_sizes() -> None:
    data = synthetic_cifar10(n_train=20, n_test=10)
    small = variants.resize_images(data, 8)
    assert small.x_train.shape[-2:] == (8, 8) and small.x_train.dtype == torch.uint8
    assert torch.equal(small.y_train, data.y_train) and "averaged down to 8x8" in small.source
    assert variants.resize_images(data, 32) is data
    with pytest.raises(ValueError, match="must divide"):
        variants.resize_images(data, 12)


def test_accuracy_verdict_separates_margin_from_noise() -> None:
    clear = variants.accuracy_verdict({"a": 0.80, "b": 0.60, "c": 0.50}, 1000, "stand-in")
    assert clear["ranking"][0][0] == "a" and "prefers a" in clear["sentence"]
    close = variants.accuracy_verdict({"a": 0.61, "b": 0.60}, 200, "stand-in")
    assert "cannot rank" in close["sentence"]
    assert math.isclose(close["noise"], math.sqrt(2 * 0.605 * 0.395 / 200))
    with pytest.raises(ValueError):
        variants.accuracy_verdict({"a": 0.5}, 100, "x")


def _errors(rows: dict[int, tuple[float, float]]) -> dict[tuple[int, str], dict[str, float]]:
    return {(d, "residual"): {"train_error": t, "val_error": v} for d, (t, v) in rows.items()}


@pytest.mark.parametrize(("rows", "needle", "grows"), [
    ({20: (0.02, 0.20), 56: (0.01, 0.30)}, "overfitting the paper blames", True),
    ({20: (0.02, 0.20), 56: (0.10, 0.35)}, "does not fit its training images as well", True),
    ({20: (0.02, 0.30), 56: (0.01, 0.20)}, "does not grow", False),
])
def test_depth_generalization_says_what_the_numbers_show(rows, needle: str, grows: bool) -> None:  # type: ignore[no-untyped-def]
    v = variants.depth_generalization(_errors(rows), "stand-in")
    assert v["gap_grows"] is grows and needle in v["sentence"]
    assert [r[0] for r in v["rows"]] == sorted(rows)


def test_depth_generalization_needs_two_depths() -> None:
    with pytest.raises(ValueError, match="two depths"):
        variants.depth_generalization(_errors({20: (0.1, 0.2)}), "x")


def test_parameter_stats_cover_every_parameter() -> None:
    net = build_model("resnet20", width=8, in_channels=1)
    stats = variants.parameter_stats(net)
    assert [s[0] for s in stats] == ["conv", "batchnorm", "linear"]
    assert sum(s[1] for s in stats) == count_parameters(net)


def test_residual_only_experiment_trains_and_tabulates_one_kind() -> None:
    data = synthetic_cifar10(n_train=96, n_test=8)
    cfg = degradation.CifarConfig(depths=(8, 14), width=4, iters=2, batch=16, n_train=64, n_val=32,
                                  eval_every=1, eval_size=32, image_size=16)
    result = degradation.run_degradation_experiment(data, cfg, cache=False, kinds=("residual",))
    assert result.kinds == ("residual",) and result.trained == 2
    assert set(degradation.final_errors(result)) == {(8, "residual"), (14, "residual")}
    assert "plain" not in degradation.results_table(result)
    with pytest.raises(ValueError, match="kinds"):
        degradation.run_degradation_experiment(data, cfg, cache=False, kinds=("dense",))


def test_train_equal_compute_runs_each_net_for_the_budgeted_steps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    budget = replace(get_profile("quick", device="cpu").variants, compare_steps=2, n_train=96, n_eval=32)
    data = synthetic_cifar10(n_train=96, n_test=8)
    histories = variants.train_equal_compute(data, budget, runs_dir=str(tmp_path))
    assert list(histories) == list(variants.EQUAL_COMPUTE_NETS)
    for h in histories.values():
        assert h.val_acc[-1] is not None and 0.0 <= h.val_acc[-1] <= 1.0
    assert len(list(tmp_path.glob("06_*"))) == 3  # each run keeps its checkpoint folder
    import matplotlib

    matplotlib.use("Agg")
    from resnet_lab import plots

    fig = plots.plot_histories(histories)
    colors = [line.get_color() for line in fig.axes[0].get_lines()]
    assert len(set(colors)) == 3, colors  # three variants, three colors


def test_depth_config_is_lesson_01s_budget_shortened_only_in_quick() -> None:
    for name in ("cpu", "gpu"):
        p = get_profile(name, device="cpu")
        assert variants.depth_config(p) == degradation.config_from_profile(p)
    quick = get_profile("quick", device="cpu")
    cfg, full = variants.depth_config(quick), degradation.config_from_profile(quick)
    assert cfg.iters == quick.variants.depth_iters < full.iters
    assert (cfg.depths, cfg.seeds, cfg.n_train, cfg.image_size) == (full.depths, full.seeds, full.n_train, full.image_size)


def test_narrow_nets_train_on_one_cpu_thread_and_restore_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen = []
    real = degradation._train_cifar_model

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(degradation, "_train_cifar_model", spy)
    before = torch.get_num_threads()
    data = synthetic_cifar10(n_train=96, n_test=8)
    narrow = degradation.CifarConfig(depths=(8,), width=8, iters=1, batch=16, n_train=64, n_val=32, eval_every=1,
                                     eval_size=32, image_size=16)
    degradation.run_degradation_experiment(data, narrow, cache=False, kinds=("residual",))
    assert seen == [1] and torch.get_num_threads() == before
    wide = replace(narrow, width=16)
    degradation.run_degradation_experiment(data, wide, cache=False, kinds=("residual",))
    assert seen[-1] == before


def _history_stub():
    from types import SimpleNamespace

    return SimpleNamespace(val_acc=[None, 0.5, 0.875, 0.75], best_epoch=3)


def test_printed_sentences_english() -> None:
    assert variants.net_description("ResNet-44") == "deep and thin: 7 basic blocks per stage, 16-32-64 channels"
    assert [variants.net_description(n) for n in variants.EQUAL_COMPUTE_NETS] == [
        what for __, what in variants.EQUAL_COMPUTE_NETS.values()]
    assert variants.parameter_ratio_line("ResNet-1202", "ResNet-110", 19_421_274, 1_727_962) == (
        "ResNet-1202 / ResNet-110: 11.2x the parameters")
    assert variants.best_epoch_line(_history_stub(), "MNIST", "runs/x") == (
        "best validation accuracy 87.5% at epoch 3 (MNIST); its weights are in runs/x/best.pt and were restored")


def test_printed_sentences_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_LANG", "zh")
    assert variants.net_description("WRN-16-2").startswith("浅而宽")
    assert all("per stage" not in variants.net_description(n) for n in variants.EQUAL_COMPUTE_NETS)
    ratio = variants.parameter_ratio_line("ResNet-1202", "ResNet-110", 19_421_274, 1_727_962)
    assert ratio == "ResNet-1202 / ResNet-110：参数量为 11.2 倍"
    best = variants.best_epoch_line(_history_stub(), "MNIST", "runs/x")
    assert "87.5%" in best and "第 3 个迭代周期" in best and "runs/x/best.pt" in best and "best validation" not in best
