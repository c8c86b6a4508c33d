"""Exercise checkers: each says right, wrong (with a hint) or "not attempted yet", never the answer unasked.

The rules every checker follows (issue 11, "fair checkers"):

* The placeholder a lesson stores for an answer is ``...`` (Ellipsis); ``...`` or ``None`` gives the
  verdict "not attempted yet", never "wrong".
* A wrong answer gets a *hint*: the direction (too high / too low), how far off in orders of magnitude,
  and the checker's own ``hint=`` text. Neither may contain the expected value.
* ``why=`` is the explanation of the right answer. It may contain the value, so it is shown only with
  a right answer, or when the learner asks for the solution explicitly: ``result.solution()``.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from ..i18n import N_, _, sentences

__all__ = [
    "CheckResult", "Status", "not_attempted", "is_placeholder", "check_number", "check_choice",
    "NotAttempted", "call_attempt", "code_check", "pick",
]

Status = Literal["right", "wrong", "not attempted"]
_STATUS_WORDS = (N_("right"), N_("wrong"), N_("not attempted"))  # how pick() names a status
_PREFIX = {"right": N_("Right. "), "wrong": N_("Not quite. "), "not attempted": N_("Not attempted yet: ")}


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer. Prints as a one-line message; ``bool()`` is True only when right.

    ``correct`` may be given as a bool (right/wrong); ``status`` says "not attempted" apart from wrong.
    The expected answer is kept out of the message; :meth:`solution` shows it on request.
    """

    correct: bool
    message: str
    status: Status | None = None
    _solution: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.status is None:
            object.__setattr__(self, "status", "right" if self.correct else "wrong")

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return _(_PREFIX[self.status or "wrong"]) + self.message

    def solution(self) -> str:
        """The expected answer and why: call it only when you want to see it."""
        return _("Solution: ") + (self._solution or self.message)

    def _repr_pretty_(self, p: object, cycle: bool) -> None:  # IPython display
        p.text(str(self))  # type: ignore[attr-defined]


def is_placeholder(answer: object) -> bool:
    """True for the stored placeholder ``...`` (and ``None``): the learner has not answered yet."""
    return answer is Ellipsis or answer is None


def not_attempted(what: str = "") -> CheckResult:
    """The verdict for an exercise whose placeholder is still in place (``what``: e.g. "a number")."""
    what = what or _("your answer")
    return CheckResult(False, _("replace the `...` with {what}, then run the cell again.").format(what=what),
                       "not attempted")


def _magnitude_hint(value: float, expected: float) -> str:
    if expected == 0 or value == 0 or (value > 0) != (expected > 0):
        return _("Check the sign and the terms you included.")
    ratio = abs(value / expected)
    k = round(math.log10(ratio)) if ratio > 0 else 0
    if abs(k) >= 1:
        return _("You are off by about a factor of 10^{k}: check units and which terms you counted.").format(k=abs(k))
    return _("You are within a factor of 10: check the smaller terms.")


def check_number(
    answer: object,
    expected: float,
    *,
    rel_tol: float = 0.0,
    abs_tol: float = 0.0,
    why: str = "",
    hint: str = "",
) -> CheckResult:
    """Compare a numeric answer with the computed value (see the module's rules for ``why`` and ``hint``)."""
    if is_placeholder(answer):
        return not_attempted(_("a number"))
    solution = f"{_fmt(expected)}. {why}".strip()
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        message = _("expected a number, got {answer}.").format(answer=repr(answer))
        return CheckResult(False, sentences(message, hint), _solution=solution)
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return CheckResult(True, f"{_fmt(value)}. {why}".strip(), _solution=solution)
    verdict = _("{value} is too high.") if value > expected else _("{value} is too low.")
    message = sentences(verdict.format(value=_fmt(value)), _magnitude_hint(value, expected), hint)
    return CheckResult(False, message, _solution=solution)


def _fmt(x: float) -> str:
    """Whole numbers with thousands separators (21,797,672), others with 4 significant digits."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.4g}"


def check_choice(
    answer: object, expected: object, options: tuple[object, ...], *, why: str = "", hint: str = ""
) -> CheckResult:
    """Check a multiple-choice answer; an answer outside ``options`` is named as such, a wrong one gets ``hint``."""
    if is_placeholder(answer):
        return not_attempted(_("one of {options}").format(options=options))
    solution = f"{expected!r}. {why}".strip()
    if answer not in options:
        return CheckResult(False, _("{answer} is not one of the options {options}.").format(answer=repr(answer), options=options),
                           _solution=solution)
    if answer == expected:
        return CheckResult(True, why or f"{answer!r}.", _solution=solution)
    message = _("{answer} is not the answer.").format(answer=repr(answer))
    return CheckResult(False, sentences(message, hint or _('Reread the question and try another option.')),
                       _solution=solution)


# --- code exercises ---------------------------------------------------------------------------------
# A code exercise is a notebook cell tagged ``exercise`` that holds a stub the learner fills in. The stub's
# body is ``...`` (so it returns None) or ``raise NotImplementedError``. Its checker runs the learner's code
# against the package's reference (same weights, same output; shapes; counts; autograd) and returns a
# CheckResult: "not attempted" for the stub, a hint naming what failed for a wrong attempt, and the
# reference's source only through ``result.solution()``.


class NotAttempted(Exception):
    """Raised inside a checker when the learner's code is still the stub."""


def call_attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function; raise :class:`NotAttempted` when it is still the stub.

    A stub returns ``None``/``...`` or raises ``NotImplementedError``; any other exception propagates to
    :func:`code_check`, which turns it into a hint naming the error.
    """
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise NotAttempted() from exc
    if is_placeholder(out):
        raise NotAttempted()
    return out


def code_check(
    what: str, reference: Callable[..., Any] | None, run: Callable[[], str | None]
) -> CheckResult:
    """Run ``run()``, which checks the learner's code and returns ``None`` when right or a hint when wrong.

    ``run`` may raise :class:`NotAttempted` (the stub is still in place); any other exception becomes a
    wrong verdict that names the exception (a shape error is a hint too). ``reference`` is the package's
    solution, whose source :meth:`CheckResult.solution` shows on request.
    """
    solution = ""
    if reference is not None:
        try:
            solution = "\n" + textwrap.dedent(inspect.getsource(reference))
        except (OSError, TypeError):
            solution = _("see {name}").format(name=f"{getattr(reference, '__module__', '')}.{getattr(reference, '__qualname__', '')}")
    try:
        hint = run()
    except NotAttempted:
        return CheckResult(False, _("fill in {what}, then run the cell again.").format(what=what), "not attempted",
                           _solution=solution)
    except Exception as exc:  # the learner's code failed: name the error, not the answer
        return CheckResult(False, _("{what} raised {error}: {message}").format(what=what, error=type(exc).__name__, message=exc),
                           _solution=solution)
    if hint:
        return CheckResult(False, hint, _solution=solution)
    return CheckResult(True, _("{what} behaves like the reference.").format(what=what), _solution=solution)


def pick(result: CheckResult, yours: Any, reference: Any, what: str = "") -> Any:
    """Later cells use the learner's code when it passed its check, the reference otherwise (and say which).

    ``what`` names the learner's code, e.g. ``"your delete_block"`` (shown as "你的 delete_block" in Chinese).
    """
    if what.startswith("your "):
        what = _("your {name}").format(name=what[len("your "):])
    what = what or _("your code")
    if result.correct:
        print(_("Using {what}.").format(what=what))
        return yours
    print(_("Using the reference implementation instead of {what} ({status}).").format(what=what, status=_(result.status or "wrong")))
    return reference
