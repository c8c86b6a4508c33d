"""Keep the Chinese lessons (notebooks/zh/) in step with the English ones (notebooks/).

    python tools/zh_sync.py                 # refresh every Chinese notebook's code cells from the English
                                            # one and list the markdown cells still to translate (exit 1 if any)
    python tools/zh_sync.py --check         # write nothing; exit 1 if a code cell differs or markdown is stale
    python tools/zh_sync.py --accept NB [CELL_ID ...]
                                            # after translating: record the English text's hash in those
                                            # cells of notebooks/zh/NB (all stale ones when no id is given)

How a Chinese notebook is tied to its English source (``notebooks/zh/NN_name.ipynb`` for ``notebooks/NN_name.ipynb``):

* It has the English notebook's cells, in order, with the same cell ids.
* **Code cells are the English ones**, source, tags and metadata, with one exception: the first code cell
  (the setup cell) gets :data:`SETUP_LINE` after ``%matplotlib inline``, which makes the package speak
  Chinese (``$RESNET_LAB_LANG``). Stored outputs of ``# NBVAL_CHECK_OUTPUT`` cells are the Chinese run's
  (``python tools/nbtool.py refresh notebooks/zh/NN_name.ipynb``), since the package's messages are translated.
* **Markdown cells are translations**: each records in ``metadata.resnet_lab.en_sha`` the hash of the
  English cell it translates (:func:`en_hash`). When the English cell changes, the hash no longer matches
  and the cell is *stale* until someone translates the change and runs ``--accept``. A cell the sync adds
  for a new English cell holds the English text and no hash: stale too.
* Cells with ``metadata.resnet_lab.zh_only`` (the glossary in lesson 00) exist only in Chinese; they stay
  after the cell that precedes them.

``tests/test_zh_notebooks.py`` runs :func:`problems` on every pair, so CI fails when an English cell changed
and its translation did not, or when a code cell differs.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EN_DIR = ROOT / "notebooks"
ZH_DIR = EN_DIR / "zh"
SETUP_LINE = "%env RESNET_LAB_LANG=zh"
"""The one line the Chinese setup cell adds to the English one: the package's messages in Chinese."""
KEY = "resnet_lab"
CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"


def en_hash(source: str) -> str:
    """The hash a translation records of its English cell (sha256 of the text, first 16 hex digits)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def zh_code_source(en_source: str, first: bool) -> str:
    """The Chinese notebook's version of an English code cell: the same, plus :data:`SETUP_LINE` in the setup cell."""
    if not first:
        return en_source
    lines = en_source.split("\n")
    at = 1 if lines and lines[0].strip() == "%matplotlib inline" else 0
    return "\n".join(lines[:at] + [SETUP_LINE] + lines[at:])


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get(KEY, {})


def is_zh_only(cell: dict) -> bool:
    return bool(_meta(cell).get("zh_only"))


def zh_path(en: Path) -> Path:
    return ZH_DIR / en.name


def english_notebooks() -> list[Path]:
    return sorted(EN_DIR.glob("[0-9]*.ipynb"))


def sync(en: nbformat.NotebookNode, zh: nbformat.NotebookNode | None) -> tuple[nbformat.NotebookNode, list[str]]:
    """The Chinese notebook rebuilt around ``en``'s cells, and the list of what still needs a translator.

    Code cells come from ``en`` (outputs of unchanged cells stay the Chinese run's); markdown cells keep
    their translation and are reported when their recorded hash is not the English cell's.
    """
    old = {c.get("id"): c for c in (zh.cells if zh is not None else []) if not is_zh_only(c)}
    # zh-only cells stay after the cell (id) that precedes them in the old Chinese notebook
    anchored: dict[str | None, list[dict]] = {}
    previous: str | None = None
    for c in zh.cells if zh is not None else []:
        if is_zh_only(c):
            anchored.setdefault(previous, []).append(c)
        else:
            previous = c.get("id")
    out = copy.deepcopy(en)
    if zh is not None:  # the notebook's own metadata (kernel, language_info) is left as it is
        out.metadata = copy.deepcopy(zh.metadata)
    out.cells = list(anchored.get(None, []))
    todo: list[str] = []
    first_code = True
    for cell in en.cells:
        cid = cell.get("id")
        mine = old.get(cid)
        if cell.cell_type == "code":
            new = copy.deepcopy(cell)
            new.source = zh_code_source(cell.source, first_code)
            first_code = False
            if mine is not None and mine.cell_type == "code" and mine.source == new.source:
                new.outputs = copy.deepcopy(mine.get("outputs", []))
            elif CHECK_OUTPUT in new.source:
                todo.append(f"{cid}: code cell changed; refresh its stored output "
                            f"(python tools/nbtool.py refresh notebooks/zh/<name>.ipynb)")
        elif cell.cell_type == "markdown":
            if mine is not None and mine.cell_type == "markdown":
                new = copy.deepcopy(mine)
                if _meta(mine).get("en_sha") != en_hash(cell.source):
                    todo.append(f"{cid}: the English text changed; translate the change, then --accept")
            else:
                new = copy.deepcopy(cell)
                new.setdefault("metadata", {})[KEY] = {"en_sha": ""}
                todo.append(f"{cid}: new English cell, not translated yet")
        else:
            new = copy.deepcopy(cell)
        out.cells.append(new)
        out.cells.extend(anchored.get(cid, []))
    return out, todo


