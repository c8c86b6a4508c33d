"""The lessons' diagrams (resnet_lab.diagrams), docs/diagrams and the tool that links them (tools/diagrams.py)."""

from __future__ import annotations

import base64
import filecmp
import io
import re
import struct
from pathlib import Path

import matplotlib
import nbformat
import pytest
from _tools import load_tool

from resnet_lab import diagrams
from resnet_lab.diagrams import DIAGRAM_URL, MAX_BYTES, MAX_WIDTH_PX, NAMES, labels_of, render
from resnet_lab.diagrams.networks import cifar_stages, imagenet_rows
from resnet_lab.models import PAPER_IMAGENET_NAMES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))  # the Chinese edition: zh/NAME.png
AGREED = ("plain_vs_residual", "basic_block", "shortcut_options", "gradient_paths", "bottleneck",
          "cifar_resnet_layout", "imagenet_resnet_layout", "preact_block", "variant_blocks", "zero_init_bn")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


tool = load_tool("diagrams")


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
def _url(name: str) -> str:
    return f"{DIAGRAM_URL}{name}.png"


def _b64(name: str) -> str:
    return base64.b64encode(first_render(name)).decode("ascii")


def _notebook(tmp_path: Path) -> Path:
    """A lesson as its author writes it: attachment references, one stale diagram attachment, one pasted picture."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A lesson\n\n![The basic block](attachment:basic_block.png)"),
        nbformat.v4.new_code_cell("x = 1  # untouched"),
        nbformat.v4.new_markdown_cell("Two pictures: ![a](attachment:bottleneck.png) and "
                                      "<img src=\"attachment:zero_init_bn.png\" alt=\"z\" width=400>"),
        nbformat.v4.new_markdown_cell("No picture here."),
        nbformat.v4.new_markdown_cell("A photo ![a photo](attachment:photo.png) and "
                                      "![the block again](attachment:basic_block.png)"),
    ]
    nb.cells[2].attachments = {"bottleneck.png": {"image/png": _b64("basic_block")}}  # embedded earlier, stale
    nb.cells[4].attachments = {"photo.png": {"image/png": _b64("plain_vs_residual")},  # pasted by hand: kept
                               "basic_block.png": {"image/png": _b64("basic_block")}}
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    return path


def test_references_recognise_both_forms() -> None:
    source = (f"![x]({_url('bottleneck')}) then ![y](attachment:basic_block.png), "
              f"<img src=\"{_url('bottleneck')}\"> and ![z](attachment:photo.png)")
    assert tool.references(source) == ["bottleneck.png", "basic_block.png", "photo.png"]
    assert tool.url("basic_block") == _url("basic_block")


def test_diagram_url_is_the_readme_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    badges = set(re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/", readme))
    assert len(badges) == 1, badges
    (repo, branch), = badges
    assert DIAGRAM_URL == f"https://raw.githubusercontent.com/{repo}/{branch}/docs/diagrams/"


def test_link_then_check_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, docs = _notebook(tmp_path), tmp_path / "docs"
    before = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert tool.main(["check", str(path), "--docs-dir", str(docs)]) == 1
    out = capsys.readouterr().out
    assert "cell 0" in out and "cell 2" in out and "basic_block.png" in out and "zero_init_bn.png" in out
    assert "photo.png" not in out  # a pasted picture with its attachment is fine
    assert tool.main(["link", str(path), "--docs-dir", str(docs)]) == 0
    after = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert after.cells[0].source == f"# A lesson\n\n![The basic block]({_url('basic_block')})"
    assert after.cells[2].source == (f"Two pictures: ![a]({_url('bottleneck')}) and "
                                     f"<img src=\"{_url('zero_init_bn')}\" alt=\"z\" width=400>")
    assert after.cells[4].source == f"A photo ![a photo](attachment:photo.png) and ![the block again]({_url('basic_block')})"
    assert "attachments" not in after.cells[2]
    assert dict(after.cells[4].attachments) == {"photo.png": {"image/png": _b64("plain_vs_residual")}}
    # the docs files the notebook uses, and only those, are fresh renders
    assert sorted(p.name for p in docs.iterdir()) == ["basic_block.png", "bottleneck.png", "zero_init_bn.png"]
    assert all(p.read_bytes() == first_render(p.stem) for p in docs.iterdir())
    # everything but the sources and attachments is as it was
    for old, new in zip(before.cells, after.cells):
        old, new = dict(old), dict(new)
        for key in ("source", "attachments"):
            old.pop(key, None), new.pop(key, None)
        assert new == old
    assert after.cells[1] == before.cells[1] and after.cells[3] == before.cells[3]
    assert after.metadata == before.metadata and after.nbformat_minor == before.nbformat_minor
    capsys.readouterr()
    assert tool.main(["check", str(path), "--docs-dir", str(docs)]) == 0
    # a second link has nothing to do and writes nothing
    text, stamps = path.read_bytes(), {p: p.stat().st_mtime_ns for p in docs.iterdir()}
    assert tool.link([path], docs) == []
    assert path.read_bytes() == text and {p: p.stat().st_mtime_ns for p in docs.iterdir()} == stamps


def test_embed_is_an_alias_of_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, docs = _notebook(tmp_path), tmp_path / "docs"
    assert tool.main(["embed", str(path), "--docs-dir", str(docs)]) == 0
    assert "now links" in capsys.readouterr().err
    assert tool.check([path], docs) == []


def test_link_keeps_the_rest_of_a_real_notebook_byte_identical(tmp_path: Path) -> None:
    source = next(p for p in NOTEBOOKS if p.name.startswith("00"))
    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes())
    nb = nbformat.read(copy, as_version=nbformat.NO_CONVERT)
    nb.cells.append(nbformat.v4.new_markdown_cell("![plain and residual](attachment:plain_vs_residual.png)"))
    nb.cells[-1].attachments = {"plain_vs_residual.png": {"image/png": _b64("plain_vs_residual")}}
    nbformat.write(nb, copy, version=nb.nbformat)
    linked_form = nbformat.read(copy, as_version=nbformat.NO_CONVERT)
    linked_form.cells[-1].source = f"![plain and residual]({_url('plain_vs_residual')})"
    del linked_form.cells[-1]["attachments"]
    expected = nbformat.writes(linked_form, version=linked_form.nbformat) + "\n"
    assert tool.link([copy], tmp_path / "docs")[0] == copy
    assert copy.read_text(encoding="utf-8") == expected
    # a real notebook with nothing to link is not rewritten at all, not even reformatted
    untouched = tmp_path / "untouched" / source.name
    untouched.parent.mkdir()
    untouched.write_bytes(source.read_bytes())
    nb = nbformat.read(untouched, as_version=nbformat.NO_CONVERT)
    if not any(ref for _, c in tool._markdown_cells(nb) for ref in tool.ATTACHMENT.findall(c.source)):
        assert tool.link([untouched], tmp_path / "docs") == []
        assert untouched.read_bytes() == source.read_bytes()


def test_check_reports_stale_unknown_leftover_and_unlabelled(tmp_path: Path) -> None:
    path, docs = _notebook(tmp_path), tmp_path / "docs"
    tool.link([path], docs)
    (docs / "basic_block.png").write_bytes(first_render("bottleneck"))  # another picture under this name
    (docs / "zero_init_bn.png").unlink()
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nb.cells[3].attachments = {"bottleneck.png": {"image/png": _b64("bottleneck")}}  # left behind by an edit
    nb.cells.append(nbformat.v4.new_markdown_cell(f"![?]({DIAGRAM_URL}no_such_diagram.png)"))
    nb.cells.append(nbformat.v4.new_markdown_cell(f"![]({_url('gradient_paths')}) and "
                                                  f"<img src=\"{_url('preact_block')}\" width=300>"))
    nb.cells.append(nbformat.v4.new_markdown_cell("![?](attachment:no_such_picture.png)"))
    nbformat.write(nb, path, version=nb.nbformat)
    problems = tool.check([path], docs)
    expected = {
        "basic_block.png: differs from a fresh render": lambda p: str(docs / "basic_block.png") in p,
        "zero_init_bn.png: missing": lambda p: str(docs / "zero_init_bn.png") in p,
        "gradient_paths.png: missing": lambda p: str(docs / "gradient_paths.png") in p,
        "preact_block.png: missing": lambda p: str(docs / "preact_block.png") in p,
        "cell 3 leftover": lambda p: "cell 3" in p and "diagram attachment bottleneck.png left" in p,
        "cell 5 unknown": lambda p: "cell 5" in p and "no_such_diagram.png is not a diagram" in p,
        "cell 6 no alt (markdown)": lambda p: "cell 6" in p and "gradient_paths.png has no alt text" in p,
        "cell 6 no alt (html)": lambda p: "cell 6" in p and "preact_block.png has no alt text" in p,
        "cell 7 broken attachment": lambda p: "cell 7" in p and "no_such_picture.png has no attachment" in p,
    }
    for what, found in expected.items():
        assert sum(map(found, problems)) == 1, (what, problems)
    assert len(problems) == len(expected), problems
    tool.link([path], docs)
    fixed = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert "attachments" not in fixed.cells[3]
    assert (docs / "basic_block.png").read_bytes() == first_render("basic_block")
    left = tool.check([path], docs)  # what link cannot fix: the unknown name, the alt texts, the lost attachment
    assert len(left) == 4 and all(p.startswith(str(path)) for p in left), left
    assert [what for what, found in expected.items() if any(map(found, left))] == [
        "cell 5 unknown", "cell 6 no alt (markdown)", "cell 6 no alt (html)", "cell 7 broken attachment"]


def test_an_attachment_with_the_same_pixels_is_up_to_date(tmp_path: Path) -> None:
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
    # such a file is fresh, and link/write leave it alone (no change for git)
    (tmp_path / "basic_block.png").write_bytes(other.getvalue())
    assert tool.is_fresh("basic_block", tmp_path) and not tool.refresh("basic_block", tmp_path)
    tool.write(tmp_path)
    assert (tmp_path / "basic_block.png").read_bytes() == other.getvalue()


def test_write_puts_every_diagram_in_a_folder(tmp_path: Path) -> None:
    paths = tool.write(tmp_path / "pngs")
    assert [p.relative_to(tmp_path / "pngs").as_posix() for p in paths] == (
        [f"{n}.png" for n in NAMES] + [f"zh/{n}.png" for n in NAMES])
    assert all(p.read_bytes() == first_render(p.stem) for p in paths[: len(NAMES)])
    assert all(p.read_bytes() == tool.png(f"zh/{p.stem}") for p in paths[len(NAMES):])
    assert tool.main(["write", str(tmp_path / "cli")]) == 0
    assert all(filecmp.cmp(tmp_path / "cli" / p.relative_to(tmp_path / "pngs"), p, shallow=False) for p in paths)


# --- the repository's docs/diagrams and the lessons ------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_docs_diagrams_are_fresh(name: str) -> None:
    path = tool.DOCS / f"{name}.png"
    assert path == ROOT / "docs" / "diagrams" / f"{name}.png"
    assert path.is_file(), f"{path} missing: run `python tools/diagrams.py write`"
    assert tool.same_image(path.read_bytes(), first_render(name)), \
        f"{path} is not a fresh render: run `python tools/diagrams.py write`"


@pytest.mark.parametrize("name", NAMES)
def test_docs_chinese_diagrams_are_fresh_and_translated(name: str) -> None:
    path = tool.DOCS / "zh" / f"{name}.png"
    assert path.is_file(), f"{path} missing: run `python tools/diagrams.py write`"
    assert tool.same_image(path.read_bytes(), tool.png(f"zh/{name}")), \
        f"{path} is not a fresh render: run `python tools/diagrams.py write`"
    words = diagrams.translation(name, "zh")  # every label is in the catalogue (tests/test_i18n.py)
    assert any(zh != en for en, zh in words.items()), f"{name}: no label is translated"


def test_docs_diagrams_holds_only_diagrams() -> None:
    assert sorted(p.name for p in tool.DOCS.iterdir()) == sorted([f"{n}.png" for n in NAMES] + ["zh"])
    assert sorted(p.name for p in (tool.DOCS / "zh").iterdir()) == sorted(f"{n}.png" for n in NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS + ZH_NOTEBOOKS,
                         ids=[p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS + ZH_NOTEBOOKS])
def test_notebook_diagrams_are_linked_and_up_to_date(path: Path) -> None:
    problems = tool.check([path])
    assert not problems, "run `python tools/diagrams.py link notebooks/*.ipynb`:\n" + "\n".join(problems)
    names = tool.used_names(nbformat.read(path, as_version=nbformat.NO_CONVERT))
    chinese = path.parent.name == "zh"
    wrong = [n for n in names if n.startswith("zh/") != chinese]
    assert not wrong, f"{path.name}: a {'Chinese' if chinese else 'English'} lesson shows {wrong}"


def test_every_diagram_is_used_by_a_lesson() -> None:
    used = set()
    for path in NOTEBOOKS:
        used.update(tool.used_names(nbformat.read(path, as_version=nbformat.NO_CONVERT)))
    missing = [name for name in NAMES if name not in used]
    assert not missing, f"no notebook shows ![...]({DIAGRAM_URL}NAME.png) for: {', '.join(missing)}"
