"""Diagrams of single blocks: plain vs residual, the basic block, the bottleneck, the shortcut
options, the pre-activation block, the variants' blocks and the zero-initialised last BN.

Each ``draw_*`` function draws on a :class:`~resnet_lab.diagrams.canvas.Canvas` of the size given in
:data:`SIZES`. The blocks flow from top to bottom as in the paper's figures; the shortcut runs on the
right in the shortcut colour and enters the (+) from the side.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import Bottleneck, count_parameters, imagenet_spec, make_shortcut
from .canvas import LINE, PALETTE, SHORTCUT, Box, Canvas

__all__ = [
    "SIZES",
    "draw_plain_vs_residual",
    "draw_basic_block",
    "draw_shortcut_options",
    "draw_bottleneck",
    "draw_preact_block",
    "draw_variant_blocks",
    "draw_zero_init_bn",
]

SIZES: dict[str, tuple[float, float]] = {
    "plain_vs_residual": (7.0, 4.3),
    "basic_block": (5.2, 4.75),
    "shortcut_options": (8.8, 5.0),
    "bottleneck": (5.8, 5.6),
    "preact_block": (7.9, 4.85),
    "variant_blocks": (9.0, 5.5),
    "zero_init_bn": (8.2, 5.0),
}
"""Width and height in inches (x 100 = pixels) of each block diagram."""

# (width, height) of a box of each kind in a vertical block drawing
_W_CONV, _W_SMALL, _H_CONV, _H_SMALL = 1.9, 1.15, 0.34, 0.28
_GAP = 0.16
_H_GROUPED = 0.52
_NODE_R = 0.13


def _column(c: Canvas, cx: float, y_top: float, items: Sequence[tuple[str, str]], *, w_conv: float = _W_CONV,
            gap: float = _GAP) -> list[Box]:
    """Boxes from ``y_top`` down, joined by arrows. Kinds: a PALETTE key, ``add`` (a (+) node),
    ``pair`` (one box split into BN | ReLU; the label is ignored) or ``grouped`` (a tall conv box, for
    :func:`_grouped`)."""
    boxes: list[Box] = []
    y = y_top
    for english, kind in items:
        if kind == "add":
            box = c.add_node(cx, y - _NODE_R, _NODE_R)
            y -= 2 * _NODE_R + gap
        elif kind == "pair":
            box = _pair(c, cx, y - _H_SMALL / 2)
            y -= _H_SMALL + gap
        elif kind == "grouped":  # a tall conv box; the caller draws its label and lanes (see _grouped)
            box = c.box(cx, y - _H_GROUPED / 2, w_conv, _H_GROUPED, "", "conv")
            y -= _H_GROUPED + gap
        else:
            w, h = (_W_SMALL, _H_SMALL) if kind in ("bn", "relu") else (w_conv, _H_CONV)
            box = c.box(cx, y - h / 2, w, h, english, kind)
            y -= h + gap
        if boxes:
            c.arrow([boxes[-1].bottom, box.top])
        boxes.append(box)
    return boxes


def _pair(c: Canvas, cx: float, cy: float, w: float = 1.5) -> Box:
    """'BN | ReLU' in one box: the normalisation then the activation, read left to right."""
    half = w / 2
    c.box(cx - half / 2, cy, half, _H_SMALL, "BN", "bn", lw=1.0)
    c.box(cx + half / 2, cy, half, _H_SMALL, "ReLU", "relu", lw=1.0)
    return Box(cx, cy, w, _H_SMALL)


def _input(c: Canvas, cx: float, y: float, english: str, first: Box, *, italic: bool = False) -> tuple[float, float]:
    """The input label above a column, an arrow into its first box; returns the point where a shortcut may tap."""
    c.text(cx, y, english, italic=italic)
    tap = (cx, (y - 0.12 + first.top[1]) / 2)
    c.arrow([(cx, y - 0.12), first.top])
    return tap


def _output(c: Canvas, last: Box, english: str = "", *, length: float = 0.3, italic: bool = False) -> None:
    x, y = last.bottom
    c.arrow([(x, y), (x, y - length)])
    if english:
        c.text(x, y - length - 0.14, english, italic=italic)


# --- plain vs residual ------------------------------------------------------------------------
def draw_plain_vs_residual(c: Canvas) -> None:
    """Two stacked weight-layer/ReLU columns; the right one adds the identity: F(x) + x."""
    top = c.height - 0.85
    for cx, heading in ((1.9, "Plain block"), (5.0, "Residual block")):
        c.title(cx, c.height - 0.25, heading)
    # plain: weight layer, ReLU, weight layer, ReLU; its last ReLU level with the residual one's
    left = _column(c, 1.9, top, [("weight layer", "conv"), ("ReLU", "relu"), ("weight layer", "conv")])
    right = _column(c, 5.0, top, [("weight layer", "conv"), ("ReLU", "relu"), ("weight layer", "conv"),
                                  ("", "add"), ("ReLU", "relu")])
    relu_left = c.box(1.9, right[-1].cy, _W_SMALL, _H_SMALL, "ReLU", "relu")
    c.arrow([left[-1].bottom, relu_left.top])
    _input(c, 1.9, top + 0.27, "x", left[0], italic=True)
    tap = _input(c, 5.0, top + 0.27, "x", right[0], italic=True)
    c.shortcut(tap, right[3], 6.2, english="identity")
    c.bracket(0.75, left[0].top[1], relu_left.bottom[1])
    c.text(0.65, (left[0].top[1] + relu_left.bottom[1]) / 2, "H(x)", ha="right", italic=True)
    c.bracket(3.85, right[0].top[1], right[2].bottom[1])
    c.text(3.75, (right[0].top[1] + right[2].bottom[1]) / 2, "F(x)", ha="right", italic=True)
    c.text(4.75, right[3].cy, "F(x) + x", ha="right", italic=True)
    _output(c, relu_left)
    _output(c, right[-1])
    c.text(1.9, 0.4, "the layers must learn H(x) itself", max_width=3.0)
    c.text(5.0, 0.4, "the layers learn the residual\nF(x) = H(x) − x", max_width=3.4)


# --- the basic block --------------------------------------------------------------------------
def draw_basic_block(c: Canvas) -> None:
    """3x3 conv-BN-ReLU-3x3 conv-BN, (+), ReLU on 64 channels, with the identity shortcut."""
    cx, top = 2.75, c.height - 0.25
    c.title(c.width / 2, top, "Basic block (ResNet-18/34 and the CIFAR nets)", max_width=c.width - 0.2)
    boxes = _column(c, cx, top - 0.6, [("3×3 conv, 64", "conv"), ("BN", "bn"), ("ReLU", "relu"),
                                       ("3×3 conv, 64", "conv"), ("BN", "bn"), ("", "add"), ("ReLU", "relu")])
    tap = _input(c, cx, top - 0.33, "x: 64-d", boxes[0])
    c.shortcut(tap, boxes[5], cx + 1.35, english="identity x")
    c.bracket(cx - 1.1, boxes[0].top[1], boxes[4].bottom[1])
    c.text(cx - 1.2, (boxes[0].top[1] + boxes[4].bottom[1]) / 2, "residual\nbranch F(x)", ha="right")
    c.text(cx - 0.25, boxes[5].cy, "F(x) + x", ha="right", italic=True)
    _output(c, boxes[-1], "64-d")


# --- the bottleneck ---------------------------------------------------------------------------
def draw_bottleneck(c: Canvas) -> None:
    """1x1 (256 -> 64), 3x3 (64 -> 64), 1x1 (64 -> 256), each with BN (and ReLU), shortcut and (+)."""
    cx, top = 3.2, c.height - 0.25
    c.title(c.width / 2, top, "Bottleneck block (ResNet-50/101/152)", max_width=c.width - 0.2)
    boxes = _column(c, cx, top - 0.6, [
        ("1×1 conv, 256→64", "conv"), ("BN", "bn"), ("ReLU", "relu"),
        ("3×3 conv, 64→64", "conv"), ("BN", "bn"), ("ReLU", "relu"),
        ("1×1 conv, 64→256", "conv"), ("BN", "bn"), ("", "add"), ("ReLU", "relu"),
    ], gap=0.13)
    tap = _input(c, cx, top - 0.33, "x: 256-d", boxes[0])
    c.shortcut(tap, boxes[8], cx + 1.5, english="identity x")
    for first, last, english in ((0, 2, "reduce:\n256 → 64 channels"), (3, 5, "the 3×3 works\non 64 channels"),
                                 (6, 7, "restore:\n64 → 256 channels")):
        top, bottom = boxes[first].top[1], boxes[last].bottom[1]
        c.bracket(cx - 1.1, top, bottom)
        c.text(cx - 1.2, (top + bottom) / 2, english, ha="right", size=10)
    c.text(cx - 0.25, boxes[8].cy, "F(x) + x", ha="right", italic=True)
    _output(c, boxes[-1], "256-d", length=0.22)


# --- option A vs option B ---------------------------------------------------------------------
def draw_shortcut_options(c: Canvas) -> None:
    """Option A (subsample, pad zero channels) vs option B (strided 1x1 conv + BN) for a change of shape."""
    c_in, c_out, size_in, stride = 16, 32, 32, 2
    size_out = size_in // stride
    option_a, projection = make_shortcut(c_in, c_out, stride, "A"), make_shortcut(c_in, c_out, stride, "B")
    assert option_a is not None and projection is not None  # the shape changes: neither is the bare identity
    a_params = count_parameters(option_a)
    conv_params = count_parameters(projection[0])
    bn_params = count_parameters(projection[1])
    top = c.height - 0.25
    before, after = f"{c_in} ch, {size_in}×{size_in}", f"{c_out} ch, {size_out}×{size_out}"
    c.title(4.4, top, f"When a block changes the shape: {before} → {after}", max_width=8.6)
    a_x, b_x, w = 2.2, 6.6, 2.8
    c.text(a_x, top - 0.45, "Option A: identity, no parameters", bold=True, color=SHORTCUT, max_width=4.2)
    c.text(b_x, top - 0.45, "Option B: projection", bold=True, color=SHORTCUT, max_width=4.2)
    a = _column(c, a_x, top - 0.75, [
        (f"x: {c_in} ch, {size_in}×{size_in}", "tensor"),
        (f"take every other pixel (stride {stride})", "plain"),
        (f"{c_in} ch, {size_out}×{size_out}", "tensor"),
        (f"append {c_out - c_in} channels of zeros", "plain"),
    ], w_conv=w, gap=0.22)
    # the result: the subsampled x and the zero channels side by side
    cy = a[-1].cy - _H_CONV - 0.22
    c.box(a_x - w / 4, cy, w / 2, _H_CONV, f"{c_in} ch of x", "tensor", lw=1.0)
    c.box(a_x + w / 4, cy, w / 2, _H_CONV, f"{c_out - c_in} ch of zeros", "zero", lw=1.0)
    c.arrow([a[-1].bottom, (a_x, cy + _H_CONV / 2)])
    c.text(a_x, cy - 0.38, f"= {c_out} ch, {size_out}×{size_out}", max_width=w)
    b = _column(c, b_x, top - 0.75, [
        (f"x: {c_in} ch, {size_in}×{size_in}", "tensor"),
        (f"1×1 conv, stride {stride}, {c_in}→{c_out}", "conv"),
        ("BN", "bn"),
        (f"{c_out} ch, {size_out}×{size_out}", "tensor"),
    ], w_conv=w, gap=0.22)
    c.text(b_x, b[-1].cy - 0.45, "every output channel mixes all inputs", max_width=w + 0.8, color=LINE)
    y = 0.8
    c.text(a_x, y, f"parameters: {a_params}", max_width=3.4, bold=True)
    c.text(b_x, y, f"parameters: {conv_params} weights + {bn_params} BN", max_width=3.8, bold=True)
    c.text(4.4, 0.3,
           "The paper's CIFAR nets use A; its ImageNet nets use B. Both are the identity where the shape stays.",
           size=10, color=LINE, max_width=8.6)


# --- original vs pre-activation ---------------------------------------------------------------
def draw_preact_block(c: Canvas) -> None:
    """The original block (ReLU after the sum) vs the full pre-activation block (clean identity path)."""
    ax_, bx, top = 2.0, 5.75, c.height - 0.25
    c.title(ax_, top, "Original (He et al. 2015)", max_width=3.4)
    c.title(bx, top, "Pre-activation (He et al. 2016)", max_width=3.4)
    a = _column(c, ax_, top - 0.7, [("3×3 conv", "conv"), ("BN", "bn"), ("ReLU", "relu"), ("3×3 conv", "conv"),
                                    ("BN", "bn"), ("", "add"), ("ReLU", "relu")])
    b = _column(c, bx, top - 0.7, [("BN", "bn"), ("ReLU", "relu"), ("3×3 conv", "conv"), ("BN", "bn"),
                                   ("ReLU", "relu"), ("3×3 conv", "conv"), ("", "add")])
    tap_a = _input(c, ax_, top - 0.42, "x", a[0], italic=True)
    tap_b = _input(c, bx, top - 0.42, "x", b[0], italic=True)
    c.shortcut(tap_a, a[5], ax_ + 1.3, english="identity")
    c.shortcut(tap_b, b[6], bx + 1.3, english="identity", lw=2.4)
    _output(c, a[-1])
    _output(c, b[-1])
    c.text(ax_ + 0.7, a[-1].cy, "ReLU after the sum:\nnot a clean identity path", ha="left", size=9.5,
           color=PALETTE["zero"][1], max_width=bx - ax_ - 1.75)
    c.text(bx + 0.25, b[-1].cy - 0.32, "nothing after the sum:\na clean identity path", ha="left", size=9.5,
           color=SHORTCUT, max_width=c.width - bx - 0.35)
    y = min(a[-1].bottom[1], b[-1].bottom[1]) - 0.6
    c.text(ax_, y, "out = ReLU(x + F(x))", italic=True, max_width=3.4)
    c.text(bx, y, "out = x + F(x)", italic=True, max_width=3.4)


# --- three variants ---------------------------------------------------------------------------
def draw_variant_blocks(c: Canvas) -> None:
    """Pre-activation block, wide block (k x channels, dropout) and ResNeXt block (C groups) side by side."""
    spec = imagenet_spec("resnext50_32x4d")
    groups = spec.groups
    planes = 64  # the first stage of ResNeXt-50
    inner = int(planes * spec.width_per_group / 64) * groups
    outer = planes * Bottleneck.expansion
    xs = (1.45, 4.45, 7.5)
    heads = ("Pre-activation", "Wide (WRN)", f"ResNeXt ({groups}×{spec.width_per_group}d)")
    for x, head in zip(xs, heads):
        c.title(x, c.height - 0.25, head, max_width=2.9)
    y0, w = c.height - 0.95, 1.8
    pre = _column(c, xs[0], y0, [("", "pair"), ("3×3 conv, c", "conv"), ("", "pair"), ("3×3 conv, c", "conv"),
                                 ("", "add")], w_conv=w, gap=0.22)
    wide = _column(c, xs[1], y0, [("", "pair"), ("3×3 conv, k·c", "conv"), ("dropout", "plain"), ("", "pair"),
                                  ("3×3 conv, k·c", "conv"), ("", "add")], w_conv=w, gap=0.22)
    nxt = _column(c, xs[2], y0, [(f"1×1 conv, {outer}→{inner}", "conv"), ("", "pair"), ("", "grouped"), ("", "pair"),
                                 (f"1×1 conv, {inner}→{outer}", "conv"), ("BN", "bn"), ("", "add"), ("ReLU", "relu")],
                  w_conv=2.1, gap=0.13)
    _grouped(c, nxt[2], groups, f"3×3 conv, {inner}, {groups} groups")
    for x, column, english in ((xs[0], pre, "x: c ch"), (xs[1], wide, "x: k·c ch"), (xs[2], nxt, f"x: {outer} ch")):
        tap = _input(c, x, y0 + 0.27, english, column[0])
        node = next(box for box in column if box.w == 2 * _NODE_R)
        c.shortcut(tap, node, x + (1.2 if column is not nxt else 1.3))
    _output(c, pre[-1], length=0.25)
    _output(c, wide[-1], length=0.25)
    _output(c, nxt[-1], length=0.25)
    y = nxt[-1].bottom[1] - 0.62
    c.text(xs[0], y, "BN and ReLU come\nbefore each conv", size=10, max_width=2.8)
    c.text(xs[1], y, "k times the channels,\ndropout between the convs", size=10, max_width=2.9)
    c.text(xs[2], y, f"the 3×3 conv split into\nC = {groups} groups of {spec.width_per_group} channels", size=10,
           max_width=2.9)


def _grouped(c: Canvas, box: Box, groups: int, english: str) -> None:
    """Label a tall conv ``box`` and draw ``groups`` lanes along its bottom: one per group."""
    left, bottom = box.cx - box.w / 2 + 0.08, box.cy - box.h / 2 + 0.07
    lane = (box.w - 0.16) / groups
    for i in range(groups):
        c.rect(left + i * lane, bottom, lane, 0.14, "#ffffff" if i % 2 else "#9fc0e4", edge=PALETTE["conv"][1], lw=0.4,
               zorder=2.2)
    c.text(box.cx, box.cy + 0.1, english, size=10, max_width=box.w - 0.1)


# --- zero-initialised last BN -----------------------------------------------------------------
def draw_zero_init_bn(c: Canvas) -> None:
    """A block whose last BN starts with gamma = 0: the branch outputs 0, the block is the identity."""
    cx, top = 2.3, c.height - 0.25
    c.title(c.width / 2, top, "Zero-initialised last BN: each block starts as the identity", max_width=c.width - 0.2)
    boxes = _column(c, cx, top - 0.72, [("3×3 conv", "conv"), ("BN", "bn"), ("ReLU", "relu"), ("3×3 conv", "conv"),
                                        ("BN, γ = 0", "zero"), ("", "add"), ("ReLU", "relu")], gap=0.2)
    tap = _input(c, cx, top - 0.45, "x", boxes[0], italic=True)
    c.shortcut(tap, boxes[5], cx + 1.3, english="identity x")
    c.text(cx + 0.1, (boxes[4].bottom[1] + boxes[5].top[1]) / 2, "0", ha="left", bold=True, color=PALETTE["zero"][1])
    c.text(cx - 0.25, boxes[5].cy, "0 + x", ha="right", italic=True)
    _output(c, boxes[-1], "x", italic=True)
    c.bracket(cx - 1.15, boxes[0].top[1], boxes[4].bottom[1])
    c.text(cx - 1.25, (boxes[0].top[1] + boxes[4].bottom[1]) / 2, "F(x)", ha="right", italic=True)
    notes = [
        ("At initialisation", True),
        ("The last BN scales by γ = 0 and adds β = 0,\nso the branch outputs F(x) = 0.", False),
        ("The block outputs ReLU(0 + x) = x\n(x ≥ 0: it comes out of a ReLU).", False),
        ("A deep net starts as a shallow one. γ still\ngets a gradient, so each branch grows\n"
         "from zero as the net learns.", False),
        ("torchvision and resnet_lab:\nzero_init_residual=True", False),
    ]
    x, y, width = 4.65, boxes[0].top[1], c.width - 4.75
    for english, bold in notes:
        c.text(x, y, english, ha="left", va="top", bold=bold, max_width=width)
        y -= 0.38 if bold else 0.22 + 0.19 * (english.count("\n") + 1)
