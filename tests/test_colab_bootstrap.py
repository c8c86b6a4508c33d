"""Colab readiness: the first code cell, the badges, and widgets that work on Colab.

* Every notebook's first code cell is ``FIRST_CELL`` (defined once, below), with the repository URL of
  ``pyproject.toml`` (``[project.urls] Repository``, the one place it is defined), and every notebook
  has an "Open in Colab" badge for its own path.
* The first cell runs in a real IPython shell posing as Colab (a stub ``google.colab`` module, shell
  commands recorded instead of run): a good install leads to ``import resnet_lab`` and ``start()``'s
  summary; a failed install stops with a clear RuntimeError *before* the import. The cell detects the
  failure through ``_exit_code``, which IPython, ipykernel and Colab's shell all set after ``%pip``.
* Widget modules (``resnet_lab/widgets/*.py``) and notebooks use only names that ipywidgets 7.7
  (Colab) has, and no trait that only ipywidgets 8 knows; every interactive callback reaches
  ``plt.show()``, so a redraw replaces the picture instead of stacking under it. Checked on the
  source, and at run time by moving every control of every ``make_*_widget()``.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import matplotlib.pyplot as plt
import pytest
from IPython.core.inputtransformer2 import TransformerManager

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))  # the Chinese edition (tools/zh_sync.py)
ALL_NOTEBOOKS = NOTEBOOKS + ZH_NOTEBOOKS
WIDGET_MODULES = sorted(p for p in (ROOT / "resnet_lab" / "widgets").glob("*.py") if p.name != "__init__.py")
PACKAGE_FILES = sorted((ROOT / "resnet_lab").rglob("*.py"))
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

# THE first code cell of every lesson ({repo_url}: pyproject's Repository). A failing %pip alone does
# not stop a notebook (nor fail nbval), hence the check of pip's exit status before the import.
FIRST_CELL = """\
%matplotlib inline
import sys
if "google.colab" in sys.modules:  # on Colab, install resnet_lab from the repository first
    %pip install --quiet "resnet-lab @ git+{repo_url}"
    if _exit_code: raise RuntimeError("Installing resnet_lab failed (see pip's error above); re-run this cell.")
import resnet_lab
lab = resnet_lab.start(); profile = lab.profile  # checks the setup; prints the run profile, device, data, runs folder"""

# Public names of ipywidgets 7.7.1 (the version Colab ships), copied from that release's
# ipywidgets/__init__.py and ipywidgets/widgets/__init__.py. A name outside this set breaks on Colab.
IPYWIDGETS_7_NAMES = frozenset("""
    Widget CallbackDispatcher register widget_serialization DOMWidget ValueWidget Color Datetime NumberFormat
    CoreWidget Checkbox ToggleButton Valid Button ButtonStyle Box HBox VBox GridBox
    FloatText BoundedFloatText FloatSlider FloatProgress FloatRangeSlider FloatLogSlider
    IntText BoundedIntText IntSlider IntProgress IntRangeSlider Play SliderStyle ColorPicker DatePicker Output
    RadioButtons ToggleButtons ToggleButtonsStyle Dropdown Select SelectionSlider SelectMultiple
    SelectionRangeSlider Tab Accordion HTML HTMLMath Label Text Textarea Password Combobox Controller
    interact interactive fixed interact_manual interactive_output jslink jsdlink Layout Image Video Audio
    Style TwoByTwoLayout AppLayout GridspecLayout FileUpload link dlink version_info __version__
    register_comm_target load_ipython_extension widgets
""".split())
# Traits (keyword arguments, attributes, style keys) that ipywidgets 8 added: 7.7 ignores or rejects
# them. Found by diffing the trait names of the two releases' widget classes.
IPYWIDGETS_8_ONLY_TRAITS = frozenset("""
    allow_duplicates allowed_tags tag_style background behavior border_bottom border_left border_right
    border_top description_allow_html font_family font_size font_style font_variant playing repeat
    text_color text_decoration titles
""".split())


# --- the repository URL, the first cell and the badges ---------------------------------------
def repo_url() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def github_slug() -> str:
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repo_url())
    assert match, f"[project.urls] Repository must be a https://github.com/owner/name URL, got {repo_url()!r}"
    return match.group(1)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def first_cell(path: Path, cell_type: str) -> str:
    return next(source(c) for c in load(path)["cells"] if c["cell_type"] == cell_type)


