from __future__ import annotations

from resnet_lab.exercises.core import CheckResult, check_choice, check_number


def test_check_number_right_wrong_and_tolerance() -> None:
    assert check_number(21_797_672, 21_797_672)
    wrong = check_number(21_797_000, 21_797_672, why="it is 21,797,672 because ...", hint="count the BN layers")
    assert not wrong and str(wrong).startswith("Not quite") and "too low" in str(wrong)
    assert "21,797,672" not in str(wrong) and "count the BN layers" in str(wrong)  # a hint, never the answer
    assert "21,797,672" in wrong.solution()  # shown only on request
    assert check_number(0.101, 0.1, rel_tol=0.02) and not check_number(0.11, 0.1, rel_tol=0.02)
    assert not check_number("many", 3) and "expected a number" in str(check_number("many", 3))
    assert "factor of 10^2" in str(check_number(500, 5))


def test_the_placeholder_is_not_attempted_not_wrong() -> None:
    for placeholder in (..., None):
        for result in (check_number(placeholder, 7), check_choice(placeholder, "a", ("a", "b"))):
            assert not result and result.status == "not attempted"
            assert str(result).startswith("Not attempted yet") and "7" not in str(result)


def test_check_choice_names_invalid_options_but_not_the_answer() -> None:
    assert check_choice("plain", "plain", ("plain", "residual"))
    assert "is not one of the options" in str(check_choice("both", "plain", ("plain", "residual")))
    wrong = check_choice("residual", "plain", ("plain", "residual"), why="plain nets degrade")
    assert "'plain'" not in str(wrong) and "plain nets degrade" not in str(wrong)
    assert "'plain'" in wrong.solution()


def test_results_built_by_hand_keep_working() -> None:
    assert CheckResult(True, "ok").status == "right" and CheckResult(False, "no").status == "wrong"
    assert str(CheckResult(False, "no")) == "Not quite. no"
