"""Diagrams of whole networks and of gradient paths: the CIFAR family, the paper's Table 1 as a
picture, and a stack of residual blocks unrolled into its 2^n paths.

The numbers drawn (channels, map sizes, blocks per stage, the paper's depths) are read from
:mod:`resnet_lab.models` and :mod:`resnet_lab.arithmetic`, never typed in a second time.
"""

from __future__ import annotations

from itertools import product

from ..arithmetic import cifar_resnet_cost, imagenet_resnet_cost
from ..arithmetic.layers import LayerCost, stage_of
from ..models import PAPER_CIFAR_DEPTHS, PAPER_IMAGENET_NAMES, imagenet_spec, validate_cifar_depth
from .canvas import LINE, MUTED, PALETTE, SHORTCUT, TEXT, Box, Canvas

__all__ = [
    "SIZES",
    "STAGE_COLORS",
    "cifar_stages",
    "imagenet_rows",
    "draw_cifar_resnet_layout",
    "draw_imagenet_resnet_layout",
    "draw_gradient_paths",
]

SIZES: dict[str, tuple[float, float]] = {
    "cifar_resnet_layout": (9.0, 3.6),
    "imagenet_resnet_layout": (9.0, 5.75),
    "gradient_paths": (9.0, 5.0),
}
"""Width and height in inches (x 100 = pixels) of each network diagram."""

STAGE_COLORS: tuple[tuple[str, str], ...] = (
    ("#d9e8f5", TEXT), ("#aecbe8", TEXT), ("#7eaad6", TEXT), ("#4c82bf", "#ffffff"),
)
"""(fill, text colour) of stages 1-4: deeper stages are darker."""


def _stage_shapes(layers: tuple[LayerCost, ...]) -> dict[str, tuple[int, ...]]:
    """The output shape of each stage (``stem``, ``layer1`` ..., ``head``): its last layer's."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in layers:
        shapes[stage_of(layer.name)] = layer.out_shape
    return shapes


def cifar_stages() -> tuple[int, list[tuple[int, int]], int]:
    """The CIFAR family's stem width, (channels, map size) of each stage, and the number of classes."""
    shapes = _stage_shapes(cifar_resnet_cost(PAPER_CIFAR_DEPTHS[0]).layers)
    stages = [(shapes[f"layer{i}"][0], shapes[f"layer{i}"][1]) for i in range(1, 4)]
    return shapes["stem"][0], stages, shapes["head"][0]


def imagenet_rows() -> list[tuple[str, str, int, tuple[int, int, int, int]]]:
    """One row per network of the paper's Table 1: (name, block kind, depth, blocks per stage).

    The depth counts the layers with weights: 2 per basic block, 3 per bottleneck, the stem and the FC.
    """
    rows = []
    for name in PAPER_IMAGENET_NAMES:
        spec = imagenet_spec(name)
        per_block = 2 if spec.block == "basic" else 3
        rows.append((name, spec.block, per_block * sum(spec.layers) + 2, spec.layers))
    return rows


