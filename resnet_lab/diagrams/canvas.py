"""The drawing kit shared by every diagram: one palette, the bundled DejaVu fonts, boxes, arrows.

A :class:`Canvas` is a matplotlib ``Figure`` (never pyplot's global state) with one axes that fills it
and whose data units are inches, y upwards: ``Canvas(7, 4)`` is a 700 x 400 pixel image at 100 dpi,
and a box 1.2 units wide is 120 pixels wide. Every word drawn goes through :meth:`Canvas.t`, which
applies the caller's ``labels`` (a translation) and records the English original.

The fonts are loaded by file from matplotlib's own data folder (not looked up by family name), so a
system copy of DejaVu Sans of another version cannot change the pixels; text is never parsed as
mathtext, so a translated label may contain ``$``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextToPath

from .. import i18n

__all__ = ["DPI", "MAX_WIDTH_PX", "PALETTE", "SHORTCUT", "LINE", "MUTED", "TEXT", "Box", "Canvas"]

DPI = 100
"""Pixels per inch (and per data unit) of every diagram."""
MAX_WIDTH_PX = 900
"""The widest a diagram may be, in pixels: it fits a notebook column without scaling."""

# (fill, edge) per kind of layer: the one small palette of every diagram.
PALETTE: dict[str, tuple[str, str]] = {
    "conv": ("#dbe8f6", "#2e6dad"),  # convolutions and weight layers
    "bn": ("#fcf0c8", "#b08207"),  # batch normalisation
    "relu": ("#dff1df", "#3a873a"),  # ReLU
    "head": ("#ebe3f5", "#6a4c99"),  # pooling, the classifier
    "tensor": ("#f1f1f1", "#5a5a5a"),  # inputs, outputs, feature maps
    "zero": ("#fbe1e1", "#b23a3a"),  # zeros: zero-padding, gamma = 0
    "plain": ("#ffffff", "#5a5a5a"),  # a neutral frame
}
SHORTCUT = "#d2611f"
"""The colour of every shortcut (identity or projection)."""
LINE = "#333333"
MUTED = "#8c8c8c"
TEXT = "#1e1e1e"

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT_FILES = {
    (False, False): "DejaVuSans.ttf",
    (True, False): "DejaVuSans-Bold.ttf",
    (False, True): "DejaVuSans-Oblique.ttf",
    (True, True): "DejaVuSans-BoldOblique.ttf",
}
_MIN_FONT = 7.0
_TEXT_TO_PATH = TextToPath()


def font(size: float = 10.0, *, bold: bool = False, italic: bool = False, cjk: bool = False) -> FontProperties:
    """Matplotlib's bundled DejaVu Sans at ``size`` points, loaded by file.

    ``cjk=True`` (a label with Chinese characters): DejaVu Sans by name with resnet_lab's CJK font behind
    it (:data:`resnet_lab.i18n.FONT_FAMILIES`), so each character comes from the first font that has it.
    """
    if cjk and i18n.register_cjk_font():
        return FontProperties(family=list(i18n.FONT_FAMILIES), size=size, weight="bold" if bold else "normal",
                              style="italic" if italic else "normal")
    return FontProperties(fname=str(_FONT_DIR / _FONT_FILES[(bold, italic)]), size=size)


def needs_cjk(text: str) -> bool:
    """True when ``text`` holds a character DejaVu Sans lacks (CJK ideographs, full-width punctuation)."""
    return any(ord(c) >= 0x2E80 for c in text)


def text_width(text: str, size: float = 10.0, *, bold: bool = False, italic: bool = False) -> float:
    """Width in inches of the widest line of ``text`` set at ``size`` points (no renderer needed)."""
    prop = font(size, bold=bold, italic=italic, cjk=needs_cjk(text))
    widths = [_TEXT_TO_PATH.get_text_width_height_descent(line, prop, ismath=False)[0] for line in text.split("\n")]
    return max(widths, default=0.0) / 72.0


@dataclass(frozen=True)
class Box:
    """A drawn rectangle: centre and size in inches, with its four edge midpoints."""

    cx: float
    cy: float
    w: float
    h: float

    @property
    def top(self) -> tuple[float, float]:
        return (self.cx, self.cy + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.cx, self.cy - self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.cx - self.w / 2, self.cy)

    @property
    def right(self) -> tuple[float, float]:
        return (self.cx + self.w / 2, self.cy)


class Canvas:
    """A ``width`` x ``height`` inch drawing surface, 1 data unit = 1 inch, origin bottom left."""

    def __init__(self, width: float, height: float, labels: Mapping[str, str] | None = None) -> None:
        if width * DPI > MAX_WIDTH_PX:
            raise ValueError(f"a diagram is at most {MAX_WIDTH_PX} px wide, got {width * DPI:.0f}")
        self.width = width
        self.height = height
        self.labels: Mapping[str, str] = labels or {}
        self.used: list[str] = []
        self.fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_axis_off()

    # --- words ----------------------------------------------------------------------------------
    def t(self, english: str) -> str:
        """The label drawn for ``english``: its replacement in ``labels``, else itself (recorded)."""
        if english not in self.used:
            self.used.append(english)
        return self.labels.get(english, english)

    def text(
        self,
        x: float,
        y: float,
        english: str,
        *,
        size: float = 10.0,
        ha: str = "center",
        va: str = "center",
        color: str = TEXT,
        bold: bool = False,
        italic: bool = False,
        max_width: float | None = None,
        rotation: float = 0.0,
    ) -> None:
        """Draw a label (translated by :meth:`t`); shrink it (to 7 pt at least) to fit ``max_width`` inches."""
        if not english:
            return
        shown = self.t(english)
        if max_width is not None:
            while size > _MIN_FONT and text_width(shown, size, bold=bold, italic=italic) > max_width:
                size -= 0.5
        self.ax.text(x, y, shown, ha=ha, va=va, color=color, fontproperties=font(size, bold=bold, italic=italic, cjk=needs_cjk(shown)),
                     rotation=rotation, parse_math=False, linespacing=1.15)

    def title(self, x: float, y: float, english: str, *, size: float = 11.0, max_width: float | None = None) -> None:
        """A bold heading centred on ``x``."""
        self.text(x, y, english, size=size, bold=True, max_width=max_width)

    # --- shapes ---------------------------------------------------------------------------------
    def box(
        self,
        cx: float,
        cy: float,
        w: float,
        h: float,
        english: str = "",
        kind: str = "conv",
        *,
        size: float = 10.0,
        bold: bool = False,
        dashed: bool = False,
        lw: float = 1.2,
        text_color: str = TEXT,
        edge: str | None = None,
    ) -> Box:
        """A rounded box of ``kind`` (a key of :data:`PALETTE`) with a centred label that fits inside."""
        fill, default_edge = PALETTE[kind]
        self.ax.add_patch(FancyBboxPatch(
            (cx - w / 2, cy - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
            facecolor=fill, edgecolor=edge or default_edge, linewidth=lw, linestyle="--" if dashed else "-",
            zorder=2,
        ))
        if english:
            self.text(cx, cy, english, size=size, bold=bold, max_width=w - 0.1, color=text_color)
        return Box(cx, cy, w, h)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, edge: str = "none", lw: float = 0.8,
             hatch: str | None = None, zorder: float = 2) -> None:
        """A plain rectangle with its lower left corner at (x, y)."""
        self.ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=edge, linewidth=lw, hatch=hatch,
                                    zorder=zorder))

    def add_node(self, cx: float, cy: float, r: float = 0.13, color: str = LINE) -> Box:
        """The (+) of a residual block: a circle with a plus drawn as two strokes."""
        self.ax.add_patch(Circle((cx, cy), r, facecolor="white", edgecolor=color, linewidth=1.4, zorder=3))
        d = r * 0.55
        self.ax.plot([cx - d, cx + d], [cy, cy], color=color, linewidth=1.4, zorder=4, solid_capstyle="butt")
        self.ax.plot([cx, cx], [cy - d, cy + d], color=color, linewidth=1.4, zorder=4, solid_capstyle="butt")
        return Box(cx, cy, 2 * r, 2 * r)

    def line(self, points: Sequence[tuple[float, float]], *, color: str = LINE, lw: float = 1.2,
             dashed: bool = False, zorder: float = 1) -> None:
        """A polyline without arrowhead."""
        xs, ys = zip(*points)
        self.ax.plot(xs, ys, color=color, linewidth=lw, linestyle="--" if dashed else "-", zorder=zorder,
                     solid_capstyle="butt")

    def arrow(
        self,
        points: Sequence[tuple[float, float]],
        *,
        color: str = LINE,
        lw: float = 1.2,
        radius: float = 0.12,
        head: float = 9.0,
        dashed: bool = False,
        zorder: float = 1.5,
    ) -> None:
        """An arrow along a polyline whose corners are rounded by ``radius`` inches; the head at the end."""
        verts, codes = _rounded(points, radius)
        self.ax.add_patch(FancyArrowPatch(
            path=MplPath(verts, codes), arrowstyle="-|>", mutation_scale=head, color=color, linewidth=lw,
            linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0, zorder=zorder, joinstyle="miter",
            capstyle="butt",
        ))

    def bracket(self, x: float, y0: float, y1: float, *, side: str = "left", color: str = MUTED,
                tick: float = 0.08, lw: float = 1.0) -> None:
        """A square bracket from ``y0`` to ``y1`` at ``x``, its ticks pointing right (side="left") or left."""
        d = tick if side == "left" else -tick
        self.line([(x + d, y0), (x, y0), (x, y1), (x + d, y1)], color=color, lw=lw)

    def stack(
        self,
        cx: float,
        y_top: float,
        items: Sequence[tuple[str, str]],
        *,
        w: float = 1.5,
        h: float = 0.34,
        gap: float = 0.2,
        size: float = 10.0,
    ) -> list[Box]:
        """Boxes ``(label, kind)`` from ``y_top`` downwards, joined by arrows; ``kind="add"`` draws a (+)."""
        boxes: list[Box] = []
        y = y_top
        for english, kind in items:
            if kind == "add":
                box = self.add_node(cx, y - 0.13)
                y -= 0.26 + gap
            else:
                box = self.box(cx, y - h / 2, w, h, english, kind, size=size)
                y -= h + gap
            if boxes:
                self.arrow([boxes[-1].bottom, box.top])
            boxes.append(box)
        return boxes

    def shortcut(self, start: tuple[float, float], node: Box, x_side: float, *, english: str = "",
                 color: str = SHORTCUT, lw: float = 1.6, dashed: bool = False, label_side: str = "right") -> None:
        """The shortcut: from ``start`` sideways to ``x_side``, down, and into the side of the (+) ``node``."""
        end_x = node.cx + (node.w / 2 if x_side > node.cx else -node.w / 2)
        self.ax.plot([start[0]], [start[1]], marker="o", markersize=4, color=color, zorder=4)
        self.arrow([start, (x_side, start[1]), (x_side, node.cy), (end_x, node.cy)], color=color, lw=lw,
                   radius=0.15, dashed=dashed)
        if english:
            ha = "left" if label_side == "right" else "right"
            dx = 0.08 if label_side == "right" else -0.08
            room = self.width - x_side - 0.1 if label_side == "right" else x_side - 0.1
            self.text(x_side + dx, (start[1] + node.cy) / 2, english, ha=ha, color=color, size=10,
                      max_width=max(room, 0.6))

    # --- output ---------------------------------------------------------------------------------
    def png(self) -> bytes:
        """The diagram as PNG bytes: fixed dpi, no 'Software' text chunk, the same bytes every time."""
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
        return buffer.getvalue()


def _rounded(points: Sequence[tuple[float, float]], radius: float) -> tuple[list[tuple[float, float]], list[int]]:
    """Path vertices and codes of a polyline whose inner corners are quadratic curves of ``radius``."""
    verts: list[tuple[float, float]] = [points[0]]
    codes: list[int] = [MplPath.MOVETO]
    for i in range(1, len(points) - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[i - 1], points[i], points[i + 1]
        d_in = math.hypot(x1 - x0, y1 - y0)
        d_out = math.hypot(x2 - x1, y2 - y1)
        r = min(radius, d_in / 2, d_out / 2)
        if r <= 0:
            continue
        a = (x1 - (x1 - x0) / d_in * r, y1 - (y1 - y0) / d_in * r)
        b = (x1 + (x2 - x1) / d_out * r, y1 + (y2 - y1) / d_out * r)
        verts += [a, (x1, y1), b]
        codes += [MplPath.LINETO, MplPath.CURVE3, MplPath.CURVE3]
    verts.append(points[-1])
    codes.append(MplPath.LINETO)
    return verts, codes
