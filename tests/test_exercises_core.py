from __future__ import annotations

from resnet_lab.exercises.core import check_choice, check_number


def test_check_number_right_wrong_and_tolerance() -> None:
    assert check_number(21_797_672, 21_797_672)
    wrong = check_number(21_797_000, 21_797_672)
    assert not wrong and "21,797,672" in str(wrong) and str(wrong).startswith("Not quite")
    assert check_number(0.101, 0.1, rel_tol=0.02) and not check_number(0.11, 0.1, rel_tol=0.02)
    assert not check_number("many", 3) and "expected a number" in str(check_number("many", 3))


def test_check_choice_names_invalid_options() -> None:
    assert check_choice("plain", "plain", ("plain", "residual"))
    assert "is not one of the options" in str(check_choice("both", "plain", ("plain", "residual")))
    assert "'plain'" in str(check_choice("residual", "plain", ("plain", "residual")))
