"""Argument validators of the model code (``validate_*``: they raise ValueError naming the valid values).

Exercise *checkers* (which grade a learner's answer) are named ``check_*`` and live in
:mod:`resnet_lab.exercises`; the two families never share a prefix.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "Shortcut",
    "Variant",
    "SHORTCUTS",
    "VARIANTS",
    "INIT_MODES",
    "validate_positive_int",
    "validate_shortcut",
    "validate_variant",
    "validate_init_mode",
]

Shortcut = Literal["A", "B"]
"""The paper's shortcut options where the shape changes (He et al. 2015, section 3.3):
A = subsample + zero channels (no parameter), B = 1x1 projection + BN."""
Variant = Literal["v1", "v1.5"]
"""Where a bottleneck puts its downsampling stride: v1 on the first 1x1 (the paper), v1.5 on the 3x3 (torchvision)."""
SHORTCUTS: tuple[str, ...] = ("A", "B")
VARIANTS: tuple[str, ...] = ("v1", "v1.5")
INIT_MODES: tuple[str, ...] = ("fan_out", "fan_in")


def validate_positive_int(name: str, value: int) -> None:
    """ValueError unless ``value`` is an int >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")


def validate_shortcut(shortcut: str) -> None:
    """ValueError unless ``shortcut`` is one of the paper's options "A" or "B"."""
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS} (A: zero-padding, B: projection), got {shortcut!r}")


def validate_variant(variant: str) -> None:
    """ValueError unless ``variant`` is "v1" (stride on the first 1x1) or "v1.5" (on the 3x3)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS} (v1: stride on the 1x1, v1.5: on the 3x3), got {variant!r}")


def validate_init_mode(init_mode: str) -> None:
    """ValueError unless ``init_mode`` is a Kaiming mode we use ("fan_out" as torchvision, or "fan_in")."""
    if init_mode not in INIT_MODES:
        raise ValueError(f"init_mode must be one of {INIT_MODES}, got {init_mode!r}")
