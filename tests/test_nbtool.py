"""tools/nbtool.py: clean keeps only checked outputs, merged into one stream output per print run."""

from __future__ import annotations

from pathlib import Path

import nbformat
from _tools import load_tool

ROOT = Path(__file__).resolve().parents[1]


def _nbtool():
    return load_tool("nbtool", "nbtool")


def test_clean_merges_split_streams_and_strips_unchecked_outputs():
    nb = nbformat.v4.new_notebook()
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1); print(2)")
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
                       nbformat.v4.new_output("stream", name="stdout", text="b\n"),
                       nbformat.v4.new_output("stream", name="stderr", text="warn\n"),
                       nbformat.v4.new_output("stream", name="stdout", text="c\n")]
    other = nbformat.v4.new_code_cell("print(3)")
    other.outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    other.execution_count = 4
    nb.cells = [checked, other]
    out = _nbtool().clean(nb)
    assert [(o["name"], o["text"]) for o in out.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "warn\n"),
                                                                     ("stdout", "c\n")]
    assert out.cells[0].execution_count == 1
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
