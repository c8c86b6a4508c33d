"""Exercise checkers: each says right or wrong, and why, instead of only showing a solution."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CheckResult", "check_number", "check_choice"]


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer. Prints as a one-line message; ``bool()`` tells right from wrong."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return ("Right. " if self.correct else "Not quite. ") + self.message

    def _repr_pretty_(self, p: object, cycle: bool) -> None:  # IPython display
        p.text(str(self))  # type: ignore[attr-defined]


def check_number(answer: float, expected: float, *, rel_tol: float = 0.0, abs_tol: float = 0.0, why: str = "") -> CheckResult:
    """Compare a numeric answer with the computed value; ``why`` explains the expected value."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return CheckResult(False, f"expected a number, got {answer!r}. {why}".strip())
    ok = math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    detail = f"You said {_fmt(value)}, the computed value is {_fmt(expected)}."
    return CheckResult(ok, f"{detail} {why}".strip())


def _fmt(x: float) -> str:
    """Whole numbers with thousands separators (21,797,672), others with 4 significant digits."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.4g}"


def check_choice(answer: object, expected: object, options: tuple[object, ...], *, why: str = "") -> CheckResult:
    """Check a multiple-choice answer; an answer outside ``options`` is named as such."""
    if answer not in options:
        return CheckResult(False, f"{answer!r} is not one of the options {options}.")
    ok = answer == expected
    return CheckResult(ok, (f"the answer is {expected!r}. " if not ok else "") + why)