def expected_first_cell(path: Path | None = None) -> str:
    """FIRST_CELL; in a Chinese notebook with the line that switches the package's messages to Chinese."""
    cell = FIRST_CELL.format(repo_url=repo_url())
    if path is not None and path.parent.name == "zh":
        cell = cell.replace("%matplotlib inline\n", "%matplotlib inline\n%env RESNET_LAB_LANG=zh\n", 1)
    return cell


def _rel(path: Path) -> str:
    return path.relative_to(ROOT / "notebooks").as_posix()


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[_rel(p) for p in ALL_NOTEBOOKS])
def test_every_notebook_opens_with_the_first_cell(path: Path) -> None:
    assert first_cell(path, "code") == expected_first_cell(path), (
        f"{path.name}: the first code cell must be FIRST_CELL of tests/test_colab_bootstrap.py:\n"
        f"{expected_first_cell(path)}")


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[_rel(p) for p in ALL_NOTEBOOKS])
def test_every_notebook_has_a_colab_badge_for_itself(path: Path) -> None:
    own = f"https://colab.research.google.com/github/{github_slug()}/blob/main/notebooks/{_rel(path)}"
    badge = f"[![Open In Colab]({BADGE_IMAGE})]({own})"
    assert badge in first_cell(path, "markdown"), f"{path.name}: the first markdown cell lacks {badge}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[_rel(p) for p in ALL_NOTEBOOKS])
