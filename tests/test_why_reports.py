"""Tests of lesson 05's printed readings (lesions.lesion_report, lesions.random_lesion_report,
landscape.landscape_report, preact.run_summary / gpu_depth_note / comparison_title):
the English text is what the notebook's code cells printed before, and in Chinese the same numbers appear."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from resnet_lab import i18n
from resnet_lab.lessons import landscape, lesions, paths, preact

CHANCE = 0.1


def _lesion_results(plain_ordinary: list[float]) -> dict[str, lesions.LesionResult]:
    blocks = [lesions.BlockInfo(i, f"layer{1 + i // 3}.{i % 3}", 4, 8 if i == 3 else 4, 2 if i == 3 else 1, True)
              for i in range(6)]
    res = lesions.LesionResult(blocks, 1.0, 0.82, [1.0] * 6, [0.8, 0.79, 0.81, 0.55, 0.78, 0.8], "made-up data")
    pl = lesions.LesionResult(blocks, 1.0, 0.75, [2.0] * 6, plain_ordinary[:3] + [0.1] + plain_ordinary[3:], "made-up data")
    return {"residual": res, "plain": pl}


def _old_lesion_lines(summary: dict, label: str, n: int) -> str:
    """What notebook 05's cell b1e1aa87 printed before the text moved into lesions.lesion_report."""
    out = []
    r, p = summary["residual"], summary["plain"]
    out.append(f"Your run ({label}, {n} held-out images):")
    for key, s in summary.items():
        out.append(f"  {key:8s}: intact {100 * s['baseline']:.1f}%; one ordinary block deleted keeps {100 * s['kept_ordinary']:.0f}% "
                   f"of the accuracy above chance, one downsampling block {100 * s['kept_downsampling']:.0f}%; "
                   f"worst: block {int(s['worst_block'])} ({100 * s['worst_accuracy']:.1f}%)")
    graceful = r["kept_ordinary"] > p["kept_ordinary"] + 0.1
    out.append(f"So in your run the residual net {'survives ordinary deletions much better than' if graceful else 'does not survive deletions clearly better than'} "
               f"the plain net ({100 * r['kept_ordinary']:.0f}% vs {100 * p['kept_ordinary']:.0f}% kept), and in the residual net "
               f"{lesions.downsampling_verdict(r)}.")
    return "\n".join(out)


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


@pytest.mark.parametrize("plain_ordinary", [[0.12, 0.2, 0.15, 0.3, 0.1], [0.74, 0.73, 0.75, 0.74, 0.72]])
def test_lesion_report_english_as_before_and_chinese(monkeypatch: pytest.MonkeyPatch, plain_ordinary: list[float]) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    summary = lesions.lesion_summary(_lesion_results(plain_ordinary), chance=CHANCE)
    text = lesions.lesion_report(summary, "made-up data", 500)
    assert text == _old_lesion_lines(summary, "made-up data", 500)
    graceful = plain_ordinary[0] < 0.5
    assert ("survives ordinary deletions much better" in text) is graceful
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    zh = lesions.lesion_report(summary, "made-up data", 500)
    assert "本次运行" in zh and "残差网络" in zh and "删除一个下采样块" in zh
    assert ("远强于" in zh) is graceful and "So in your run" not in zh
    assert _numbers(zh) == _numbers(text)


def _random_results() -> dict[str, lesions.RandomLesionResult]:
    n = 9
    res_acc = {k: [CHANCE + 0.7 * paths.surviving_fraction_of_length(n, k, 2)] for k in range(4)}
    plain_acc = {k: [0.7 if k == 0 else CHANCE + 0.01] for k in range(4)}
    sets = {k: [tuple(range(k))] for k in range(4)}
    return {"residual": lesions.RandomLesionResult(n, list(range(n)), sets, res_acc, "made-up data"),
            "plain": lesions.RandomLesionResult(n, list(range(n)), sets, plain_acc, "made-up data")}


