"""The package speaks the learner's language: gettext catalogue complete, compiled, and drawable in plots."""

from __future__ import annotations

import gettext
import io
import shutil
import string
import subprocess
import warnings
from pathlib import Path

import matplotlib
import pytest
from _tools import load_tool
from matplotlib.figure import Figure

from resnet_lab import i18n
from resnet_lab.exercises.core import check_number

ROOT = Path(__file__).resolve().parents[1]


tool = load_tool("i18n")


# --- the setting ---------------------------------------------------------------------------------------
def test_language_defaults_to_english_and_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert i18n.language() == "en"
    for value, lang in (("zh", "zh"), ("zh_CN.UTF-8", "zh"), ("zh-Hans", "zh"), ("", "en"), ("en_US", "en")):
        monkeypatch.setenv(i18n.LANG_ENV, value)
        assert i18n.language() == lang, value


def test_an_unknown_language_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(i18n.LANG_ENV, "fr")
    with pytest.raises(ValueError, match=r"RESNET_LAB_LANG='fr'.*en, zh"):
        i18n.language()


def test_messages_follow_the_variable_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    english = str(check_number(5, 3))
    assert english.startswith("Not quite. 5 is too high.")
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    chinese = str(check_number(5, 3))
    assert chinese != english and any("\u4e00" <= c <= "\u9fff" for c in chinese), chinese
    assert "3" not in chinese.replace("5", ""), "the Chinese hint must not reveal the expected value either"
    monkeypatch.setenv(i18n.LANG_ENV, "en")
    assert str(check_number(5, 3)) == english


# --- the catalogue ---------------------------------------------------------------------------------------
def test_the_catalogue_is_complete_current_and_compiled() -> None:
    problems = tool.problems()
    assert not problems, "fix with tools/i18n.py (update, translate, compile, font):\n" + "\n".join(problems)


def test_the_source_marks_messages_properly() -> None:
    found, bad = tool.extract()
    assert not bad, "\n".join(bad)
    assert len(found) > 100  # the checkers, lessons, plots and diagrams


def _copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "resnet_lab"
    shutil.copytree(ROOT / "resnet_lab", copy, ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.otf", "*.mo"))
    return copy


def test_check_fails_when_an_english_message_changes_untranslated(tmp_path: Path) -> None:
    package = _copy_package(tmp_path)
    core = package / "exercises" / "core.py"
    old = '_("{value} is too high.")'
    assert old in core.read_text()
    core.write_text(core.read_text().replace(old, '_("{value} is more than the answer.")'))
    problems = tool.problems(package=package)
    assert any("not in the catalogue" in p and "is more than the answer" in p for p in problems), problems
    assert any("stale" in p and "is too high." in p for p in problems), problems


def test_check_fails_on_a_missing_translation_a_lost_field_and_a_stale_mo(tmp_path: Path) -> None:
    entries = tool.read_po()
    key = "{value} is too high."
    po = tmp_path / "x.po"
    mo = tmp_path / "x.mo"
    changed = dict(entries)
    changed[key] = tool.Entry(key, "太高了。", entries[key].where)  # {value} lost
    first = next(k for k in entries if k != key)
    changed[first] = tool.Entry(first, "", entries[first].where)  # untranslated
    tool.write_po(list(changed.values()), po)
    mo.write_bytes(tool.compile_mo(entries))  # the old catalogue's: stale
    problems = tool.problems(po=po, mo=mo)
    assert any(p.startswith("fields differ") and key in p for p in problems), problems
    assert any(p.startswith("untranslated") and repr(first) in p for p in problems), problems
    assert any("not the compiled catalogue" in p for p in problems), problems


def test_po_round_trips_through_write_and_read(tmp_path: Path) -> None:
    entries = tool.read_po()
    tool.write_po(list(entries.values()), tmp_path / "again.po")
    again = tool.read_po(tmp_path / "again.po")
    assert {k: e.msgstr for k, e in again.items()} == {k: e.msgstr for k, e in entries.items()}


def test_the_compiled_catalogue_is_what_gettext_reads() -> None:
    entries = tool.read_po()
    catalogue = gettext.GNUTranslations(io.BytesIO(tool.MO.read_bytes()))
    for msgid, entry in entries.items():
        assert catalogue.gettext(msgid) == (entry.msgstr or msgid), msgid


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_gnu_msgfmt_accepts_the_catalogue_and_agrees(tmp_path: Path) -> None:
    out = subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "gnu.mo"), str(tool.PO)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ours = gettext.GNUTranslations(io.BytesIO(tool.MO.read_bytes()))
    gnu = gettext.GNUTranslations(io.BytesIO((tmp_path / "gnu.mo").read_bytes()))
    for msgid in tool.read_po():
        assert ours.gettext(msgid) == gnu.gettext(msgid), msgid


