"""Figure titles and labels that lessons used to build in their code cells now come from the package, in the
learner's language (the Chinese lessons' code cells are the English ones)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from resnet_lab import arithmetic as ar
from resnet_lab import evaluation, i18n, plots
from resnet_lab.lessons import toy_blocks, variants

matplotlib.use("Agg")


def _titles(monkeypatch: pytest.MonkeyPatch, lang: str) -> dict[str, str]:
    monkeypatch.setenv(i18n.LANG_ENV, lang)
    with matplotlib.rc_context():
        i18n.configure_matplotlib(lang)  # what resnet_lab.start() does
        return _draw()


def _draw() -> dict[str, str]:
    budget = SimpleNamespace(compare_steps=60, compare_size=16)
    out = {
        "run": plots.run_title("resnet20", "quick"),
        "equal": variants.equal_compute_title(budget),
        "demo": variants.demo_title("MNIST"),
        "stack": toy_blocks.stack_label("plain", 20),
    }
    fig = evaluation.plot_lr_schedules(390, 39, 0.1, warmup_steps=5)
    out["schedules"] = fig.axes[0].get_title()
    cm = torch.eye(3)
    fig2 = evaluation.plot_confusion_matrix(cm, ["cat", "dog", "ship"], model="resnet20")
    out["confusion"] = fig2.axes[0].get_title()
    fig3 = evaluation.plot_per_class_accuracy(torch.tensor([0.5, 0.7, 0.9]), ["cat", "dog", "ship"], model="resnet20")
    out["per_class"] = fig3.axes[0].get_title()
    costs = {name: ar.imagenet_resnet_cost(name, variant="v1") for name in ("resnet18", "resnet50")}
    fig4 = ar.plot_stage_macs(costs, reference=ar.PAPER_TABLE1_FLOPS, input_size=224)
    out["stage_macs"] = fig4.axes[0].get_title()
    out["stage_macs_legend"] = fig4.axes[0].get_legend().get_title().get_text()
    plt.close("all")
    return out


def test_titles_read_as_before_in_english(monkeypatch: pytest.MonkeyPatch) -> None:
    t = _titles(monkeypatch, "en")
    assert t["run"] == "resnet20: your quick run"
    assert t["equal"] == "Equal compute, 60 steps at 16x16"
    assert t["demo"] == "MNIST demo"
    assert t["stack"] == "plain blocks, depth 20"
    assert t["schedules"].startswith("Schedules for 10 epochs of 39 steps")
    assert t["confusion"].startswith("Confusion matrix of resnet20 (test)")
    assert t["per_class"].startswith("Per-class accuracy of resnet20 (test)")
    assert t["stage_macs"] == "Multiply-adds per stage at 224x224 (v1, formula)"
    assert t["stage_macs_legend"] == "stage"


def test_titles_are_chinese_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    en, zh = _titles(monkeypatch, "en"), _titles(monkeypatch, "zh")
    for key in en:
        assert zh[key] != en[key] and any("\u4e00" <= c <= "\u9fff" for c in zh[key]), key
        digits = lambda s: sorted("".join(c if c.isdigit() else " " for c in s).split())  # noqa: E731
        assert digits(zh[key]) == digits(en[key]), key
