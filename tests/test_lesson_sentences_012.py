"""Sentences lessons 00-02 print from code cells: English exactly as before, Chinese with the same numbers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from resnet_lab import references
from resnet_lab.i18n import display_width
from resnet_lab.exercises.core import CheckResult
from resnet_lab.lessons import degradation as dg
from resnet_lab.lessons import figures, responses, toy

STANDIN = "synthetic stand-in, not CIFAR-10"


def _result(size: int = 16) -> SimpleNamespace:
    """What the sentences read of a DegradationResult and its CifarConfig."""
    cfg = SimpleNamespace(depths=(8, 14), seeds=(0, 1), image_size=size)
    return SimpleNamespace(config=cfg, data_label=STANDIN, data_source="synthetic stand-in",
                           runs=[{}] * 8, trained=3, seconds=12.34)


def _checks() -> dict[str, CheckResult]:
    return dict(plain=CheckResult(True, "a"), residual=CheckResult(False, "b"),
                plain_gap=CheckResult(True, "c"), residual_gap=CheckResult(False, "d"))


def test_lesson01_sentences_english():
    r = _result()
    assert dg.image_size_line(r.config) == "images the nets see: 16x16 (averaged down from 32x32)"
    assert dg.image_size_line(SimpleNamespace(image_size=32)) == "images the nets see: 32x32"
    assert dg.training_summary(r) == "3 nets trained now, 5 loaded from the cache, 12.3 s"
    assert dg.final_errors_heading(r) == f"Final errors ({STANDIN}):"
    c = _checks()
    assert dg.prediction_report(**c).splitlines() == [
        f"Your plain prediction:    {c['plain']}", f"Your residual prediction: {c['residual']}",
        f"Your plain gap:           {c['plain_gap']}", f"Your residual gap:        {c['residual_gap']}"]
    assert references.reference_caption(None, "quick") == (
        "No reference run was recorded for the 'quick' profile (the quick profile shows the cpu one): "
        "only your run is drawn.")
    assert references.reference_caption(SimpleNamespace(caption=lambda: "reference: cpu"), "cpu") == "reference: cpu"
    assert toy.comparison_time_line(1.26) == "trained both nets and drew the figure in 1.3 s"


def test_lesson02_sentences_english():
    r = _result()
    assert responses.figure7_training_summary(r) == (
        f"depths {r.config.depths}, seeds {r.config.seeds}: 3 nets trained now, 5 loaded from lesson 01's cache (12.3 s)")
    data = SimpleNamespace(source="CIFAR-10 (50000 training images)", label="CIFAR-10")
    assert figures.data_line(data) == "data: CIFAR-10 (50000 training images) -> plots are labelled 'CIFAR-10'"
    view = SimpleNamespace(summary=lambda: "residual-20 with BN")
    assert figures.gradient_summary_lines({("at init", "plain", True): view, ("after k steps", "plain", False): view}) == [
        f"{'at init':14s} residual-20 with BN", f"{'after k steps':14s} residual-20 with BN"]


def test_sentences_chinese(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RESNET_LAB_LANG", "zh")
    r = _result()
    assert dg.image_size_line(r.config) == "网络看到的图像：16x16（由 32x32 平均缩小而来）"
    assert dg.training_summary(r) == "本次训练了 3 个网络，从缓存加载了 5 个，用时 12.3 秒"
    heading = dg.final_errors_heading(r)
    assert heading.startswith("最终误差（") and "synthetic" not in heading
    checks = _checks()
    lines = dg.prediction_report(**checks).splitlines()
    assert lines[0].startswith("你对普通网络的预测：") and lines[3].startswith("你预测的残差网络差值：")
    assert "正确" in lines[0] and "a" in lines[0]
    # the checks' messages start in one column (a Chinese character takes two columns)
    assert len({display_width(line[:-len(str(c))]) for line, c in zip(lines, checks.values())}) == 1
    assert "'quick'" in references.reference_caption(None, "quick") and "参考运行" in references.reference_caption(None, "quick")
    assert toy.comparison_time_line(1.26) == "训练两个网络并绘图共用时 1.3 秒"
    s = responses.figure7_training_summary(r)
    assert s.startswith("深度 (8, 14)，随机种子 (0, 1)：") and "3 个网络" in s and "5 个" in s and "12.3 秒" in s
    assert figures.data_line(SimpleNamespace(source="CIFAR-10", label="CIFAR-10")) == "数据：CIFAR-10 -> 图中标注为“CIFAR-10”"
    view = SimpleNamespace(summary=lambda: "x")
    out = figures.gradient_summary_lines({("at init", "plain", True): view})
    assert out == ["初始化时" + " " * 6 + " x"]
