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