# --- the CIFAR family -------------------------------------------------------------------------
def draw_cifar_resnet_layout(c: Canvas) -> None:
    """3x3 conv -> three stages of n blocks (16, 32, 64 channels on 32, 16, 8 pixels) -> pool -> FC."""
    stem, stages, classes = cifar_stages()
    size0 = stages[0][1]
    c.title(c.width / 2, c.height - 0.25, "The CIFAR-10 ResNets (paper section 4.2): depth 6n + 2",
            max_width=c.width - 0.2)
    y, gap, card = 2.05, 0.2, 0.05  # card: the offset of the stacked cards behind a stage
    widths = [0.9, 0.95, *(1.1 + 0.08 * i for i in range(len(stages))), 0.95, 0.55]
    x = (c.width - sum(widths) - gap * (len(widths) - 1) - 2 * card * len(stages)) / 2
    centres: list[float] = []
    for index, w in enumerate(widths):
        centres.append(x + w / 2)
        x += w + gap + (2 * card if 2 <= index < 2 + len(stages) else 0)
    pieces: list[Box] = [c.box(centres[0], y, widths[0], 0.62, f"image\n3×{size0}×{size0}", "tensor"),
                         c.box(centres[1], y, widths[1], 0.62, f"3×3 conv,\n{stem}", "conv")]
    for index, (channels, size) in enumerate(stages):
        cx, w = centres[2 + index], widths[2 + index]
        h = 0.75 + 0.8 * size / size0
        for k in (2, 1):  # the cards behind: a stage is a stack of n blocks
            c.rect(cx - w / 2 + card * k, y - h / 2 + card * k, w, h, STAGE_COLORS[index][0], edge=PALETTE["conv"][1],
                   lw=0.6, zorder=1.8 - 0.1 * k)
        c.rect(cx - w / 2, y - h / 2, w, h, STAGE_COLORS[index][0], edge=PALETTE["conv"][1], lw=1.0, zorder=2.1)
        pieces.append(Box(cx, y, w, h))
        c.text(cx, y, f"stage {index + 1}\nn blocks\n{channels} ch\n{size}×{size}", size=10, max_width=w - 0.08)
        if index:
            c.text(cx, y + h / 2 + 0.25, "first block: stride 2", size=9, color=MUTED, max_width=w + gap)
    pieces.append(c.box(centres[-2], y, widths[-2], 0.62, "global\navg pool", "head"))
    pieces.append(c.box(centres[-1], y, widths[-1], 0.62, f"FC\n{classes}", "head"))
    for a, b in zip(pieces, pieces[1:]):
        c.arrow([a.right, b.left])
    c.text(c.width / 2, 0.95, "depth = 1 stem conv + 3 stages × n blocks × 2 convs + 1 FC = 6n + 2",
           max_width=c.width - 0.2)
    _depth_table(c, c.width / 2, 0.42)


def _depth_table(c: Canvas, cx: float, cy: float) -> None:
    """The paper's depths with their n, as two rows of cells."""
    cell_w, cell_h = 0.7, 0.26
    columns = [(str(validate_cifar_depth(d)), str(d)) for d in PAPER_CIFAR_DEPTHS]
    left = cx - (len(columns) + 1) * cell_w / 2
    for row, (english, dy) in enumerate((("n", cell_h / 2), ("depth", -cell_h / 2))):
        c.text(left + cell_w - 0.08, cy + dy, english, ha="right", size=10, bold=True)
        for i, pair in enumerate(columns):
            x = left + (i + 1) * cell_w
            c.rect(x, cy + dy - cell_h / 2, cell_w, cell_h, "#f6f6f6" if row else "#ffffff", edge=MUTED, lw=0.6)
            c.text(x + cell_w / 2, cy + dy, pair[row], size=10)