def test_notebook_links_to_github_and_colab_use_the_one_repository(path: Path) -> None:
    names = {_rel(p) for p in ALL_NOTEBOOKS}
    for i, cell in enumerate(load(path)["cells"]):
        text = source(cell)
        for slug in re.findall(r"(?<![\w.])github\.com/([\w.-]+/[\w.-]+)", text):
            assert slug.removesuffix(".git") == github_slug(), f"{path.name} cell {i}: link to {slug}, not {github_slug()}"
        for target in re.findall(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/([^\s)\"']+)", text):
            assert target.startswith("notebooks/") and target.removeprefix("notebooks/") in names, (
                f"{path.name} cell {i}: Colab link to {target}, which is not a notebook of this repository")


# --- the first cell in a (fake) Colab runtime --------------------------------------------------
# A fresh Python runs the cell in a real IPython shell, so the real %pip magic and the real `_exit_code`
# bookkeeping are exercised; only the shell command itself is recorded instead of run.
RUN_CELL = """\
import json, shlex, sys, types
import IPython.core.interactiveshell as ish
from traitlets.config import Config

cell, colab, pip_status, report = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
commands = []
def fake_system(cmd):  # what IPython runs for %pip and !cmd; its return value becomes _exit_code
    commands.append(shlex.split(cmd))
    return pip_status
ish.system = fake_system
if colab:
    sys.modules["google.colab"] = types.ModuleType("google.colab")

class Shell(ish.InteractiveShell):
    def enable_gui(self, gui=None):  # a kernel starts no event loop for `%matplotlib inline` either
        pass

config = Config()
config.HistoryManager.enabled = False
config.InteractiveShell.colors = "nocolor"
shell = Shell.instance(config=config)
result = shell.run_cell(cell)
error = result.error_before_exec or result.error_in_exec
lab = shell.user_ns.get("lab")
with open(report, "w") as f:
    json.dump({"error": type(error).__name__ if error else None, "message": str(error or ""),
               "commands": commands, "imported": "resnet_lab" in sys.modules,
               "in_colab": "google.colab" in sys.modules, "lab": repr(lab) if lab is not None else None,
               "profile": getattr(shell.user_ns.get("profile"), "name", None)}, f)
"""


def run_first_cell(tmp_path: Path, *, colab: bool, pip_status: int = 0) -> tuple[dict[str, Any], str]:
    """Run the first cell in a fresh Python; return what happened and what it printed."""
    script, report = tmp_path / "run_cell.py", tmp_path / "report.json"
    script.write_text(RUN_CELL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "IPYTHONDIR": str(tmp_path / "ipython"), "RESNET_LAB_PROFILE": "quick", "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)
    out = subprocess.run([sys.executable, str(script), expected_first_cell(), str(int(colab)), str(pip_status),
                          str(report)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and report.exists(), out.stdout + out.stderr
    return json.loads(report.read_text()), out.stdout


def test_first_cell_on_colab_installs_from_the_repository_then_starts(tmp_path: Path) -> None:
    result, printed = run_first_cell(tmp_path, colab=True, pip_status=0)
    assert result["error"] is None, printed
    assert result["in_colab"] is True
    assert len(result["commands"]) == 1, f"expected one pip install, got {result['commands']}"
    cmd = result["commands"][0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"], "install into the running kernel's Python"
    assert f"resnet-lab @ git+{repo_url()}" in cmd
    assert result["imported"] and result["profile"] == "quick"
    assert result["lab"].startswith("Session(profile='quick'")
    assert re.search(r"^profile : quick ", printed, re.M) and re.search(r"^runs    : ", printed, re.M), printed


def test_first_cell_on_colab_stops_clearly_when_the_install_fails(tmp_path: Path) -> None:
    result, printed = run_first_cell(tmp_path, colab=True, pip_status=1)
    assert result["error"] == "RuntimeError", f"a failed install must raise RuntimeError: {result}"
    assert "Installing resnet_lab failed" in result["message"] and "pip" in result["message"]
    assert len(result["commands"]) == 1
    assert not result["imported"], "nothing may be imported from resnet_lab after a failed install"
    assert result["lab"] is None and result["profile"] is None


@pytest.mark.slow  # the same path as every notebook under nbval, which `make test` runs
def test_first_cell_off_colab_starts_without_installing(tmp_path: Path) -> None:
    result, printed = run_first_cell(tmp_path, colab=False)
    assert result["error"] is None, printed
    assert result["in_colab"] is False and result["commands"] == [], f"installed outside Colab: {result}"
    assert result["imported"] and result["profile"] == "quick"


# --- widgets: core ipywidgets 7.x only, plt.show() in every callback ---------------------------
def _notebook_code(path: Path) -> str:
    cells = [source(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    return "\n".join(TransformerManager().transform_cell(c) for c in cells)


def ipywidgets_uses(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """``(line, kind, name)`` for every ipywidgets name used: kind is 'name', 'kwarg' or 'attribute'."""
    aliases: set[str] = set()  # local names bound to the ipywidgets module (or ipywidgets.widgets)
    imported: set[str] = set()  # names imported from it
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in ("ipywidgets", "ipywidgets.widgets"):
                    aliases.add(a.asname or a.name.split(".")[0])
                elif a.name.startswith("ipywidgets."):
                    yield node.lineno, "name", a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ipywidgets":
            for a in node.names:
                if node.module not in ("ipywidgets", "ipywidgets.widgets"):
                    yield node.lineno, "name", f"{node.module}.{a.name}"
                else:
                    yield node.lineno, "name", a.name
                    imported.add(a.asname or a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield node.lineno, "name", node.attr
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in aliases) or (
                    isinstance(f, ast.Name) and f.id in imported):
                for kw in node.keywords:
                    if kw.arg:
                        yield node.lineno, "kwarg", kw.arg
                    if kw.arg == "style" and isinstance(kw.value, ast.Dict):
                        for key in kw.value.keys:
                            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                                yield node.lineno, "kwarg", key.value
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute):
                    yield node.lineno, "attribute", t.attr


def ipywidgets_problems(tree: ast.AST, where: str) -> list[str]:
    problems = []
    for line, kind, name in ipywidgets_uses(tree):
        if kind == "name" and name not in IPYWIDGETS_7_NAMES:
            problems.append(f"{where}:{line}: ipywidgets.{name} is not in ipywidgets 7.7 (Colab)")
        if kind in ("kwarg", "attribute") and name in IPYWIDGETS_8_ONLY_TRAITS:
            problems.append(f"{where}:{line}: {name!r} exists only in ipywidgets 8")
    return problems


@pytest.mark.parametrize("path", WIDGET_MODULES, ids=[p.name for p in WIDGET_MODULES])
def test_widget_module_uses_only_ipywidgets_7_names(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert not ipywidgets_problems(tree, path.name)
    assert any(True for _ in ipywidgets_uses(tree)), f"{path.name} lives in widgets/ but uses no ipywidgets"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_uses_only_ipywidgets_7_names(path: Path) -> None:
    assert not ipywidgets_problems(ast.parse(_notebook_code(path)), path.name)


def test_the_ipywidgets_checker_catches_version_8_only_code() -> None:
    code = ("import ipywidgets as w\nfrom ipywidgets import TagsInput\n"
            "s = w.IntSlider(behavior='drag-tap', style={'font_size': '9px'})\nt = w.Stack([])\ns.behavior = 'x'\n")
    found = "\n".join(ipywidgets_problems(ast.parse(code), "demo"))
    for bad in ("TagsInput", "Stack", "'behavior'", "'font_size'", "demo:5"):
        assert bad in found, f"missed {bad}: {found}"
    assert not ipywidgets_problems(ast.parse("import ipywidgets as w\nw.interactive_output(f, {'d': w.IntSlider()})"), "ok")


# The static plt.show() check: a callback wired to a control must reach plt.show(), directly or
# through functions/methods of the package it calls (resolved by name).
WIRING = {"interactive_output": 0, "interact": 0, "interactive": 0, "interact_manual": 0, "observe": 0, "on_click": 0}


@functools.lru_cache(maxsize=1)
def _functions_by_name() -> dict[str, list[ast.AST]]:
    index: dict[str, list[ast.AST]] = {}
    for path in PACKAGE_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                index.setdefault(node.name, []).append(node)
    return index


def _called_names(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Name):
                yield f.id
            elif isinstance(f, ast.Attribute):
                yield f.attr
            # functions handed on, e.g. partial(draw, ...) or map(draw, ...)
            for arg in sub.args:
                if isinstance(arg, ast.Name):
                    yield arg.id
                elif isinstance(arg, ast.Attribute):
                    yield arg.attr


def _shows(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr == "show" and isinstance(f.value, ast.Name) and f.value.id in (
                    "plt", "pyplot"):
                return True
            if isinstance(f, ast.Name) and f.id == "show":
                return True
    return False


def reaches_show(node: ast.AST, index: dict[str, list[ast.AST]], seen: set[int] | None = None) -> bool:
    seen = set() if seen is None else seen
    if id(node) in seen:
        return False
    seen.add(id(node))
    if _shows(node):
        return True
    return any(reaches_show(fn, index, seen) for name in _called_names(node) for fn in index.get(name, []))


def wired_callbacks(tree: ast.AST) -> Iterator[tuple[int, ast.AST]]:
    """The callables handed to interactive_output / interact / observe ... in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in WIRING and node.args:
                yield node.lineno, node.args[WIRING[name]]


def _callback_name(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Call) and expr.args:  # functools.partial(draw, ...)
        return _callback_name(expr.args[0])
    return None


def callback_problems(path: Path, index: dict[str, list[ast.AST]]) -> list[str]:
    problems = []
    for line, expr in wired_callbacks(ast.parse(path.read_text())):
        if isinstance(expr, ast.Lambda):
            ok = reaches_show(expr, index)
            label = "lambda"
        else:
            label = _callback_name(expr) or ast.unparse(expr)
            candidates = index.get(label, [])
            if not candidates:
                problems.append(f"{path.name}:{line}: cannot find the callback {label!r} in resnet_lab")
                continue
            ok = any(reaches_show(fn, index) for fn in candidates)
        if not ok:
            problems.append(f"{path.name}:{line}: callback {label!r} never calls plt.show()")
    return problems


@pytest.mark.parametrize("path", WIDGET_MODULES, ids=[p.name for p in WIDGET_MODULES])
def test_every_widget_callback_calls_plt_show(path: Path) -> None:
    index = _functions_by_name()
    assert any(True for _ in wired_callbacks(ast.parse(path.read_text()))), f"{path.name} wires no callback"
    assert not callback_problems(path, index)


def test_the_callback_checker_catches_a_missing_plt_show(tmp_path: Path) -> None:
    demo = tmp_path / "demo.py"
    demo.write_text("import ipywidgets as w\nimport matplotlib.pyplot as plt\n"
                    "def helper(d):\n    plt.plot([d])\n"
                    "def draw(d):\n    helper(d)\n"
                    "def draw_ok(d):\n    helper(d)\n    plt.show()\n"
                    "out = w.interactive_output(draw, {'d': w.IntSlider()})\n"
                    "out2 = w.interactive_output(draw_ok, {'d': w.IntSlider()})\n"
                    "s = w.IntSlider()\ns.observe(lambda change: helper(change['new']), 'value')\n")
    tree = ast.parse(demo.read_text())
    index: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            index.setdefault(node.name, []).append(node)
    problems = callback_problems(demo, index)
    assert len(problems) == 2 and "'draw'" in problems[0] and "lambda" in problems[1], problems


# Run time: build every make_*_widget() with its defaults, move each control once, and check that
# each redraw shows its figure (plt.show) and leaves no figure behind.
def _widget_factories() -> list[tuple[str, Any]]:
    found = []
    for path in WIDGET_MODULES:
        module = importlib.import_module(f"resnet_lab.widgets.{path.stem}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("make_") and name.endswith("_widget") and fn.__module__ == module.__name__:
                found.append((f"{path.stem}.{name}", fn))
    return found


def _walk(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def _another_value(control: Any) -> Any:
    """A different valid value for a control, or None for controls this test does not move."""
    import ipywidgets as w

    if isinstance(control, (w.Checkbox, w.ToggleButton)):
        return not control.value
    if isinstance(control, w.FloatLogSlider):
        up = control.value * control.base ** control.step
        return up if up <= control.base ** control.max else control.value / control.base ** control.step
    if isinstance(control, (w.IntSlider, w.FloatSlider, w.BoundedIntText, w.BoundedFloatText)):
        up = control.value + control.step
        return up if up <= control.max else control.value - control.step
    if hasattr(control, "options") and hasattr(control, "index") and isinstance(control.index, int):
        if len(control.options) > 1:
            return ("index", (control.index + 1) % len(control.options))
    return None


FACTORIES = _widget_factories()


@pytest.mark.parametrize("name,factory", FACTORIES, ids=[n for n, _ in FACTORIES])
def test_every_control_redraws_with_plt_show(name: str, factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets as w

    import resnet_lab

    required = [p.name for p in inspect.signature(factory).parameters.values()
                if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    known = {"profile": resnet_lab.get_profile}  # arguments this test can supply (quick profile)
    if set(required) - set(known):
        pytest.skip(f"{name} needs arguments {sorted(set(required) - set(known))}; the static check covers it")
    kwargs = {k: known[k]() for k in required}
    shown: list[int] = []

    def fake_show(*args: Any, **kwargs: Any) -> None:  # what the inline backend does: show, then close
        shown.append(len(plt.get_fignums()))
        plt.close("all")

    monkeypatch.setattr(plt, "show", fake_show)
    plt.close("all")
    box = factory(**kwargs)
    assert shown, f"{name}: the first picture was not shown with plt.show()"
    assert not plt.get_fignums(), f"{name}: figures left open after the first draw"
    for widget in _walk(box):
        cls = type(widget)
        assert cls.__module__.startswith("ipywidgets") and cls.__name__ in IPYWIDGETS_7_NAMES, (
            f"{name}: {cls.__module__}.{cls.__name__} is not a core ipywidgets 7.7 widget")
    # Move one control (a depth slider if there is one): every control of an interactive_output
    # calls the same callback, and moving all of them would cost seconds per widget.
    controls = [c for c in _walk(box) if isinstance(c, w.ValueWidget) and not getattr(c, "disabled", False)
                and _another_value(c) is not None]
    controls.sort(key=lambda c: (not isinstance(c, w.IntSlider), "depth" not in str(getattr(c, "description", ""))))
    assert controls, f"{name}: no control to move"
    control = controls[0]
    new = _another_value(control)
    before = len(shown)
    if isinstance(new, tuple) and new[0] == "index":
        control.index = new[1]
    else:
        control.value = new
    label = getattr(control, "description", "") or type(control).__name__
    assert not plt.get_fignums(), f"{name}: moving {label!r} drew a figure without plt.show()"
    assert len(shown) > before, f"{name}: moving {label!r} redrew nothing"
