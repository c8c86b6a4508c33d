"""The learner's language: English by default, Chinese with ``RESNET_LAB_LANG=zh``.

Every message the package shows a learner (checker hints and verdicts, the stand-in labels, the setup
summary, plot titles and labels) is written in English in the source and passed through :func:`_`,
which looks it up in a message catalogue with Python's standard :mod:`gettext`:

* ``resnet_lab/locale/zh/LC_MESSAGES/resnet_lab.po`` -- the Chinese catalogue, edited by hand;
* ``resnet_lab/locale/zh/LC_MESSAGES/resnet_lab.mo`` -- its compiled form, which gettext reads
  (``python tools/i18n.py compile``; a test fails when it is older than the ``.po``).

The language follows one setting, the environment variable ``RESNET_LAB_LANG`` (``en`` or ``zh``), read
at every call, so the Chinese notebooks' setup cell (``%env RESNET_LAB_LANG=zh``) switches everything
that follows. An unset or empty variable means English.

Messages with values use named ``str.format`` fields, never f-strings, so the translation can move them::

    _("{value} is too high.").format(value=x)

:func:`N_` marks a string for the catalogue where it is defined (a table of labels) and leaves it in
English; the code that shows it calls ``_(label)``. ``python tools/i18n.py update`` collects every
``_("...")``, ``N_("...")`` and diagram label into the ``.po`` file.

Chinese characters in plots need a font that has them; matplotlib's own DejaVu Sans has none. The package
ships a subset of Noto Sans CJK SC (SIL Open Font License, ``resnet_lab/fonts/``) with every character the
catalogue uses, and :func:`configure_matplotlib` (called by :func:`resnet_lab.start`) adds it as a
fallback behind DejaVu Sans, so Latin text looks as before and Chinese text renders on Linux, Colab and
macOS alike, with no system font needed.
"""

from __future__ import annotations

import functools
import gettext
import os
import unicodedata
from pathlib import Path

__all__ = [
    "LANG_ENV", "LANGUAGES", "DOMAIN", "LOCALE_DIR", "CJK_FONT", "CJK_FAMILY", "language", "_", "N_",
    "translate", "sentences", "display_width", "ljust", "configure_matplotlib", "register_cjk_font", "FONT_FAMILIES",
]

LANG_ENV = "RESNET_LAB_LANG"
"""The environment variable that chooses the language of the package's messages."""

LANGUAGES = ("en", "zh")
"""The supported languages: English (the source text) and Simplified Chinese."""

DOMAIN = "resnet_lab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CJK_FONT = Path(__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Regular-subset.otf"
"""The bundled Chinese font: a subset of Noto Sans CJK SC with every character of the catalogue."""
CJK_FAMILY = "Noto Sans CJK SC"

# Spellings people use for the two languages; anything else is an error that names the valid values.
_ALIASES = {"": "en", "en": "en", "en_us": "en", "en_gb": "en", "english": "en", "c": "en",
            "zh": "zh", "zh_cn": "zh", "zh_hans": "zh", "zh_sg": "zh", "chinese": "zh", "cn": "zh"}


def language(value: str | None = None) -> str:
    """``"en"`` or ``"zh"``: ``value`` if given, else ``$RESNET_LAB_LANG`` (unset or empty: English).

    Accepts common spellings (``zh_CN``, ``zh-Hans``, ``en_US.UTF-8``); anything else raises ``ValueError``.
    """
    raw = os.environ.get(LANG_ENV, "") if value is None else value
    key = raw.strip().split(".")[0].replace("-", "_").lower()
    if key not in _ALIASES:
        raise ValueError(f"{LANG_ENV}={raw!r} is not a supported language; use one of: {', '.join(LANGUAGES)} "
                         "(unset means en)")
    return _ALIASES[key]


@functools.lru_cache(maxsize=None)
def _catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    # fallback=False: a missing catalogue is a broken install, and should say so.
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang])


def translate(message: str, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: :func:`language`); the English text where there is no entry."""
    return _catalogue(language(lang)).gettext(message)


def _(message: str) -> str:
    """``message`` in the learner's language (:func:`language`)."""
    return translate(message)


_CJK_STOPS = "。！？：；）」』、，"


def sentences(*parts: str) -> str:
    """Join sentences: with a space in English, without one after Chinese punctuation; empty parts dropped."""
    out = ""
    for part in (p.strip() for p in parts):
        if part:
            out += part if not out or out[-1] in _CJK_STOPS else " " + part
    return out


def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font: a Chinese (wide) character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def ljust(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` columns (:func:`display_width`), so columns line up in Chinese too."""
    return text + " " * max(0, width - display_width(text))


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue and return it unchanged (translate it with ``_`` where it is shown)."""
    return message


def configure_matplotlib(lang: str | None = None) -> bool:
    """Make matplotlib able to draw the language's text; True when it can.

    For Chinese: register the bundled CJK font and put it after DejaVu Sans in ``font.family``, so
    matplotlib (3.6+) takes each glyph from the first font that has it. English needs nothing.
    Prints one line and returns False when the font cannot be used (plots would show empty boxes).
    """
    if language(lang) != "zh":
        return True
    import matplotlib

    if not register_cjk_font():
        return False
    matplotlib.rcParams["font.family"] = list(FONT_FAMILIES)
    return True


FONT_FAMILIES = ("DejaVu Sans", CJK_FAMILY)
"""The font list for text that may hold Chinese: Latin from DejaVu Sans, the rest from the CJK font."""


@functools.lru_cache(maxsize=None)
def register_cjk_font() -> bool:
    """Make the bundled CJK font known to matplotlib (once); False, with one printed line, if it cannot be."""
    from matplotlib import font_manager

    try:
        font_manager.fontManager.addfont(str(CJK_FONT))
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"Chinese text in plots needs a CJK font, and resnet_lab's own ({CJK_FONT.name}) could not be "
              f"loaded ({exc}); plots may show empty boxes. Reinstall resnet_lab, or set {LANG_ENV}=en.")
        return False
    return True
