"""Put the lessons' diagrams into the notebooks as cell attachments, and check they are up to date.

    python tools/diagrams.py embed notebooks/*.ipynb   # attach the PNG of every attachment:NAME.png a
                                                       # markdown cell references (NAME in resnet_lab.diagrams.NAMES)
    python tools/diagrams.py check notebooks/*.ipynb   # exit 1, listing cells whose references lack an
                                                       # attachment or whose attachment is not a fresh render
    python tools/diagrams.py write DIR                 # write every diagram as DIR/NAME.png, to look at

A markdown cell shows a diagram with ``![alt text](attachment:NAME.png)``. ``embed`` stores
``cell["attachments"]["NAME.png"] = {"image/png": <base64>}`` from ``resnet_lab.diagrams.render(NAME)``
and drops the attachments the cell no longer references, so JupyterLab, GitHub and Colab (which opens a
notebook without the repository's other files) all show the picture. Attachments of other names that
the cell references (a picture pasted by hand) are kept as they are.

The notebook is read and written with nbformat at its own version, so everything but the attachments
stays byte-identical; a notebook with nothing to change is not written at all. An attachment counts as
up to date when its pixels equal a fresh render's, so a different zlib inside Pillow, which changes
the compressed bytes but not the picture, does not make it stale.
"""

from __future__ import annotations

import argparse
import base64
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

from resnet_lab.diagrams import NAMES, render  # noqa: E402

REFERENCE = re.compile(r"attachment:([\w.-]+?\.png)\b")
"""A reference to an attachment in a markdown cell's source, e.g. ``![...](attachment:basic_block.png)``."""


def references(source: str) -> list[str]:
    """The attachment file names ``source`` refers to, in order, each once."""
    return list(dict.fromkeys(REFERENCE.findall(source)))


def diagram_name(filename: str) -> str | None:
    """``NAME`` for ``NAME.png`` when NAME is one of the diagrams, else None."""
    stem = filename[: -len(".png")] if filename.endswith(".png") else None
    return stem if stem in NAMES else None


@functools.lru_cache(maxsize=None)
def png(name: str) -> bytes:
    """The fresh render of diagram ``name`` (rendered once per run)."""
    return render(name)


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


def _decoded(bundle: object) -> bytes | None:
    """The PNG bytes of an attachment's mime bundle, or None when it holds no readable PNG."""
    if not isinstance(bundle, dict) or "image/png" not in bundle:
        return None
    data = bundle["image/png"]
    if isinstance(data, list):  # nbformat allows a multi-line string stored as a list
        data = "".join(data)
    try:
        return base64.b64decode(data, validate=False)
    except (ValueError, TypeError):
        return None


def _markdown_cells(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]


def embed_notebook(nb: nbformat.NotebookNode) -> bool:
    """Attach a fresh render to every diagram reference, drop unreferenced attachments; True if ``nb`` changed."""
    changed = False
    for _, cell in _markdown_cells(nb):
        refs = references(cell.source)
        old = dict(cell.get("attachments", {}))
        new = {key: value for key, value in old.items() if key in refs}
        for filename in refs:
            name = diagram_name(filename)
            if name is None:
                continue
            current = _decoded(new.get(filename))
            if current is None or not same_image(current, png(name)):
                new[filename] = {"image/png": base64.b64encode(png(name)).decode("ascii")}
        if new != old:
            changed = True
            if new:
                cell["attachments"] = nbformat.from_dict(new)
            else:
                del cell["attachments"]
    return changed


def check_notebook(nb: nbformat.NotebookNode) -> list[str]:
    """What ``embed`` would fix or cannot fix: one line per problem, naming the cell; empty when up to date."""
    problems = []
    for index, cell in _markdown_cells(nb):
        where = f"cell {index}" + (f" (id {cell['id']})" if "id" in cell else "")
        refs = references(cell.source)
        attachments = cell.get("attachments", {})
        for filename in refs:
            name = diagram_name(filename)
            data = _decoded(attachments.get(filename))
            if data is None:
                hint = "run tools/diagrams.py embed" if name else f"not a diagram name (valid: {', '.join(NAMES)})"
                problems.append(f"{where}: attachment:{filename} has no attachment ({hint})")
            elif name is not None and not same_image(data, png(name)):
                problems.append(f"{where}: attachment:{filename} differs from a fresh render "
                                "(run tools/diagrams.py embed)")
        for filename in attachments:
            if filename not in refs:
                problems.append(f"{where}: attachment {filename} is not referenced (run tools/diagrams.py embed)")
    return problems


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def embed(paths: Sequence[Path]) -> list[Path]:
    """Embed into each notebook; write back (at the notebook's own nbformat version) only those that changed."""
    written = []
    for path in paths:
        nb = _read(path)
        if embed_notebook(nb):
            nbformat.write(nb, path, version=nb.nbformat)
            written.append(path)
    return written


def check(paths: Sequence[Path]) -> list[str]:
    """The problems of every notebook, each line starting with the notebook's path."""
    return [f"{path}: {problem}" for path in paths for problem in check_notebook(_read(path))]


def write(directory: Path) -> list[Path]:
    """Write every diagram as ``directory/NAME.png``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in NAMES:
        path = directory / f"{name}.png"
        path.write_bytes(png(name))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/diagrams.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("embed", help="attach the referenced diagrams").add_argument("notebooks", nargs="+", type=Path)
    commands.add_parser("check", help="exit 1 if an attachment is missing or stale").add_argument(
        "notebooks", nargs="+", type=Path)
    commands.add_parser("write", help="write every diagram as DIR/NAME.png").add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "embed":
        written = embed(args.notebooks)
        for path in args.notebooks:
            print(f"{'embedded' if path in written else 'unchanged'}: {path}")
        return 0
    if args.command == "check":
        problems = check(args.notebooks)
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
