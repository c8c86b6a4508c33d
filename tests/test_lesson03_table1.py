"""The printed comparison of lesson 03's ImageNet table with the paper's Table 1 (the lesson's prose states
no numbers of its own: these sentences carry them)."""

from __future__ import annotations

from resnet_lab import arithmetic as ar
from resnet_lab.lessons import block_arithmetic as ba


def _row(name: str, v1: float, paper: float, v15: float | None = None, params: int = 1) -> dict[str, object]:
    return {"network": name, "params (formula)": params, "params (our model)": params,
            "GMACs v1": v1, "paper Table 1": paper, "GMACs v1.5": v1 if v15 is None else v15}


def test_real_table_lines():
    lines = ba.table1_comparison_lines(ar.imagenet_rows(count_with_pytorch=False))
    text = "\n".join(lines)
    assert lines[0] == "parameters: formula only (not counted with PyTorch here)"
    for name in ("resnet18", "resnet101", "resnet152"):
        assert any(line.strip().startswith(f"{name}:") and "agrees when rounded" in line for line in lines)
    for name in ("resnet34", "resnet50"):
        assert any(line.strip().startswith(f"{name}:") and "differs when rounded" in line for line in lines)
    assert "3 of 5 counts give the paper's figure" in text
    assert "resnet34 rounds to 3.7 G, +1 in the last digit against the paper's 3.6 G" in text
    assert "resnet101 7.570 G -> 7.5 G, paper 7.6 G" in text and "3 of 5 match" in text
    assert "resnet152 11.282 G -> 11.2 G, paper 11.3 G" in text
    assert "v1.5 costs more than v1 for resnet50, resnet101, resnet152; the same for resnet18, resnet34" in text
    assert "resnet50: v1.5 4.089 G (about 4.1 G) against v1 3.858 G (about 3.9 G)" in text


def test_synthetic_rows():
    rows = [_row("a", 1.84, 1.8), _row("b", 2.06, 2.0, v15=2.2), _row("c", 3.0, 3.0)]
    assert ba.table1_comparison_lines(rows)[0] == "parameters, formula vs our model: identical for every network"
    text = "\n".join(ba.table1_comparison_lines(rows))
    assert "2 of 3 counts give the paper's figure; b rounds to 2.1 G, +1 in the last digit" in text
    assert "truncated to one decimal instead, 3 of 3 match (those that do not: none)" in text
    assert "within 3.0% of the paper's figure (largest gap: b)" in text
    assert "v1.5 costs more than v1 for b; the same for a, c" in text
    rows[0]["params (our model)"] = 2
    assert "NOT identical" in ba.table1_comparison_lines(rows)[0]


def _v1_v15():
    v1 = ar.imagenet_resnet_cost("resnet50", variant="v1")
    v15 = ar.imagenet_resnet_cost("resnet50", variant="v1.5")
    return v1, v15, ar.variant_differences("resnet50")


def test_printed_sentences_english():
    assert ba.imagenet_check_line("resnet18", "ours, v1", 1_814_073_344, 1_814_073_344) == (
        " resnet18 ours, v1         : formula  1,814,073,344 MACs == FlopCounterMode  1,814,073,344, every layer agrees")
    assert ba.imagenet_check_off() == "The FlopCounterMode check of the ImageNet networks is off in this profile."
    lines = ba.variant_summary_lines(*_v1_v15())
    assert lines == [
        "sum of the differences 231,211,008 = total v1.5 4,089,184,256 - total v1 3,857,973,248 = 231,211,008",
        "v1.5 spends 6.0% more multiply-adds than v1",
        "layer2.0.conv2: the 3x3 costs 115,605,504 MACs in v1 and 115,605,504 in v1.5",
        "layer3.0.conv2: the 3x3 costs 115,605,504 MACs in v1 and 115,605,504 in v1.5",
        "layer4.0.conv2: the 3x3 costs 115,605,504 MACs in v1 and 115,605,504 in v1.5"]
    assert ba.cifar_summary_lines(ar.cifar_rows([20, 1202])) == [
        "ResNet-1202 / ResNet-20: 72.0x the parameters, 69.8x the MACs",
        "option B adds 2,752 parameters at every depth: two projections (16->32 and 32->64, each with its BN); "
        "their MACs add 0.262 M"]
    assert ba.formula_only_line("quick", [110, 1202]) == (
        "not counted by PyTorch in the 'quick' profile (formula only): [110, 1202]")


def test_printed_sentences_chinese(monkeypatch):
    monkeypatch.setenv("RESNET_LAB_LANG", "zh")
    line = ba.imagenet_check_line("resnet18", "ours, v1", 1_814_073_344, 1_814_073_344)
    assert "每一层都一致" in line and line.count("1,814,073,344") == 2 and "every" not in line
    assert "FlopCounterMode" in ba.imagenet_check_off() and "运行配置" in ba.imagenet_check_off()
    text = "\n".join(ba.variant_summary_lines(*_v1_v15()))
    assert "差值之和 231,211,008" in text and "多 6.0%" in text and "spends" not in text
    assert text.count("115,605,504") == 6
    cifar = ba.cifar_summary_lines(ar.cifar_rows([20, 1202]))
    assert "72.0 倍" in cifar[0] and "69.8 倍" in cifar[0] and "2,752" in cifar[1] and "0.262 M" in cifar[1]
    assert "选项 B" in cifar[1] and "投影捷径" in cifar[1]
    only = ba.formula_only_line("quick", [110, 1202])
    assert "'quick'" in only and "[110, 1202]" in only and "仅有公式值" in only
