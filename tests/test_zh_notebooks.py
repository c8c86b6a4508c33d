"""The Chinese lessons (notebooks/zh/) are the English ones translated: same code, current translations."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
from _tools import load_tool

ROOT = Path(__file__).resolve().parents[1]
EN = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


tool = load_tool("zh_sync", "zh_sync")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _pair(path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    zh = tool.zh_path(path)
    assert zh.is_file(), f"{zh.relative_to(ROOT)} missing: run `python tools/zh_sync.py`, then translate"
    return nbformat.read(path, as_version=4), nbformat.read(zh, as_version=4)


@pytest.mark.parametrize("path", EN, ids=[p.name for p in EN])
def test_chinese_lesson_has_the_english_code_and_current_translations(path: Path) -> None:
    en, zh = _pair(path)
    problems = tool.problems(en, zh)
    assert not problems, (f"notebooks/zh/{path.name} is out of step with notebooks/{path.name} "
                          "(python tools/zh_sync.py lists what to do):\n" + "\n".join(problems))


@pytest.mark.parametrize("path", EN, ids=[p.name for p in EN])
def test_every_markdown_cell_is_in_chinese(path: Path) -> None:
    _, zh = _pair(path)
    english = [c.get("id") for c in zh.cells
               if c.cell_type == "markdown" and re.search(r"[A-Za-z]{3}", c.source) and not CJK.search(c.source)]
    assert not english, f"notebooks/zh/{path.name}: markdown cells without Chinese: {english}"


def _first_markdown_id(nb: nbformat.NotebookNode) -> str:
    return next(c.get("id") for c in nb.cells if c.cell_type == "markdown")


def test_sync_check_fails_when_an_english_markdown_cell_changes() -> None:
    en, zh = _pair(EN[1])
    assert not tool.problems(en, zh)
    changed = copy.deepcopy(en)
    cell = next(c for c in changed.cells if c.cell_type == "markdown")
    cell.source += "\n\nA new English sentence."
    problems = tool.problems(changed, zh)
    assert problems == [f"{cell.get('id')}: translation is stale (the English cell changed, or was never translated)"]
    rebuilt, todo = tool.sync(changed, zh)
    assert todo == [f"{cell.get('id')}: the English text changed; translate the change, then --accept"]
    assert rebuilt.cells[[c.get("id") for c in rebuilt.cells].index(cell.get("id"))].source != cell.source, \
        "sync keeps the old translation until a translator updates it"


def test_sync_check_fails_when_a_code_cell_differs_and_sync_repairs_it() -> None:
    en, zh = _pair(EN[1])
    changed = copy.deepcopy(en)
    cell = [c for c in changed.cells if c.cell_type == "code"][2]
    cell.source += "\nprint('new line')"
    problems = tool.problems(changed, zh)
    assert problems == [f"{cell.get('id')}: code differs from the English cell: run `python tools/zh_sync.py`"]
    rebuilt, todo = tool.sync(changed, zh)
    assert not tool.problems(changed, rebuilt)
    assert all("code" in t for t in todo)


def test_sync_is_idempotent_and_keeps_chinese_only_cells() -> None:
    en, zh = _pair(EN[0])
    rebuilt, todo = tool.sync(en, zh)
    assert not todo and rebuilt == zh
    assert any(tool.is_zh_only(c) for c in zh.cells)
    # a new English cell is added untranslated, and the Chinese-only cell stays where it was
    changed = copy.deepcopy(en)
    extra = nbformat.v4.new_markdown_cell("A new paragraph.")
    changed.cells.insert(3, extra)
    rebuilt, todo = tool.sync(changed, zh)
    assert todo == [f"{extra.get('id')}: new English cell, not translated yet"]
    assert [c.get("id") for c in rebuilt.cells if tool.is_zh_only(c)] == [c.get("id") for c in zh.cells if tool.is_zh_only(c)]


def test_the_setup_cell_switches_the_language_and_nothing_else() -> None:
    en, zh = _pair(EN[0])
    first_en = next(c for c in en.cells if c.cell_type == "code").source
    first_zh = next(c for c in zh.cells if c.cell_type == "code").source
    assert first_zh.replace(tool.SETUP_LINE + "\n", "", 1) == first_en
    assert first_zh.splitlines()[:2] == ["%matplotlib inline", "%env RESNET_LAB_LANG=zh"]


def test_a_chinese_only_code_cell_is_refused() -> None:
    en, zh = _pair(EN[0])
    bad = copy.deepcopy(zh)
    cell = nbformat.v4.new_code_cell("print('only in Chinese')")
    cell.metadata["resnet_lab"] = {"zh_only": True}
    bad.cells.append(cell)
    assert any("must be markdown" in p for p in tool.problems(en, bad))


def test_glossary_uses_the_d2l_terms() -> None:
    _, zh = _pair(EN[0])
    glossary = [c for c in zh.cells if tool.is_zh_only(c)]
    assert glossary and glossary[0].cell_type == "markdown"
    assert zh.cells.index(glossary[0]) <= 2, "the glossary comes at the start of lesson 00"
    for term in ("残差网络", "残差块", "瓶颈块", "恒等映射", "捷径连接", "退化问题"):
        assert term in glossary[0].source, term


def test_readmes_link_each_other_and_every_chinese_lesson() -> None:
    readme, readme_zh = (ROOT / "README.md").read_text(), (ROOT / "README.zh.md").read_text()
    assert "README.zh.md" in readme and "README.md" in readme_zh
    assert "make lab" in readme_zh and "make test" in readme_zh
    for path in EN:
        assert f"notebooks/zh/{path.name}" in readme_zh, path.name
