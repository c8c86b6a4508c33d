"""Link the lessons' diagrams into the notebooks by the repository's URL, and check they are up to date.

    python tools/diagrams.py link notebooks/*.ipynb    # attachment:NAME.png -> DIAGRAM_URL/NAME.png, drop the
                                                       # diagram attachments, refresh docs/diagrams/NAME.png
    python tools/diagrams.py check notebooks/*.ipynb   # exit 1, listing what link would fix or cannot fix
    python tools/diagrams.py write [DIR]               # every diagram as DIR/NAME.png (default docs/diagrams),
                                                       # and with Chinese labels as DIR/zh/NAME.png

A markdown cell shows diagram NAME (one of ``resnet_lab.diagrams.NAMES``) with
``![alt text](https://raw.githubusercontent.com/resnet-lab/resnet-lab/main/docs/diagrams/NAME.png)``
(``resnet_lab.diagrams.DIAGRAM_URL + "NAME.png"``); the repository keeps ``docs/diagrams/NAME.png`` equal to
``resnet_lab.diagrams.render(NAME)``. A lesson author may write ``attachment:NAME.png`` (in ``![...](...)``
or ``<img src=...>``); ``link`` rewrites it to the URL and removes the cell's attachments named NAME.png.
References to other attachments (a picture pasted by hand) are left alone. The Chinese lessons
(notebooks/zh/) refer to ``DIAGRAM_URL + "zh/NAME.png"``: the same diagram with its labels translated by
the package's message catalogue (``resnet_lab.diagrams.translation``), kept in ``docs/diagrams/zh/``.

Why a URL and not a cell attachment: the lessons must show their diagrams in JupyterLab, on GitHub and in
Colab, which opens a notebook without the repository's other files. Colab ignores markdown cell attachments
(googlecolab/colabtools#3836, open), and GitHub's rendering of them is unreliable (jupyter/notebook#4853);
an image at the one repository URL shows in all three. JupyterLab shows it when the computer is online;
offline it shows the alt text instead, so every alt text must describe the picture, not just name it
(``check`` rejects an empty one).

``check`` reports references still in attachment form, URL references to unknown names, referenced
``docs/diagrams`` files that are missing or not a fresh render, diagram attachments left in a cell, and
diagram images without alt text. A file counts as up to date when its pixels equal a fresh render's, so a
different zlib inside Pillow, which changes the compressed bytes but not the picture, does not make it stale
(and ``link``/``write`` then leave the file alone, so git sees no change).

The notebook is read and written with nbformat at its own version, so everything but the rewritten
references and removed attachments stays byte-identical; a notebook with nothing to change is not written.
"""

from __future__ import annotations

import argparse
import functools
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a clone without installing the package
    sys.path.insert(0, str(ROOT))

from resnet_lab.diagrams import DIAGRAM_URL, NAMES, render, translation  # noqa: E402

DOCS = ROOT / "docs" / "diagrams"
"""The repository's copy of the diagrams, which ``DIAGRAM_URL`` serves from branch main."""

ATTACHMENT = re.compile(r"attachment:([\w.-]+?\.png)\b")
"""A reference to an attachment in a markdown cell's source, e.g. ``![...](attachment:basic_block.png)``."""

URL = re.compile(re.escape(DIAGRAM_URL) + r"((?:zh/)?[\w.-]+?\.png)\b")
"""A reference to a diagram by the repository URL, e.g. ``![...](https://.../docs/diagrams/basic_block.png)``."""

_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def references(source: str) -> list[str]:
    """The ``NAME.png`` file names ``source`` refers to, by attachment or by ``DIAGRAM_URL``, in order, each once."""
    found = sorted([(m.start(), m.group(1)) for m in ATTACHMENT.finditer(source)]
                   + [(m.start(), m.group(1)) for m in URL.finditer(source)])
    return list(dict.fromkeys(name for _, name in found))


LANGUAGES = ("zh",)
"""Translated diagrams live in ``docs/diagrams/LANG/NAME.png``, labels from resnet_lab's catalogue."""


