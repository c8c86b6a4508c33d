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


# --- the code-exercise protocol ---------------------------------------------------------------------
from resnet_lab.exercises.core import NotAttempted, call_attempt, code_check, pick


def _reference_double(x: int) -> int:
    return 2 * x


def _check_double(fn) -> CheckResult:
    def run() -> str | None:
        out = call_attempt(fn, 3)
        if out == 3:
            return "your function returns its input unchanged: it never doubles it."
        return None if out == 6 else "the result is not twice the input."
    return code_check("`double`", _reference_double, run)


def test_code_check_stub_is_not_attempted():
    def stub(x):
        ...
    def raising(x):
        raise NotImplementedError
    for fn in (stub, raising):
        r = _check_double(fn)
        assert r.status == "not attempted" and not r


def test_code_check_right_wrong_and_errors():
    assert _check_double(lambda x: x + x)
    wrong = _check_double(lambda x: x)
    assert wrong.status == "wrong" and "unchanged" in str(wrong) and "2 * x" not in str(wrong)
    assert "2 * x" in wrong.solution()
    crashed = _check_double(lambda x: x / "a")
    assert crashed.status == "wrong" and "TypeError" in str(crashed)


def test_pick_says_which_it_uses(capsys):
    assert pick(_check_double(lambda x: 2 * x), "yours", "ref") == "yours"
    assert pick(_check_double(lambda x: None), "yours", "ref") == "ref"
    assert "reference" in capsys.readouterr().out