# --- the ImageNet family (Table 1) ------------------------------------------------------------
def draw_imagenet_resnet_layout(c: Canvas) -> None:
    """The paper's Table 1 as a picture: the stem, conv2_x ... conv5_x with blocks per stage, the head."""
    rows = imagenet_rows()
    basic = _stage_shapes(imagenet_resnet_cost(next(r[0] for r in rows if r[1] == "basic")).layers)
    neck = _stage_shapes(imagenet_resnet_cost(next(r[0] for r in rows if r[1] == "bottleneck")).layers)
    planes = [basic[f"layer{i}"][0] for i in range(1, 5)]
    outs = [neck[f"layer{i}"][0] for i in range(1, 5)]
    sizes = [basic[f"layer{i}"][1] for i in range(1, 5)]
    stem_size, classes, image = basic["stem"][1], basic["head"][0], 2 * basic["stem"][1]

    top = c.height - 0.25
    c.title(c.width / 2, top, "The ImageNet ResNets (paper Table 1): blocks per stage", max_width=c.width - 0.2)
    # columns: stage | output | basic recipe | 18 | 34 | bottleneck recipe | 50 | 101 | 152
    x_stage, x_out, x_basic, x_neck = 0.1, 1.2, 2.2, 5.05
    net_x = {"basic": [3.1, 4.0], "bottleneck": [6.15, 7.25, 8.35]}
    col_w = {"basic": 0.9, "bottleneck": 1.1}
    y_head = top - 0.55
    c.text(x_stage, y_head, "stage", ha="left", bold=True)
    c.text(x_out, y_head, "output", bold=True)
    c.text(x_basic, y_head + 0.1, "basic block", bold=True, max_width=1.0)
    c.text(x_neck, y_head + 0.1, "bottleneck", bold=True, max_width=1.1)
    for x in (x_basic, x_neck):
        c.text(x, y_head - 0.13, "kernel, channels", size=9, color=MUTED, max_width=1.1)
    columns = {"basic": iter(net_x["basic"]), "bottleneck": iter(net_x["bottleneck"])}
    for name, kind, depth, _ in rows:
        cx = next(columns[kind])
        c.text(cx, y_head + 0.1, f"{depth}-layer", bold=True, max_width=col_w[kind])
        c.text(cx, y_head - 0.13, "blocks", size=9, color=MUTED)
    span = (x_basic - 0.5, c.width - 0.1)

    def full_row(yc: float, stage: str, out: str, english: str, kind: str) -> None:
        c.text(x_stage, yc, stage, ha="left")
        c.text(x_out, yc, out)
        c.box((span[0] + span[1]) / 2, yc, span[1] - span[0], 0.28, english, kind)

    y = y_head - 0.55
    full_row(y, "input", f"{image}×{image}", "image, 3 channels", "tensor")
    y -= 0.37
    full_row(y, "conv1", f"{stem_size}×{stem_size}", "7×7 conv, 64, stride 2", "conv")
    y -= 0.37
    full_row(y, "", f"{sizes[0]}×{sizes[0]}", "3×3 max pool, stride 2", "head")
    row_h = 0.6
    y -= 0.2 + row_h / 2
    for stage in range(4):
        fill, ink = STAGE_COLORS[stage]
        c.rect(0.05, y - row_h / 2 + 0.02, c.width - 0.1, row_h - 0.04, fill, zorder=0.5)
        c.text(x_stage, y, f"conv{stage + 2}_x", ha="left", color=ink)
        c.text(x_out, y, f"{sizes[stage]}×{sizes[stage]}", color=ink)
        p, o = planes[stage], outs[stage]
        c.text(x_basic, y, f"3×3, {p}\n3×3, {p}", size=9, color=ink)
        c.text(x_neck, y, f"1×1, {p}\n3×3, {p}\n1×1, {o}", size=8.5, color=ink)
        columns = {"basic": iter(net_x["basic"]), "bottleneck": iter(net_x["bottleneck"])}
        for name, kind, depth, layers in rows:
            _blocks(c, next(columns[kind]), y, layers[stage], ink)
        y -= row_h
    y += row_h / 2 - 0.18 - 0.14
    full_row(y, "", "1×1", f"global average pool, {classes}-way FC, softmax", "head")
    c.text(c.width / 2, y - 0.38,
           "Stages conv3_x to conv5_x halve the map in their first block (stride 2, projection shortcut).",
           size=10, color=LINE, max_width=c.width - 0.2)
    c.text(c.width / 2, y - 0.66, "depth = 2 layers per basic block or 3 per bottleneck, + the stem conv + the FC",
           size=10, color=LINE, max_width=c.width - 0.2)