def diagram_name(filename: str) -> str | None:
    """``NAME`` for ``NAME.png`` when NAME is one of the diagrams (``zh/NAME`` for ``zh/NAME.png``), else None."""
    stem = filename[: -len(".png")] if filename.endswith(".png") else None
    if stem is None:
        return None
    lang, _, base = stem.rpartition("/")
    return stem if base in NAMES and (not lang or lang in LANGUAGES) else None


def url(name: str) -> str:
    """Where a notebook finds diagram ``name``."""
    return f"{DIAGRAM_URL}{name}.png"


@functools.lru_cache(maxsize=None)
def png(name: str) -> bytes:
    """The fresh render of diagram ``name`` (rendered once per run); ``zh/NAME`` with Chinese labels."""
    lang, _, base = name.rpartition("/")
    return render(base, translation(base, lang)) if lang else render(name)


def same_image(a: bytes, b: bytes) -> bool:
    """True when two PNGs are the same bytes or decode to the same size, mode and pixels."""
    if a == b:
        return True
    from PIL import Image

    try:
        with Image.open(io.BytesIO(a)) as first, Image.open(io.BytesIO(b)) as second:
            return (first.size == second.size and first.mode == second.mode
                    and first.tobytes() == second.tobytes())
    except (OSError, ValueError):  # not a PNG at all
        return False


def is_fresh(name: str, docs_dir: Path = DOCS) -> bool:
    """``docs_dir/NAME.png`` exists and shows what ``render(name)`` shows."""
    path = docs_dir / f"{name}.png"
    return path.is_file() and same_image(path.read_bytes(), png(name))


def refresh(name: str, docs_dir: Path = DOCS) -> bool:
    """Write ``docs_dir/NAME.png`` unless it is fresh; True when written."""
    if is_fresh(name, docs_dir):
        return False
    target = docs_dir / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png(name))
    return True


def _markdown_cells(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]


def _to_url(match: re.Match[str]) -> str:
    name = diagram_name(match.group(1))
    return url(name) if name is not None else match.group(0)


def link_notebook(nb: nbformat.NotebookNode) -> bool:
    """Rewrite diagram attachment references to URLs and drop diagram attachments; True if ``nb`` changed."""
    changed = False
    for _, cell in _markdown_cells(nb):
        source = ATTACHMENT.sub(_to_url, cell.source)
        if source != cell.source:
            cell.source = source
            changed = True
        attachments = cell.get("attachments")
        if attachments is not None:
            kept = {key: value for key, value in attachments.items() if diagram_name(key) is None}
            if kept != dict(attachments):
                changed = True
                if kept:
                    cell["attachments"] = nbformat.from_dict(kept)
                else:
                    del cell["attachments"]
    return changed


def _unlabelled(source: str) -> list[str]:
    """The diagram references in ``source`` whose image has no alt text."""
    found = [m.group(2) for m in _MARKDOWN_IMAGE.finditer(source) if not m.group(1).strip()]
    for tag in _HTML_IMAGE.findall(source):
        src, alt = _SRC.search(tag), _ALT.search(tag)
        if src and not (alt and "".join(g or "" for g in alt.groups()).strip()):
            found.append(src.group(1))
    return [ref for ref in found if ATTACHMENT.search(ref) or URL.search(ref)]


def used_names(nb: nbformat.NotebookNode) -> list[str]:
    """The diagrams the notebook's markdown refers to (either form), in order, each once."""
    names = [diagram_name(f) for _, cell in _markdown_cells(nb) for f in references(cell.source)]
    return list(dict.fromkeys(n for n in names if n is not None))


