"""Shared plotting conventions. Lesson-specific figures live next to the lesson's logic."""

from __future__ import annotations

from typing import Any

__all__ = ["data_title", "PLAIN_COLOR", "RESIDUAL_COLOR"]

PLAIN_COLOR = "tab:red"
RESIDUAL_COLOR = "tab:blue"


def data_title(title: str, data: Any) -> str:
    """A plot title that names the data, e.g. ``"Training error (synthetic stand-in, not CIFAR-10)"``.

    ``data`` is a :class:`resnet_lab.data.ImageData` (its ``label``) or a plain string.
    """
    label = getattr(data, "label", data)
    return f"{title} ({label})"
