"""The lessons' diagrams (resnet_lab.diagrams) and the tool that embeds them (tools/diagrams.py)."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import struct
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

from resnet_lab import diagrams
from resnet_lab.diagrams import MAX_BYTES, MAX_WIDTH_PX, NAMES, labels_of, render
from resnet_lab.diagrams.networks import cifar_stages, imagenet_rows
from resnet_lab.models import PAPER_IMAGENET_NAMES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
AGREED = ("plain_vs_residual", "basic_block", "shortcut_options", "gradient_paths", "bottleneck",
          "cifar_resnet_layout", "imagenet_resnet_layout", "preact_block", "variant_blocks", "zero_init_bn")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_tool():
    spec = importlib.util.spec_from_file_location("diagrams_tool", ROOT / "tools" / "diagrams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


first_render = tool.png  # render(name), once per test session (the tool's own cache)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- the package --------------------------------------------------------------------------------
def test_names_are_the_agreed_ones() -> None:
    assert NAMES == AGREED


@pytest.mark.parametrize("name", NAMES)
def test_every_diagram_renders_a_small_valid_png(name: str) -> None:
    data = first_render(name)
    assert data[:8] == PNG_MAGIC
    width, height = png_size(data)
    assert 200 <= width <= MAX_WIDTH_PX and 200 <= height <= 900, (width, height)
    assert len(data) <= MAX_BYTES, f"{name}: {len(data)} bytes"
    assert b"tEXtSoftware" not in data, "the PNG names the matplotlib version: bytes would change with it"
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.verify()


@pytest.mark.parametrize("name", NAMES)
def test_renders_are_deterministic(name: str) -> None:
    assert render(name) == first_render(name)


def test_render_ignores_the_callers_style_and_leaves_it_alone() -> None:
    name = NAMES[0]
    with matplotlib.rc_context({"font.size": 20, "lines.linewidth": 5, "axes.facecolor": "black",
                                "figure.dpi": 50, "savefig.dpi": 30, "text.color": "red"}):
        before = dict(matplotlib.rcParams)
        data = render(name)
        assert dict(matplotlib.rcParams) == before
    assert data == first_render(name)


@pytest.mark.parametrize("name", NAMES)
def test_labels_replace_the_words_drawn(name: str) -> None:
    words = labels_of(name)
    assert words and all(isinstance(w, str) and w for w in words)
    assert render(name, {words[0]: "Übersetzung"}) != first_render(name)


def test_labels_that_a_diagram_does_not_draw_change_nothing() -> None:
    assert render("basic_block", {"no such label": "x"}) == first_render("basic_block")
    assert render("basic_block", {}) == first_render("basic_block")


def test_a_label_may_contain_dollars_and_stays_plain_text() -> None:
    # not parsed as mathtext: '$x$' must not raise or be typeset
    assert render("basic_block", {"BN": "$x$ costs $5"})[:8] == PNG_MAGIC


def test_unknown_name_raises_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError) as error:
        render("resnet_block")
    for name in NAMES:
        assert name in str(error.value)
    with pytest.raises(ValueError):
        labels_of("resnet_block")


def test_numbers_drawn_come_from_the_models() -> None:
    # the ImageNet picture: depth = layers per block x blocks + stem + FC is the number in each name
    rows = imagenet_rows()
    assert [row[0] for row in rows] == list(PAPER_IMAGENET_NAMES)
    for name, _, depth, _ in rows:
        assert depth == int(re.sub(r"\D", "", name)), name
    # the CIFAR picture: widths double and maps halve from stage to stage, 10 classes
    stem, stages, classes = cifar_stages()
    assert [c for c, _ in stages] == [stem, 2 * stem, 4 * stem]
    assert [s for _, s in stages] == [32, 16, 8] and classes == 10


def test_the_package_draws_without_pyplot() -> None:
    source = "\n".join(p.read_text() for p in Path(diagrams.__file__).parent.glob("*.py"))
    assert not re.search(r"matplotlib\.pyplot|from matplotlib import pyplot|import pylab", source)


# --- the tool -----------------------------------------------------------------------------------
def _notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A lesson\n\n![The basic block](attachment:basic_block.png)"),
        nbformat.v4.new_code_cell("x = 1  # untouched"),
        nbformat.v4.new_markdown_cell("Two pictures: ![a](attachment:bottleneck.png) and "
                                      "<img src=\"attachment:zero_init_bn.png\" width=400>"),
        nbformat.v4.new_markdown_cell("No picture here."),
    ]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    return path


def test_embed_then_check_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _notebook(tmp_path)
    before = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert tool.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "cell 0" in out and "cell 2" in out and "basic_block.png" in out and "zero_init_bn.png" in out
    assert tool.main(["embed", str(path)]) == 0
    after = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for name, cell in (("basic_block", 0), ("bottleneck", 2), ("zero_init_bn", 2)):
        data = after.cells[cell].attachments[f"{name}.png"]["image/png"]
        assert base64.b64decode(data) == first_render(name)
    # everything but the attachments is as it was
    for old, new in zip(before.cells, after.cells):
        new = dict(new)
        new.pop("attachments", None)
        assert new == dict(old)
    assert "attachments" not in after.cells[3] and "attachments" not in after.cells[1]
    assert after.metadata == before.metadata and after.nbformat_minor == before.nbformat_minor
    capsys.readouterr()
    assert tool.main(["check", str(path)]) == 0
    # a second embed has nothing to do and does not rewrite the file
    text = path.read_bytes()
    assert tool.embed([path]) == []
    assert path.read_bytes() == text


def test_embed_keeps_the_rest_of_a_real_notebook_byte_identical(tmp_path: Path) -> None:
    source = next(p for p in NOTEBOOKS if p.name.startswith("00"))
    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes())
    nb = nbformat.read(copy, as_version=nbformat.NO_CONVERT)
    nb.cells.append(nbformat.v4.new_markdown_cell("![plain and residual](attachment:plain_vs_residual.png)"))
    nbformat.write(nb, copy, version=nb.nbformat)
    expected = copy.read_bytes()
    assert tool.embed([copy]) == [copy]
    embedded = nbformat.read(copy, as_version=nbformat.NO_CONVERT)
    del embedded.cells[-1]["attachments"]
    assert nbformat.writes(embedded, version=embedded.nbformat) + "\n" == expected.decode("utf-8")


def test_check_reports_stale_unreferenced_and_unknown_attachments(tmp_path: Path) -> None:
    path = _notebook(tmp_path)
    tool.embed([path])
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    stale = base64.b64encode(first_render("bottleneck")).decode("ascii")
    nb.cells[0].attachments["basic_block.png"]["image/png"] = stale  # another picture under this name
    nb.cells[3].attachments = {"old.png": {"image/png": stale}}  # left behind by an edit
    nb.cells.append(nbformat.v4.new_markdown_cell("![?](attachment:no_such_diagram.png)"))
    nbformat.write(nb, path, version=nb.nbformat)
    problems = tool.check([path])
    assert any("cell 0" in p and "differs from a fresh render" in p for p in problems), problems
    assert any("cell 3" in p and "old.png" in p and "not referenced" in p for p in problems), problems
    assert any("cell 4" in p and "not a diagram name" in p for p in problems), problems
    assert len(problems) == 3
    tool.embed([path])
    fixed = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert "attachments" not in fixed.cells[3]
    assert base64.b64decode(fixed.cells[0].attachments["basic_block.png"]["image/png"]) == first_render("basic_block")
    assert [p for p in tool.check([path]) if "no_such_diagram" not in p] == []


def test_an_attachment_with_the_same_pixels_is_up_to_date() -> None:
    # Pillow with another zlib compresses the same pixels to other bytes: that is not stale.
    from PIL import Image

    data = first_render("basic_block")
    with Image.open(io.BytesIO(data)) as image:
        other = io.BytesIO()
        image.save(other, format="png", compress_level=1)
    assert other.getvalue() != data
    assert tool.same_image(other.getvalue(), data)
    assert not tool.same_image(first_render("bottleneck"), data)
    assert not tool.same_image(b"not a png", data)


def test_write_puts_every_diagram_in_a_folder(tmp_path: Path) -> None:
    paths = tool.write(tmp_path / "pngs")
    assert [p.name for p in paths] == [f"{n}.png" for n in NAMES]
    assert all(p.read_bytes() == first_render(p.stem) for p in paths)


# --- the lessons --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_diagrams_are_embedded_and_up_to_date(path: Path) -> None:
    problems = tool.check([path])
    assert not problems, "run `python tools/diagrams.py embed notebooks/*.ipynb`:\n" + "\n".join(problems)


def test_every_diagram_is_used_by_a_lesson() -> None:
    used = set()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                used.update(tool.references(cell.source))
    missing = [name for name in NAMES if f"{name}.png" not in used]
    assert not missing, f"no notebook shows ![...](attachment:NAME.png) for: {', '.join(missing)}"
