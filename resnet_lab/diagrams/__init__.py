"""Diagrams drawn for the lessons, as PNG bytes that the repository keeps under ``docs/diagrams/``.

A markdown cell shows a diagram with ``![alt text](DIAGRAM_URL + "NAME.png")``, i.e. through the
repository's one raw-GitHub URL, so JupyterLab (when online), GitHub and Colab, which opens a notebook
without the repository's other files, all show it. ``tools/diagrams.py link`` turns a lesson author's
``attachment:NAME.png`` into that URL and keeps ``docs/diagrams/NAME.png`` equal to ``render(NAME)``;
``tools/diagrams.py check`` tells whether notebooks and files are up to date (see that tool's docstring
for why URLs and not cell attachments).

* :data:`NAMES` -- the diagrams, by name.
* :data:`DIAGRAM_URL` -- where notebooks find them: ``DIAGRAM_URL + "NAME.png"``.
* :func:`render` -- one diagram as PNG bytes (the same bytes for the same input, every time).
* :func:`labels_of` -- the English words a diagram draws: the keys a translation passes to ``render``.
* :func:`translation` -- those words in another language, from the package's message catalogue.

Drawing uses a matplotlib ``Figure`` with the Agg canvas, never pyplot, under matplotlib's default
style (whatever style a notebook has set), with matplotlib's bundled DejaVu fonts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.style

from . import blocks, networks
from .canvas import DPI, MAX_WIDTH_PX, PALETTE, Canvas

__all__ = ["NAMES", "DIAGRAM_URL", "MAX_BYTES", "DPI", "MAX_WIDTH_PX", "PALETTE", "render", "labels_of", "translation"]

_DRAW: dict[str, Callable[[Canvas], None]] = {
    "plain_vs_residual": blocks.draw_plain_vs_residual,
    "basic_block": blocks.draw_basic_block,
    "shortcut_options": blocks.draw_shortcut_options,
    "gradient_paths": networks.draw_gradient_paths,
    "bottleneck": blocks.draw_bottleneck,
    "cifar_resnet_layout": networks.draw_cifar_resnet_layout,
    "imagenet_resnet_layout": networks.draw_imagenet_resnet_layout,
    "preact_block": blocks.draw_preact_block,
    "variant_blocks": blocks.draw_variant_blocks,
    "zero_init_bn": blocks.draw_zero_init_bn,
}
_SIZES: dict[str, tuple[float, float]] = {**blocks.SIZES, **networks.SIZES}

NAMES: tuple[str, ...] = tuple(_DRAW)
"""The diagrams' names, in lesson order; a notebook refers to ``DIAGRAM_URL + "NAME.png"``."""

DIAGRAM_URL = "https://raw.githubusercontent.com/resnet-lab/resnet-lab/main/docs/diagrams/"
"""Where a notebook finds diagram NAME: ``DIAGRAM_URL + "NAME.png"`` is the repository's
``docs/diagrams/NAME.png`` on branch main (the same owner/repo as the README's Colab badges)."""

MAX_BYTES = 80_000
"""The largest a diagram's PNG may be (every reader of a lesson downloads it)."""


def _canvas(name: str, labels: Mapping[str, str] | None) -> Canvas:
    if name not in _DRAW:
        raise ValueError(f"unknown diagram {name!r}; valid names: {', '.join(NAMES)}")
    width, height = _SIZES[name]
    canvas = Canvas(width, height, labels)
    _DRAW[name](canvas)
    return canvas


def render(name: str, labels: Mapping[str, str] | None = None) -> bytes:
    """The diagram ``name`` (one of :data:`NAMES`) as PNG bytes, at most 900 px wide.

    ``labels`` maps an English label (see :func:`labels_of`) to the words to draw instead, e.g. a
    translation; labels it does not name stay English, keys the diagram does not draw are ignored.
    The same ``name`` and ``labels`` give the same bytes. An unknown name raises ValueError listing
    the valid names.
    """
    with matplotlib.style.context("default"):
        canvas = _canvas(name, labels)
        try:
            return canvas.png()
        finally:
            canvas.fig.clear()


def labels_of(name: str) -> tuple[str, ...]:
    """The English labels diagram ``name`` draws, in drawing order: the keys ``render``'s ``labels`` may replace."""
    with matplotlib.style.context("default"):
        canvas = _canvas(name, None)
        canvas.fig.clear()
    return tuple(canvas.used)


def translation(name: str, lang: str = "zh") -> dict[str, str]:
    """``{english: translated}`` for every label of diagram ``name``, from :mod:`resnet_lab.i18n`'s catalogue.

    ``render(name, translation(name, "zh"))`` is the Chinese diagram (``docs/diagrams/zh/NAME.png``);
    ``tools/i18n.py update`` puts every diagram label into the catalogue.
    """
    from ..i18n import translate

    return {english: translate(english, lang) for english in labels_of(name)}