def check_notebook(nb: nbformat.NotebookNode) -> list[str]:
    """The notebook's own problems (not the docs files'): one line each, naming the cell; empty when none."""
    problems = []
    for index, cell in _markdown_cells(nb):
        where = f"cell {index}" + (f" (id {cell['id']})" if "id" in cell else "")
        attachments = cell.get("attachments", {})
        for filename in dict.fromkeys(ATTACHMENT.findall(cell.source)):
            if diagram_name(filename) is not None:
                problems.append(f"{where}: attachment:{filename} is an attachment reference "
                                "(run tools/diagrams.py link)")
            elif filename not in attachments:
                problems.append(f"{where}: attachment:{filename} has no attachment and is not a diagram name "
                                f"(valid: {', '.join(NAMES)})")
        for filename in dict.fromkeys(URL.findall(cell.source)):
            if diagram_name(filename) is None:
                problems.append(f"{where}: {DIAGRAM_URL}{filename} is not a diagram "
                                f"(valid names: {', '.join(NAMES)})")
        for filename in attachments:
            if diagram_name(filename) is not None:
                problems.append(f"{where}: diagram attachment {filename} left in the cell "
                                "(run tools/diagrams.py link)")
        for ref in dict.fromkeys(_unlabelled(cell.source)):
            problems.append(f"{where}: {ref} has no alt text (offline JupyterLab shows only the alt text: "
                            "describe the picture)")
    return problems


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def link(paths: Sequence[Path], docs_dir: Path = DOCS) -> list[Path]:
    """Link each notebook's diagrams, write back (at its own nbformat version) only those that changed,
    and refresh ``docs_dir/NAME.png`` for every diagram they use. Returns the paths written, docs files included."""
    written = []
    names: dict[str, None] = {}
    for path in paths:
        nb = _read(path)
        names.update(dict.fromkeys(used_names(nb)))
        if link_notebook(nb):
            nbformat.write(nb, path, version=nb.nbformat)
            written.append(path)
    written += [docs_dir / f"{name}.png" for name in names if refresh(name, docs_dir)]
    return written


def check(paths: Sequence[Path], docs_dir: Path = DOCS) -> list[str]:
    """The problems of every notebook (each line starting with its path), then of the docs files they use."""
    problems, names = [], {}
    for path in paths:
        nb = _read(path)
        problems += [f"{path}: {problem}" for problem in check_notebook(nb)]
        names.update(dict.fromkeys(used_names(nb)))
    for name in names:
        target = docs_dir / f"{name}.png"
        if not target.is_file():
            problems.append(f"{target}: missing (run tools/diagrams.py link)")
        elif not is_fresh(name, docs_dir):
            problems.append(f"{target}: differs from a fresh render (run tools/diagrams.py link)")
    return problems


def write(directory: Path = DOCS) -> list[Path]:
    """Make ``directory/NAME.png`` a fresh render for every diagram (a file with the same pixels is left
    as it is); returns all the paths."""
    every = list(NAMES) + [f"{lang}/{name}" for lang in LANGUAGES for name in NAMES]
    for name in every:
        refresh(name, directory)
    return [directory / f"{name}.png" for name in every]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/diagrams.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, text in (("link", "reference the diagrams by URL and refresh docs/diagrams"),
                          ("embed", "old name of link"),
                          ("check", "exit 1 if a reference, attachment or docs/diagrams file needs work")):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("notebooks", nargs="+", type=Path)
        sub.add_argument("--docs-dir", type=Path, default=DOCS, help=f"default {DOCS.relative_to(ROOT)}")
    commands.add_parser("write", help="write every diagram as DIR/NAME.png").add_argument(
        "directory", type=Path, nargs="?", default=DOCS)
    args = parser.parse_args(argv)
    if args.command in ("link", "embed"):
        if args.command == "embed":
            print("note: `embed` now links: diagrams are referenced by the repository URL "
                  f"{DIAGRAM_URL}NAME.png, not attached", file=sys.stderr)
        written = link(args.notebooks, args.docs_dir)
        for path in args.notebooks:
            print(f"{'linked' if path in written else 'unchanged'}: {path}")
        for path in written:
            if path not in args.notebooks:
                print(f"written: {path}")
        return 0
    if args.command == "check":
        problems = check(args.notebooks, args.docs_dir)
        for line in problems:
            print(line)
        if not problems:
            print(f"diagrams up to date in {len(args.notebooks)} notebook(s)")
        return 1 if problems else 0
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