def test_random_lesion_report_english_as_before_and_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    random_lesions, label = _random_results(), "made-up data"
    text = lesions.random_lesion_report(random_lesions, CHANCE, label)
    # what notebook 05's cell b7b6ea70 printed before
    n_blocks = 9
    k_max = random_lesions["residual"].ks[-1]
    kept = {key: lesions.retention(res, CHANCE) for key, res in random_lesions.items() if res.mean(0) > CHANCE}
    l_eff, _unused = lesions.effective_path_length(random_lesions["residual"], CHANCE)
    old = [f"Your run ({label}): with {k_max} of {n_blocks} blocks deleted, only 2^-{k_max} = "
           f"{paths.surviving_path_fraction(n_blocks, k_max):.3f} of the paths are left, "
           f"and {paths.surviving_fraction_of_length(n_blocks, k_max, 1):.3f} of the paths of length 1."]
    old += [f"  {key:8s} keeps {100 * kk[k_max]:.0f}% of its accuracy above chance" for key, kk in kept.items()]
    old.append(f"The residual net's curve is closest to the survival curve of paths of length {l_eff} "
               f"(of {n_blocks} blocks): in the ensemble reading, your net relies mostly on paths that short.")
    assert text == "\n".join(old) and l_eff == 2
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    zh = lesions.random_lesion_report(random_lesions, CHANCE, label)
    assert "幸存曲线" in zh and "高于随机水平" in zh and "keeps" not in zh
    assert sorted(_numbers(zh)) == sorted(_numbers(text))


def test_landscape_report_english_as_before_and_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    alphas = [-1.0, -0.5, 0.0, 0.5, 1.0]
    slices_1d = {"residual": landscape.Slice1D(alphas, [2.0, 0.9, 0.5, 0.8, 1.9], [0.0] * 5, "made-up data"),
                 "plain": landscape.Slice1D(alphas, [5.0, 1.9, 0.6, 2.1, 6.0], [0.0] * 5, "made-up data")}
    slices_2d = {key: landscape.Slice2D(alphas, alphas, [[s.loss[i] + s.loss[j] for i in range(5)] for j in range(5)],
                                        [[0.0] * 5] * 5, "made-up data") for key, s in slices_1d.items()}
    label = "made-up data"
    text = landscape.landscape_report(slices_1d, slices_2d, label, radius=0.5)
    # what notebook 05's cell 12c49867 printed before
    rise = {key: landscape.sharpness(s, radius=0.5) for key, s in slices_1d.items()}
    edge = {key: max(max(row) for row in s.loss) for key, s in slices_2d.items()}
    at0 = {key: s.loss[s.alphas.index(0.0)] for key, s in slices_1d.items()}
    old = [f"Your run ({label}):"]
    old += [f"  {key:8s}: loss at the trained weights {at0[key]:.3f}; mean rise within |alpha| <= 0.5: {rise[key]:.3f}; "
            f"highest loss on the 2-D grid: {edge[key]:.3g}" for key in rise]
    flatter = min(rise, key=rise.get)
    old.append(f"Around its minimum the {flatter} net's loss rises more slowly along these directions "
               f"({rise[flatter]:.3f} vs {max(rise.values()):.3f}).")
    assert text == "\n".join(old) and flatter == "residual"
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    zh = landscape.landscape_report(slices_1d, slices_2d, label, radius=0.5)
    assert "残差网络的损失上升得更慢" in zh and "二维网格" in zh and "Around" not in zh
    assert _numbers(zh) == _numbers(text.replace("2-D", ""))  # "2-D grid" is 二维网格


def test_preact_texts_english_as_before_and_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    histories = {"original": SimpleNamespace(train_loss=[2.3, 0.912], val_acc=[0.1, 0.6543]),
                 "preact": SimpleNamespace(train_loss=[2.3, 0.8876], val_acc=[0.1, 0.671])}
    label, depth, steps = "made-up data", 32, 400
    text = preact.run_summary(histories, label, depth, steps)
    old = [f"Your run ({label}), {depth} layers, {steps} steps, one run each:"]
    old += [f"  {key:9s} final training loss {histories[key].train_loss[-1]:.3f}, "
            f"validation accuracy {100 * histories[key].val_acc[-1]:.1f}%" for key in histories]
    assert text == "\n".join(old)
    assert preact.gpu_depth_note(110) == "The gpu profile runs this comparison at 110 layers."
    assert preact.comparison_title(32) == "Original vs pre-activation, 32 layers"
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    zh = preact.run_summary(histories, label, depth, steps)
    assert "最终训练损失" in zh and "验证准确率" in zh and _numbers(zh) == _numbers(text)
    assert preact.gpu_depth_note(110) == "gpu 配置在 110 层上进行这一比较。"
    assert preact.comparison_title(32) == "原始块与预激活块对比，32 层"