def _blocks(c: Canvas, cx: float, cy: float, count: int, ink: str, per_row: int = 8) -> None:
    """``count`` small squares, one per block, ``per_row`` to a row, with the count beside them."""
    side, pitch, label = 0.07, 0.09, 0.36
    rows = -(-count // per_row)
    used = min(count, per_row)
    left = cx - (used * pitch + label) / 2
    top = cy + rows * pitch / 2
    for i in range(count):
        r, k = divmod(i, per_row)
        c.rect(left + k * pitch, top - (r + 1) * pitch + (pitch - side) / 2, side, side, "#ffffff",
               edge=PALETTE["conv"][1], lw=0.7, zorder=2)
    c.text(left + used * pitch + 0.04, cy, f"×{count}", ha="left", size=9.5, bold=True, color=ink)


# --- gradient paths ---------------------------------------------------------------------------
def draw_gradient_paths(c: Canvas) -> None:
    """Three residual blocks unrolled into 2^3 paths; the gradient of a block is I + dF/dx."""
    n = 3
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
    top = c.height - 0.25
    c.title(1.45, top, f"{n} residual blocks", max_width=2.8)
    c.title(6.2, top, f"… unrolled: 2{str(n).translate(sup)} = {2 ** n} paths from x₀ to x{str(n).translate(sub)}",
            max_width=5.6)
    # left: the stack, the identity highway straight down, the branches to the right
    cx, y = 1.0, top - 0.5
    c.text(cx, y, "x₀", italic=True)
    y -= 0.14
    step = 1.12
    for i in range(1, n + 1):
        tap = (cx, y - 0.16)
        node = Box(cx, y - step + 0.12, 0.26, 0.26)
        branch = c.box(cx + 0.95, (tap[1] + node.cy) / 2, 0.7, 0.34, f"F{str(i).translate(sub)}", "conv")
        c.line([(cx, y), tap], color=SHORTCUT, lw=2.2)
        c.arrow([tap, (cx, node.cy + 0.13)], color=SHORTCUT, lw=2.2)
        c.arrow([tap, (branch.cx, tap[1]), branch.top], radius=0.1)
        c.arrow([branch.bottom, (branch.cx, node.cy), (cx + 0.13, node.cy)], radius=0.1)
        c.ax.plot([tap[0]], [tap[1]], marker="o", markersize=4, color=LINE, zorder=4)
        c.add_node(cx, node.cy)
        y = node.cy - 0.13
        c.line([(cx, y), (cx, y - 0.14)], color=LINE, lw=1.2)
        c.text(cx - 0.1, y - 0.1, f"x{str(i).translate(sub)}", ha="right", italic=True)
        y -= 0.14
    c.text(cx - 0.4, top - 0.5 - 1.8 * step, "identity", rotation=90, color=SHORTCUT, size=10)
    # right: the binary tree of choices, through F_i (blue box) or around it (orange)
    levels = [3.55, 4.75, 5.95, 7.15]
    leaf_y = [top - 0.75 - 0.4 * k for k in range(2 ** n)]
    for col in range(n):
        c.text((levels[col] + levels[col + 1]) / 2, top - 0.45, f"block {col + 1}", size=9, color=MUTED)
    c.text(levels[-1] + 0.12, top - 0.45, f"term of ∂x{str(n).translate(sub)}/∂x₀", size=9, color=MUTED, ha="left")
    for depth in range(n):
        for prefix in product((True, False), repeat=depth):
            y0 = _mean_leaf(leaf_y, prefix, n)
            for through in (True, False):
                y1 = _mean_leaf(leaf_y, (*prefix, through), n)
                p, q = (levels[depth], y0), (levels[depth + 1], y1)
                if through:
                    c.line([p, q], color=PALETTE["conv"][1], lw=1.3)
                    mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
                    c.box(mid[0], mid[1], 0.38, 0.24, f"F{str(depth + 1).translate(sub)}", "conv", size=9, lw=1.0)
                else:
                    straight = not any(prefix)
                    c.line([p, q], color=SHORTCUT, lw=2.4 if straight else 1.3)
    root = _mean_leaf(leaf_y, (), n)
    c.ax.plot([levels[0]], [root], marker="o", markersize=4, color=LINE, zorder=4)
    c.text(levels[0] - 0.1, root, "x₀", ha="right", italic=True)
    for k, choice in enumerate(product((True, False), repeat=n)):
        factors = [f"F{str(i + 1).translate(sub)}′" for i in reversed(range(n)) if choice[i]]
        straight = not factors
        term = " ".join(factors) if factors else "I  (the “+1” path)"
        c.text(levels[-1] + 0.12, leaf_y[k], term, ha="left", size=10, bold=straight,
               color=SHORTCUT if straight else TEXT, max_width=c.width - levels[-1] - 0.2)
        c.ax.plot([levels[-1]], [leaf_y[k]], marker="o", markersize=3, color=LINE, zorder=4)
    product_text = "".join(f"(I + F{str(i).translate(sub)}′)" for i in range(n, 0, -1))
    x_text = (levels[0] + c.width) / 2 - 0.1
    c.text(x_text, 0.88, "one block: ∂(x + F(x))/∂x = I + F′, where F′ = ∂F/∂x", size=10, max_width=5.8)
    c.text(x_text, 0.57, "the I (the “+1”) goes straight through the shortcut", size=10, max_width=5.8,
           color=SHORTCUT)
    c.text(x_text, 0.26, f"{n} blocks: {product_text} = {2 ** n} terms, one per path", size=10, max_width=5.8)


def _mean_leaf(leaf_y: list[float], prefix: tuple[bool, ...], n: int) -> float:
    """The height of a tree node: the mean of its leaves' heights (leaves in ``product`` order)."""
    rest = n - len(prefix)
    ys = [leaf_y[k] for k, choice in enumerate(product((True, False), repeat=n)) if choice[: len(prefix)] == prefix]
    assert len(ys) == 2 ** rest
    return sum(ys) / len(ys)
