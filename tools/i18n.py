"""The Chinese message catalogue of resnet_lab: collect, compile, check, and the font subset it needs.

    python tools/i18n.py update [--from OTHER.po ...]  # collect every _("..."), N_("...") and diagram label
                                                       # into the .po, keeping existing translations (and
                                                       # taking missing ones from OTHER.po files), then compile
    python tools/i18n.py compile                       # .po -> .mo (what gettext reads)
    python tools/i18n.py check                         # exit 1 listing untranslated, stale or broken entries
    python tools/i18n.py todo                          # the untranslated messages, one per line
    python tools/i18n.py font [SOURCE_FONT]            # rebuild the bundled font subset from Noto Sans CJK SC
                                                       # (Debian: apt-get install fonts-noto-cjk)

The catalogue is ``resnet_lab/locale/zh/LC_MESSAGES/resnet_lab.po`` (edited by hand: fill in ``msgstr``)
and its compiled ``resnet_lab.mo``. Messages are the English text itself (gettext's convention), found by
reading the package's source with :mod:`ast`, so this works without GNU gettext installed. The compiler
writes the GNU ``.mo`` format that Python's :mod:`gettext` reads, byte-for-byte the same for the same
``.po``; ``check`` also runs ``msgfmt --check`` when GNU gettext is installed.

``check`` (and ``tests/test_i18n.py``) fail when a message in the source has no translation, the ``.po``
holds a message the source no longer has, a translation drops or adds a ``{field}``, the ``.mo`` is not
the compiled ``.po``, or the bundled font lacks a character some translation uses.
"""

from __future__ import annotations

import argparse
import ast
import functools
import shutil
import string
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a clone without installing the package
    sys.path.insert(0, str(ROOT))

from resnet_lab import i18n  # noqa: E402

PACKAGE = ROOT / "resnet_lab"
PO = i18n.LOCALE_DIR / "zh" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
MO = PO.with_suffix(".mo")
FONT = i18n.CJK_FONT
KEYWORDS = {"_", "N_"}
HEADER = (
    "Project-Id-Version: resnet-lab\n"
    "PO-Revision-Date: 2026-12-02 00:00+0000\n"
    "Last-Translator: resnet-lab developers\n"
    "Language-Team: resnet-lab (https://github.com/resnet-lab/resnet-lab)\n"
    "Language: zh_CN\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "Plural-Forms: nplurals=1; plural=0;\n"
)
SOURCE_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SOURCE_FONT_NAME = "Noto Sans CJK SC"


@dataclass
class Entry:
    msgid: str
    msgstr: str = ""
    where: list[str] = field(default_factory=list)
    fuzzy: bool = False


# --- collecting messages -----------------------------------------------------------------------------
def extract(package: Path = PACKAGE) -> tuple[dict[str, list[str]], list[str]]:
    """``({message: [where, ...]}, [problem, ...])`` from every ``_``/``N_`` call and diagram label.

    ``_(name)`` with a variable is allowed (its candidates are marked with ``N_`` where they are defined);
    an f-string, a concatenation or a ``.format()`` inside the call is a problem: the catalogue cannot hold it.
    """
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS):
                continue
            if path.name == "i18n.py" and path.parent == package:
                continue
            arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(f"{rel}:{node.lineno}")
            elif node.func.id == "_" and isinstance(arg, (ast.Name, ast.Subscript, ast.Attribute, ast.BoolOp)):
                pass  # a message chosen at run time: each candidate is marked with N_() where it is defined
            else:
                problems.append(f"{rel}:{node.lineno}: {node.func.id}() needs one string literal "
                                 "(use named {fields} and .format(), not an f-string or a variable)")
    for label, names in _diagram_labels().items():
        found.setdefault(label, []).extend(f"diagram {name}" for name in names)
    return found, problems


@functools.lru_cache(maxsize=1)
def _diagram_labels() -> dict[str, list[str]]:
    """``{label: [diagram, ...]}``: the words the diagrams draw (drawing them takes a few seconds)."""
    from resnet_lab.diagrams import NAMES, labels_of

    labels: dict[str, list[str]] = {}
    for name in NAMES:
        for label in labels_of(name):
            labels.setdefault(label, []).append(name)
    return labels