def problems(en: nbformat.NotebookNode, zh: nbformat.NotebookNode) -> list[str]:
    """What makes ``zh`` not a faithful, current translation of ``en`` (empty when none)."""
    found: list[str] = []
    cells = [c for c in zh.cells if not is_zh_only(c)]
    if [c.get("id") for c in cells] != [c.get("id") for c in en.cells]:
        return ["the cells (ids, order) differ from the English notebook's: run `python tools/zh_sync.py`"]
    first_code = True
    for e, z in zip(en.cells, cells):
        cid = e.get("id")
        if e.cell_type != z.cell_type:
            found.append(f"{cid}: {z.cell_type} cell where the English one is {e.cell_type}")
        elif e.cell_type == "code":
            if z.source != zh_code_source(e.source, first_code):
                found.append(f"{cid}: code differs from the English cell: run `python tools/zh_sync.py`")
            if z.get("metadata", {}) != e.get("metadata", {}):
                found.append(f"{cid}: code cell metadata (tags) differ from the English cell's")
            first_code = False
        elif e.cell_type == "markdown":
            if _meta(z).get("en_sha") != en_hash(e.source):
                found.append(f"{cid}: translation is stale (the English cell changed, or was never translated)")
    for c in zh.cells:
        if is_zh_only(c) and c.cell_type != "markdown":
            found.append(f"{c.get('id')}: a Chinese-only cell must be markdown (code cells are the English ones)")
    return found


def accept(zh_file: Path, ids: list[str]) -> list[str]:
    """Record the current English hash in the given (default: all stale) markdown cells; returns their ids."""
    en = nbformat.read(EN_DIR / zh_file.name, as_version=4)
    zh = nbformat.read(zh_file, as_version=4)
    sources = {c.get("id"): c.source for c in en.cells if c.cell_type == "markdown"}
    done = []
    for c in zh.cells:
        cid = c.get("id")
        if c.cell_type != "markdown" or cid not in sources or (ids and cid not in ids):
            continue
        meta = c.setdefault("metadata", {}).setdefault(KEY, {})
        if meta.get("en_sha") != en_hash(sources[cid]):
            meta["en_sha"] = en_hash(sources[cid])
            done.append(cid)
    unknown = set(ids) - set(sources)
    if unknown:
        raise SystemExit(f"no English markdown cell with id {', '.join(sorted(unknown))} in {zh_file.name}")
    nbformat.write(zh, zh_file)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of step")
    parser.add_argument("--accept", nargs="+", metavar=("NB", "CELL_ID"),
                        help="record the English hash in translated cells of notebooks/zh/NB")
    args = parser.parse_args(argv)
    if args.accept:
        nb = Path(args.accept[0])
        target = nb if nb.parent == ZH_DIR else ZH_DIR / nb.name
        done = accept(target, args.accept[1:])
        print(f"{target.relative_to(ROOT)}: accepted {len(done)} cells {' '.join(done)}")
        return 0
    status = 0
    for en_file in english_notebooks():
        en = nbformat.read(en_file, as_version=4)
        target = zh_path(en_file)
        zh = nbformat.read(target, as_version=4) if target.is_file() else None
        if args.check:
            found = problems(en, zh) if zh is not None else [f"{target.relative_to(ROOT)} missing"]
        else:
            new, found = sync(en, zh)
            if zh is None or new != zh:
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(new, target)
        for p in found:
            print(f"{target.relative_to(ROOT)} {p}")
        status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
