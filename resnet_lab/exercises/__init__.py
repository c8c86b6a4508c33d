"""Exercise checkers: one module per lesson, plus ``core`` (the verdict type and generic checkers).

A checker grades a learner's answer or code by behaviour against the package's reference and says
right or wrong and why. (Argument *validators*, which raise ValueError on bad input, are named
``validate_*`` and live next to the code they protect.)
"""

from __future__ import annotations

from .core import CheckResult, NotAttempted, call_attempt, check_choice, check_number, code_check, pick

__all__ = ["CheckResult", "NotAttempted", "call_attempt", "check_choice", "check_number", "code_check", "pick"]