# --- the .po format ----------------------------------------------------------------------------------
def _quote(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
    return f'"{body}"'


def _po_string(keyword: str, text: str) -> str:
    if "\n" not in text.rstrip("\n"):
        return f"{keyword} {_quote(text)}"
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return "\n".join([f'{keyword} ""'] + [_quote(line) for line in lines])


def _unquote(token: str) -> str:
    assert token.startswith('"') and token.endswith('"'), token
    out, i, body = [], 0, token[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_po(path: Path = PO) -> dict[str, Entry]:
    """The entries of a ``.po`` file by msgid (the header, msgid "", excluded); obsolete ``#~`` lines skipped."""
    entries: dict[str, Entry] = {}
    if not path.is_file():
        return entries
    current: Entry | None = None
    where: list[str] = []
    fuzzy = False
    target = ""

    def finish() -> None:
        nonlocal current
        if current is not None and current.msgid:
            entries[current.msgid] = current
        current = None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            where, fuzzy = [], False
        elif line.startswith("#~"):
            continue
        elif line.startswith("#:"):
            finish()
            where.append(line[2:].strip())
        elif line.startswith("#,"):
            finish()
            fuzzy = fuzzy or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid "):
            finish()
            current = Entry(_unquote(line[6:].strip()), where=where, fuzzy=fuzzy)
            target = "msgid"
        elif line.startswith("msgstr "):
            assert current is not None, f"{path}: msgstr without msgid: {raw}"
            current.msgstr = _unquote(line[7:].strip())
            target = "msgstr"
        elif line.startswith('"'):
            assert current is not None, f"{path}: string outside an entry: {raw}"
            setattr(current, target, getattr(current, target) + _unquote(line))
        else:
            raise ValueError(f"{path}: cannot read line: {raw}")
    finish()
    return entries


def write_po(entries: list[Entry], path: Path = PO) -> None:
    lines = ["# Chinese (Simplified) messages of resnet_lab. Fill in msgstr; keep every {field} of the msgid.",
             "# Terms follow the Chinese edition of d2l (see the glossary in notebooks/zh/00_start_here.ipynb).",
             "# Regenerate with `python tools/i18n.py update`; check with `python tools/i18n.py check`.",
             'msgid ""', _po_string("msgstr", HEADER), ""]
    for e in entries:
        lines += [f"#: {w}" for w in e.where]
        if e.fuzzy:
            lines.append("#, fuzzy")
        lines += [_po_string("msgid", e.msgid), _po_string("msgstr", e.msgstr), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


# --- compiling -----------------------------------------------------------------------------------------
def compile_mo(entries: dict[str, Entry]) -> bytes:
    """The GNU ``.mo`` bytes of the translated, non-fuzzy entries plus the header (what msgfmt writes)."""
    pairs = {"": HEADER}
    pairs.update({e.msgid: e.msgstr for e in entries.values() if e.msgstr and not e.fuzzy})
    keys = sorted(pairs, key=lambda k: k.encode("utf-8"))
    ids = [k.encode("utf-8") for k in keys]
    strs = [pairs[k].encode("utf-8") for k in keys]
    n = len(keys)
    header_size = 7 * 4
    ids_table, strs_table = header_size, header_size + 8 * n
    data_start = strs_table + 8 * n
    id_offsets, str_offsets, blob = [], [], b""
    for s in ids:
        id_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    for s in strs:
        str_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, n, ids_table, strs_table, 0, 0)
    out += b"".join(struct.pack("<2I", *p) for p in id_offsets)
    out += b"".join(struct.pack("<2I", *p) for p in str_offsets)
    return out + blob


def fields(text: str) -> set[str]:
    """The ``str.format`` field names in ``text`` (``{value}``, ``{0}``, ``{x:.2f}`` -> ``x``)."""
    try:
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        return {f"<bad format: {exc}>"}


def used_characters(entries: dict[str, Entry]) -> set[str]:
    """The non-ASCII characters of every translation: what the bundled font must have."""
    return {c for e in entries.values() for c in e.msgstr if ord(c) > 127 and not c.isspace()}


def dejavu_characters() -> set[str]:
    """The characters of matplotlib's DejaVu Sans, the first font of every text (empty without matplotlib)."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return set()
    return font_characters(Path(font_manager.findfont("DejaVu Sans", fallback_to_default=False)))


def font_characters(path: Path = FONT) -> set[str]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path)) as font:
        return {chr(code) for code in font.getBestCmap()}


def problems(package: Path = PACKAGE, po: Path = PO, mo: Path = MO, font: Path = FONT) -> list[str]:
    """Everything ``check`` reports; empty when the catalogue is complete and compiled."""
    found, out = extract(package)
    entries = read_po(po)
    for msgid, where in found.items():
        e = entries.get(msgid)
        if e is None:
            out.append(f"not in the catalogue ({where[0]}): {msgid!r} -- run `python tools/i18n.py update`")
        elif not e.msgstr or e.fuzzy:
            out.append(f"untranslated ({where[0]}): {msgid!r}")
        elif fields(e.msgid) != fields(e.msgstr):
            out.append(f"fields differ ({where[0]}): {sorted(fields(e.msgid))} in {msgid!r} but "
                       f"{sorted(fields(e.msgstr))} in its translation {e.msgstr!r}")
    for msgid in entries.keys() - found.keys():
        out.append(f"stale (no longer in the source): {msgid!r} -- run `python tools/i18n.py update`")
    if not mo.is_file() or mo.read_bytes() != compile_mo(entries):
        out.append(f"{mo.name} is not the compiled catalogue -- run `python tools/i18n.py compile`")
    if font.is_file():
        # matplotlib draws each glyph from the first font of i18n.FONT_FAMILIES that has it: DejaVu Sans first
        # (it has e.g. the subscripts x₀..x₃ that Noto Sans CJK lacks), the bundled subset for the rest.
        missing = sorted(used_characters(entries) - font_characters(font) - dejavu_characters())
        if missing:
            out.append(f"the bundled font lacks {len(missing)} characters ({''.join(missing[:20])}...) "
                       "-- run `python tools/i18n.py font`")
    else:
        out.append(f"{font.name} missing -- run `python tools/i18n.py font`")
    return out


# --- the font subset -------------------------------------------------------------------------------------
def build_font(source: str = SOURCE_FONT, entries: dict[str, Entry] | None = None, out: Path = FONT) -> int:
    """Subset Noto Sans CJK SC to the catalogue's characters (plus CJK punctuation); returns the glyph count."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    chars = used_characters(read_po() if entries is None else entries)
    chars |= {chr(c) for c in range(0x3000, 0x3040)} | {chr(c) for c in range(0xFF01, 0xFF5F)}
    if source.endswith(".ttc"):
        fonts = TTCollection(source).fonts
        font = next(f for f in fonts if f["name"].getDebugName(1) == SOURCE_FONT_NAME)
    else:
        font = TTFont(source)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.layout_features = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in chars))
    subsetter.subset(font)
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    return len(font.getGlyphOrder())