class _AnyValue:
    def __format__(self, spec: str) -> str:
        return "X"


def _specs(text: str) -> set[tuple[str, str]]:
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(text) if name is not None}


def test_every_translation_formats_with_its_fields_and_their_formats() -> None:
    for msgid, entry in tool.read_po().items():
        if not entry.msgstr:
            continue
        assert _specs(entry.msgstr) == _specs(msgid), f"{msgid!r}: {entry.msgstr!r} formats its fields differently"
        values = {name: _AnyValue() for name in tool.fields(msgid)}
        if all(name.isidentifier() for name in values):
            entry.msgstr.format(**values)  # raises on a stray brace


# --- Chinese in plots ------------------------------------------------------------------------------------
def test_every_translated_character_renders_without_missing_glyphs() -> None:
    chars = sorted(tool.used_characters(tool.read_po()))
    assert chars, "the catalogue has no Chinese yet"
    text = "\n".join("".join(chars[i:i + 60]) for i in range(0, len(chars), 60))
    with matplotlib.rc_context():
        assert i18n.configure_matplotlib("zh")
        fig = Figure(figsize=(8, 2))
        ax = fig.add_subplot()
        ax.set_title("训练误差 (%)")
        ax.text(0, 0, text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
        missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
        assert not missing, missing[:5]
    assert matplotlib.rcParams["font.family"] != list(i18n.FONT_FAMILIES), "rc_context restored the font"


def test_english_needs_no_font_change() -> None:
    with matplotlib.rc_context():
        before = list(matplotlib.rcParams["font.family"])
        assert i18n.configure_matplotlib("en")
        assert list(matplotlib.rcParams["font.family"]) == before


def test_a_missing_font_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(i18n, "CJK_FONT", tmp_path / "absent.otf")
    i18n.register_cjk_font.cache_clear()
    try:
        with matplotlib.rc_context():
            assert not i18n.configure_matplotlib("zh")
        out = capsys.readouterr().out
        assert "absent.otf" in out and "RESNET_LAB_LANG=en" in out and out.count("\n") == 1
    finally:
        i18n.register_cjk_font.cache_clear()


# --- English data labels inside translated sentences ------------------------------------------------------
def test_the_standin_label_is_shown_in_the_learners_language(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from resnet_lab.data import synthetic_cifar
    from resnet_lab.exercises.core import CheckResult, pick
    from resnet_lab.lessons import training_loop

    label = synthetic_cifar(n_train=20, n_test=10).label  # stays English as data (cache keys, histories)
    monkeypatch.setenv(i18n.LANG_ENV, "en")
    english = training_loop.split_summary(n_fit=10, n_val=5, n_test=10, data_label=label)
    assert label in english
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    chinese = training_loop.split_summary(n_fit=10, n_val=5, n_test=10, data_label=label)
    assert "synthetic" not in chinese and "合成" in chinese
    pick(CheckResult(False, "x", "not attempted"), 1, 2, "your delete_block")
    assert "你的 delete_block" in capsys.readouterr().out


def test_columns_line_up_with_wide_characters() -> None:
    assert i18n.display_width("depth") == 5 and i18n.display_width("深度") == 4
    assert i18n.ljust("深度", 6) == "深度  " and i18n.ljust("depth", 3) == "depth"
