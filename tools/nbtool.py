"""Keep stored notebooks clean.

    python tools/nbtool.py clean notebooks/*.ipynb     # strip outputs, counts and widget state
    python tools/nbtool.py refresh notebooks/NN_x.ipynb  # run it (quick profile), keep only the
                                                       # outputs of '# NBVAL_CHECK_OUTPUT' cells

Stored notebooks carry no outputs except the expected values of cells marked NBVAL_CHECK_OUTPUT,
which nbval compares against a fresh run (those cells keep an execution count: nbval skips a cell
with outputs but no count as "unrun"). ``test_notebook_hygiene`` in tests/test_project.py enforces the
same rule.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

MARK = "NBVAL_CHECK_OUTPUT"


def clean(nb: nbformat.NotebookNode, keep_checked: bool = True) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if not (keep_checked and MARK in cell.source):
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.outputs = _merge_streams(cell.outputs)
            if cell.execution_count is None:
                # nbval treats a cell with outputs but no execution count as "unrun" and refuses it.
                cell.execution_count = 1
    return nb


def _merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks into one output, as nbval does before comparing: a
    stored print split into chunks by timing renders with stray gaps on some viewers."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] = prev["text"] + out["text"]
        else:
            merged.append(out)
    return merged


def refresh(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("RESNET_LAB_PROFILE", "quick")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(clean(nb), path)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("clean", "refresh"):
        print(__doc__)
        return 2
    for name in argv[1:]:
        path = Path(name)
        if argv[0] == "clean":
            nbformat.write(clean(nbformat.read(path, as_version=4), keep_checked=True), path)
        else:
            refresh(path)
        print(f"{argv[0]}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