# --- commands -------------------------------------------------------------------------------------------
def update(extra: list[Path]) -> None:
    found, bad = extract()
    old = read_po()
    others = [read_po(p) for p in extra]
    entries = []
    for msgid, where in found.items():
        e = old.get(msgid) or Entry(msgid)
        if not e.msgstr:
            for other in others:
                if other.get(msgid) and other[msgid].msgstr:
                    e = other[msgid]
                    break
        entries.append(Entry(msgid, e.msgstr, where, e.fuzzy))
    write_po(entries)
    dropped = len(old.keys() - found.keys())
    todo = sum(1 for e in entries if not e.msgstr)
    print(f"{PO.relative_to(ROOT)}: {len(entries)} messages, {todo} untranslated, {dropped} dropped")
    for b in bad:
        print(b)
    MO.write_bytes(compile_mo(read_po()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update")
    up.add_argument("--from", dest="extra", type=Path, nargs="*", default=[])
    sub.add_parser("compile")
    sub.add_parser("check")
    sub.add_parser("todo")
    ft = sub.add_parser("font")
    ft.add_argument("source", nargs="?", default=SOURCE_FONT)
    args = parser.parse_args(argv)
    if args.command == "update":
        update(args.extra)
    elif args.command == "compile":
        MO.write_bytes(compile_mo(read_po()))
    elif args.command == "todo":
        for e in read_po().values():
            if not e.msgstr or e.fuzzy:
                print(repr(e.msgid))
    elif args.command == "font":
        n = build_font(args.source)
        print(f"{FONT.relative_to(ROOT)}: {n} glyphs, {FONT.stat().st_size:,} bytes")
    else:
        found = problems()
        if shutil.which("msgfmt"):
            with tempfile.TemporaryDirectory() as tmp:
                run = subprocess.run(["msgfmt", "--check", "-o", str(Path(tmp) / "x.mo"), str(PO)],
                                     capture_output=True, text=True)
                if run.returncode:
                    found.append("msgfmt --check: " + run.stderr.strip())
        for p in found:
            print(p)
        print("catalogue OK" if not found else f"{len(found)} problems")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
