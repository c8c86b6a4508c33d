"""Run every lesson in a real browser: JupyterLab + headless Chromium, as a learner would.

    make test-browser                                   # all lessons
    .venv/bin/python tests/browser/run_lessons.py notebooks/01_degradation.ipynb
    .venv/bin/python tests/browser/run_lessons.py --dir notebooks/zh --out runs/browser/zh   # the Chinese lessons
    .venv/bin/python tests/browser/run_lessons.py --self-test   # made-up notebooks that must fail

nbval proves that cells execute; this proves that they *render* and *respond*. For each notebook it

1. opens the lesson in JupyterLab (loopback, random port and token, ``RESNET_LAB_PROFILE=quick``),
2. runs all cells and waits until the kernel has finished,
3. fails on any error output (matplotlib's "Glyph ... missing from font" warning too: a plot with empty
   boxes where Chinese text should be), any code cell left unexecuted, any "Error displaying widget", any
   widget view that never rendered, any blank output image and any diagram image that did not load
   (requests to ``resnet_lab.diagrams.DIAGRAM_URL`` are answered from the local ``docs/diagrams/``, so the
   lessons show their diagrams offline exactly as the notebooks reference them),
4. in every cell with a slider whose label mentions "depth" or "深度" (required in lessons 01 and 02), moves the
   slider with the keyboard and checks that the plot is redrawn (the image changes and is not blank
   or cut off) and that exactly one plot remains in that widget's output (no stacking),
5. saves screenshots (whole notebook, every widget cell, the depth widgets before/after) for a person
   to look at, and ``report.json`` with the findings and timings.

JupyterLab runs with its default settings apart from those in ``LAB_SETTINGS``; in particular widget
messages go to kernel subshells (JupyterLab >= 4.4 with ipykernel 7), as on a learner's machine.

JupyterLab serves a temporary copy of ``notebooks/`` with autosave off, so the stored notebooks never
receive outputs. The server is always stopped at the end. Needs the ``browser`` extra (Playwright's
Python package) and Debian's ``chromium`` (no browser download: ``playwright install`` is never run).
Exit status: 0 all passed, 1 a check failed, 2 something needed is missing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a clone without installing the package
    sys.path.insert(0, str(ROOT))

from resnet_lab.diagrams import DIAGRAM_URL  # noqa: E402

DIAGRAMS_DIR = ROOT / "docs" / "diagrams"  # what DIAGRAM_URL serves from the repository
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Lessons whose depth slider must exist and respond (issue 8).
SLIDER_LESSONS = ("01_", "02_")
VIEWPORT = {"width": 1400, "height": 1000}
BLANK_INK = 0.002  # an image with less ink than this is blank (see ink())
MAX_SCREENSHOT_HEIGHT = 16000  # Chromium's texture limit is ~16k pixels

# JupyterLab user settings for the run: never write outputs back (autosave off), keep every cell in
# the DOM (no windowing) so all outputs can be inspected, no requests to the internet.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


@dataclass
class NotebookResult:
    """What happened to one notebook; ``errors`` empty means it passed."""

    notebook: str
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # open, run_all, sliders, screenshots, total
    screenshots: list[str] = field(default_factory=list)
    sliders_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.errors


# --- JupyterLab server -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``jupyter lab`` from this interpreter's environment, on loopback, stopped by :meth:`stop`."""

    def __init__(self, workdir: Path, log_path: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        settings = self.workdir / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel must keep its inline backend
        env.update(RESNET_LAB_PROFILE="quick", RESNET_LAB_DOWNLOAD="0", PYTHONUNBUFFERED="1",
                   JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"))
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.workdir / 'root'}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.terminals_enabled=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI runners often run as root
            cmd.append("--allow-root")
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir / "root",
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log_path}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s; see {self.log_path}")

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Stop every kernel of this server, so the next notebook starts with the CPU to itself."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:  # the server stops its kernels on SIGTERM; the group kill is the fallback
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


# --- in the page -----------------------------------------------------------------------------
JS_PANEL = "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;" \
           " return !!(w && w.content && w.sessionContext); }"

JS_START_RUN_ALL = """async () => {
  const app = window.jupyterapp, w = app.shell.currentWidget;
  await w.context.ready; await w.sessionContext.ready;
  window.__runAll = undefined;
  app.commands.execute('notebook:run-all-cells').then(
    r => { window.__runAll = {ok: r !== false}; },
    e => { window.__runAll = {ok: false, error: String(e)}; });
}"""

JS_KERNEL_STATUS = """() => { const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel; return k ? k.status : 'none'; }"""

# Errors from the notebook model (independent of how JupyterLab draws them).
JS_MODEL_PROBLEMS = """() => {
  const w = window.jupyterapp.shell.currentWidget, cells = w.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code' || !c.sharedModel.getSource().trim()) continue;
    if (c.executionCount === null) out.push(`cell ${i}: not executed`);
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') out.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  }
  return out;
}"""

# Errors as the learner sees them: stderr/tracebacks, broken or unrendered widget views.
JS_DOM_PROBLEMS = """() => {
  const out = [], cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')];
  cells.forEach((cell, i) => {
    for (const el of cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
      const t = el.innerText;
      if (/Traceback|Error|Exception|missing from font/.test(t)) out.push(`cell ${i}: stderr: ${t.trim().slice(0, 400)}`);
    }
    if (/Error displaying widget|Error rendering output|Failed to load model class/.test(cell.innerText))
      out.push(`cell ${i}: widget error: ${cell.innerText.match(/(Error displaying widget|Error rendering output|Failed to load model class)[^\\n]*/)[0]}`);
    for (const el of cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')) {
      if (!el.querySelector('.jupyter-widgets')) out.push(`cell ${i}: widget view not rendered`);
    }
  });
  return out;
}"""

JS_PENDING = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]
  .some(p => p.innerText.includes('*'))"""

JS_WIDGET_VIEWS_PENDING = """() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')]
  .some(el => !el.querySelector('.jupyter-widgets') && !/Error/.test(el.innerText))"""

JS_WIDGET_CELLS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')]
  .map((cell, i) => cell.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]') ? i : -1)
  .filter(i => i >= 0)"""

# Sliders (ipywidgets 7/8 horizontal sliders) whose description mentions "depth", with their cell.
JS_DEPTH_SLIDERS = """() => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')], found = [], labels = [];
  cells.forEach((cell, i) => {
    cell.querySelectorAll('.widget-slider, .widget-hslider').forEach((s, j) => {
      const label = (s.querySelector('.widget-label') || {innerText: ''}).innerText.trim();
      labels.push(label);
      if (/depth|深度/i.test(label)) found.push({cell: i, index: j, label});
    });
  });
  return {found, labels};
}"""

# The plots of a widget: images in the Output widget(s) of that cell, or else in the cell's outputs.
JS_WIDGET_PLOTS = """([cellIndex]) => {
  const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')[cellIndex];
  const outs = [...cell.querySelectorAll('.widget-output, .jupyter-widgets-output-area')];
  const scope = outs.length ? outs : [cell.querySelector('.jp-Cell-outputArea')];
  const imgs = new Set();
  for (const s of scope) for (const img of s.querySelectorAll('img')) imgs.add(img);
  for (const s of scope) for (const c of s.querySelectorAll('canvas')) imgs.add(c);
  return [...imgs].map(el => el.tagName === 'IMG' ? el.src : el.toDataURL());
}"""


# True when every image in the cell has loaded and has a size (a broken image is a failure).
JS_IMAGES_READY = """([cellIndex]) => {
  const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')[cellIndex];
  return [...cell.querySelectorAll('.jp-OutputArea-output img')].every(img => img.complete && img.naturalWidth > 0);
}"""


JS_ALL_IMAGES_READY = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img')]
  .every(img => img.complete && img.naturalWidth > 0)"""

# Diagram images in markdown cells (src under DIAGRAM_URL): [cell, src, loaded]; lazy images are made eager.
JS_DIAGRAMS = """([prefix]) => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')]
  .flatMap((cell, i) => [...cell.querySelectorAll('.jp-MarkdownCell img, .jp-RenderedMarkdown img')]
    .filter(img => img.src.startsWith(prefix))
    .map(img => { if (img.loading === 'lazy') img.loading = 'eager';
                  return [i, img.src, img.complete && img.naturalWidth > 0]; }))"""

JS_ALL_PLOTS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')]
  .flatMap((cell, i) => [...cell.querySelectorAll('.jp-OutputArea-output img')].map(img => [i, img.src]))"""


def serve_diagram(route: Any) -> None:
    """Answer a request under DIAGRAM_URL with the file of that name in docs/diagrams (404 if none)."""
    name = route.request.url[len(DIAGRAM_URL):].split("?")[0].split("#")[0]
    path = DIAGRAMS_DIR / name
    if re.fullmatch(r"(?:zh/)?[\w.-]+\.png", name) and path.is_file():
        route.fulfill(status=200, content_type="image/png", body=path.read_bytes())
    else:
        route.fulfill(status=404, content_type="text/plain", body=f"{name} is not in {DIAGRAMS_DIR}")


def _slider_parts(page: Any, cell: int, index: int) -> tuple[Any, Any, Any]:
    cell_loc = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(cell)
    slider = cell_loc.locator(".widget-slider, .widget-hslider").nth(index)
    return cell_loc, slider, slider.locator(".widget-readout")


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def wait_idle(page: Any, timeout: float, settle: float = 1.0) -> bool:
    """The kernel has been idle for ``settle`` seconds and no cell shows ``[*]``."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        busy = page.evaluate(JS_KERNEL_STATUS) != "idle" or page.evaluate(JS_PENDING)
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= settle:
            return True
        time.sleep(0.25)
    return False


def ink(data_url: str) -> float:
    """Fraction of an image's pixels that differ clearly from its background (most common) grey level.

    A matplotlib plot has a few percent; a blank figure has none; a figure cut off mid-render
    (only a title and a spine) a fraction of a percent.
    """
    import numpy as np
    from PIL import Image

    if not data_url.startswith("data:image/"):
        return 1.0  # not inline data (a linked file): cannot judge, assume drawn
    grey = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("L"), dtype=np.int16)
    background = np.bincount(grey.ravel(), minlength=256).argmax()
    return float((np.abs(grey - background) > 40).mean())


def digest(srcs: list[str]) -> list[str]:
    return [hashlib.sha1(s.encode()).hexdigest()[:10] for s in srcs]


def check_depth_slider(page: Any, found: dict[str, Any], shots: Path, stem: str, result: NotebookResult,
                       timeout: float) -> None:
    """Move one depth slider by one step and check the plot is redrawn, once."""
    cell, index, label = found["cell"], found["index"], found["label"]
    where = f"cell {cell} slider {label!r}"
    cell_loc, slider, readout = _slider_parts(page, cell, index)
    before = wait_for(lambda: page.evaluate(JS_WIDGET_PLOTS, [cell]), timeout)
    if not before:
        result.errors.append(f"{where}: no plot drawn before the slider moved")
        return
    if len(before) != 1:
        result.errors.append(f"{where}: {len(before)} plots in the widget output before moving (expected 1)")
    cell_loc.scroll_into_view_if_needed()
    wait_for(lambda: page.evaluate(JS_IMAGES_READY, [cell]), 30)
    shot = shots / f"{stem}.cell{cell}.before.png"
    cell_loc.screenshot(path=str(shot))
    result.screenshots.append(str(shot))
    value_before = readout.inner_text().strip()
    handle = slider.locator(".noUi-handle, .ui-slider-handle, [role=slider]").first
    handle.focus()
    for key in ("ArrowRight", "ArrowLeft"):  # ArrowLeft when the slider already sits at its maximum
        handle.press(key)
        if wait_for(lambda: readout.inner_text().strip() != value_before, 5):
            break
    value_after = readout.inner_text().strip()
    if value_after == value_before:
        result.errors.append(f"{where}: the keyboard did not move the slider (readout stays {value_before})")
        return
    changed = wait_for(lambda: (lambda now: now if now and digest(now) != digest(before) else None)(
        page.evaluate(JS_WIDGET_PLOTS, [cell])), timeout)
    if not changed:
        result.errors.append(f"{where}: moved {value_before} -> {value_after}, but the plot did not change "
                             f"within {timeout:.0f} s")
        return
    if not wait_idle(page, timeout, settle=1.5):
        result.errors.append(f"{where}: kernel still busy {timeout:.0f} s after moving the slider")
    if not wait_for(lambda: page.evaluate(JS_IMAGES_READY, [cell]), 30):
        result.errors.append(f"{where}: the redrawn plot did not load as an image")
    after = page.evaluate(JS_WIDGET_PLOTS, [cell])
    if len(after) != 1:
        result.errors.append(f"{where}: {len(after)} plots in the widget output after moving (expected exactly 1)")
    ink_before, ink_after = max(map(ink, before)), max(map(ink, after), default=0.0)
    if ink_after < max(BLANK_INK, 0.5 * ink_before):
        result.errors.append(f"{where}: the redrawn plot is blank or cut off (ink {ink_after:.2%}, "
                             f"before moving {ink_before:.2%})")
    shot = shots / f"{stem}.cell{cell}.after.png"
    cell_loc.screenshot(path=str(shot))
    result.screenshots.append(str(shot))
    result.sliders_checked += 1
    result.notes.append(f"{where}: {value_before} -> {value_after}, plot redrawn (ink {ink_before:.1%} -> "
                        f"{ink_after:.1%}), {len(after)} plot(s) remain")


def full_screenshot(page: Any, path: Path) -> None:
    """The whole notebook in one image: make the viewport as tall as the notebook (capped)."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    height = page.evaluate("""() => { const el = document.querySelector(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer'); return el ? el.scrollHeight : 0; }""")
    tall = min(max(int(height) + 200, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": tall})
    page.wait_for_timeout(1000)
    page.evaluate("""() => { const el = document.querySelector(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer'); if (el) el.scrollTop = 0; }""")
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)


def check_notebook(browser: Any, server: LabServer, rel: str, shots: Path, timeout: float,
                   slider_timeout: float) -> NotebookResult:
    result = NotebookResult(notebook=rel)
    stem = Path(rel).stem
    t0 = time.monotonic()
    context = browser.new_context(viewport=VIEWPORT)
    context.route(re.compile("^" + re.escape(DIAGRAM_URL)), serve_diagram)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        page.goto(f"{server.base}/lab/tree/{rel}?token={server.token}&reset", wait_until="domcontentloaded")
        page.wait_for_function(JS_PANEL, timeout=120_000)
        page.evaluate("async () => { const w = window.jupyterapp.shell.currentWidget;"
                      " await w.context.ready; await w.sessionContext.ready; }")
        if not wait_for(lambda: page.evaluate(JS_KERNEL_STATUS) == "idle", 120):
            result.errors.append("kernel did not start within 120 s")
            return result
        t1 = time.monotonic()
        result.seconds["open"] = round(t1 - t0, 1)

        page.evaluate(JS_START_RUN_ALL)
        outcome = wait_for(lambda: page.evaluate("() => window.__runAll"), timeout, interval=0.5)
        if outcome is None:
            result.errors.append(f"run all did not finish within {timeout:.0f} s")
        elif not outcome.get("ok"):
            result.errors.append(f"run all stopped: {outcome.get('error', 'a cell failed')}")
        if not wait_idle(page, 60):
            result.errors.append("kernel still busy after run all")
        wait_for(lambda: not page.evaluate(JS_WIDGET_VIEWS_PENDING), 30)
        if not wait_for(lambda: page.evaluate(JS_ALL_IMAGES_READY), 30):
            result.errors.append("an output image did not load")
        wait_for(lambda: all(ok for _, _, ok in page.evaluate(JS_DIAGRAMS, [DIAGRAM_URL])), 30)
        diagrams = page.evaluate(JS_DIAGRAMS, [DIAGRAM_URL])
        result.errors += [f"cell {cell}: diagram {src} did not load" for cell, src, ok in diagrams if not ok]
        result.notes.append(f"{sum(ok for _, _, ok in diagrams)} of {len(diagrams)} diagram image(s) loaded")
        page.wait_for_timeout(1000)  # let late renderers (images, widgets) finish
        t2 = time.monotonic()
        result.seconds["run_all"] = round(t2 - t1, 1)
        result.errors += page.evaluate(JS_MODEL_PROBLEMS) + page.evaluate(JS_DOM_PROBLEMS)
        for cell, src in page.evaluate(JS_ALL_PLOTS):
            if ink(src) < BLANK_INK:
                result.errors.append(f"cell {cell}: a blank image (ink {ink(src):.2%})")

        sliders = page.evaluate(JS_DEPTH_SLIDERS)
        needs_slider = Path(rel).name.startswith(SLIDER_LESSONS)
        if needs_slider and not sliders["found"]:
            result.errors.append(f"no slider labelled 'depth' found (slider labels: {sliders['labels']})")
        for found in sliders["found"]:
            check_depth_slider(page, found, shots, stem, result, timeout=slider_timeout)
        result.errors += [e for e in page.evaluate(JS_DOM_PROBLEMS) if e not in result.errors]
        t3 = time.monotonic()
        result.seconds["sliders"] = round(t3 - t2, 1)

        for cell in page.evaluate(JS_WIDGET_CELLS):  # every widget as the learner sees it, for a person to look at
            if not any(f"{stem}.cell{cell}." in s for s in result.screenshots):
                loc = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(cell)
                loc.scroll_into_view_if_needed()
                loc.screenshot(path=str(shots / f"{stem}.cell{cell}.widget.png"))
                result.screenshots.append(str(shots / f"{stem}.cell{cell}.widget.png"))
        shot = shots / f"{stem}.png"
        full_screenshot(page, shot)
        result.screenshots.insert(0, str(shot))
        result.seconds["screenshots"] = round(time.monotonic() - t3, 1)
    except Exception as exc:  # a crash of one notebook's check is that notebook's failure
        result.errors.append(f"browser check crashed: {type(exc).__name__}: {exc}")
        try:
            page.screenshot(path=str(shots / f"{stem}.crash.png"))
            result.screenshots.append(str(shots / f"{stem}.crash.png"))
        except Exception:
            pass
    finally:
        result.errors += [f"JavaScript error in the page: {e}" for e in console_errors]
        context.close()
        try:
            server.shutdown_sessions()
        except Exception as exc:
            result.notes.append(f"could not stop the kernel: {exc}")
        result.seconds["total"] = round(time.monotonic() - t0, 1)
    return result


# --- self-test: notebooks that must pass or fail in a known way ---------------------------------
_SLIDER_SETUP = """%matplotlib inline
import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import display
def draw(depth):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(depth + 1))
    ax.set_title(f"depth {depth}")
    plt.show()
slider = w.IntSlider(value=3, min=1, max=10, description="depth")
"""

# name -> (cells, a substring that must appear in the errors, or None when the notebook must pass)
SELF_TEST_CASES: dict[str, tuple[list[str], str | None]] = {
    "01_good_slider.ipynb": (
        [_SLIDER_SETUP + "display(w.VBox([slider, w.interactive_output(draw, {'depth': slider})]))",
         "print('plain output is fine')"], None),
    "02_stacking_plots.ipynb": (  # redraws without clearing: the plots pile up
        [_SLIDER_SETUP + "out = w.Output()\n"
         "def on_change(change):\n    with out:\n        draw(change['new'])\n"
         "slider.observe(on_change, names='value')\nwith out:\n    draw(slider.value)\n"
         "display(w.VBox([slider, out]))"], "plots in the widget output after moving"),
    "03_no_redraw.ipynb": (  # the slider moves, nothing is redrawn
        [_SLIDER_SETUP + "out = w.Output()\nwith out:\n    draw(slider.value)\ndisplay(w.VBox([slider, out]))"],
        "the plot did not change"),
    "04_cell_error.ipynb": (["x = 1", "raise ValueError('boom')", "print('never runs')"], "ValueError: boom"),
    "05_broken_widget.ipynb": (
        ["from IPython.display import display\n"
         "display({'application/vnd.jupyter.widget-view+json': "
         "{'model_id': 'no-such-model', 'version_major': 2, 'version_minor': 0}}, raw=True)"],
        "widget"),
    "06_stderr_traceback.ipynb": (
        ["import sys\nprint('Traceback (most recent call last):\\n  RuntimeError: shown, not raised', "
         "file=sys.stderr)"], "stderr"),
    "07_blank_redraw.ipynb": (  # redraws an empty figure: the plot "changes" but shows nothing
        [_SLIDER_SETUP + "def draw_blank(depth):\n    if depth == 3:\n        return draw(depth)\n"
         "    fig, ax = plt.subplots(figsize=(3, 2))\n    ax.imshow([[1.0, 1.0]], cmap='gray', vmin=0, vmax=1)\n"
         "    ax.set_axis_off()\n    plt.show()\n"
         "display(w.VBox([slider, w.interactive_output(draw_blank, {'depth': slider})]))"], "blank"),
}


def write_self_test_notebooks(folder: Path) -> None:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    for name, (cells, _) in SELF_TEST_CASES.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / name)


def judge_self_test(results: list[NotebookResult]) -> list[str]:
    """Problems with the checker itself: a case that passed or failed other than expected."""
    problems = []
    for res in results:
        expected = SELF_TEST_CASES[Path(res.notebook).name][1]
        if expected is None and not res.passed:
            problems.append(f"{res.notebook}: should pass, got {res.errors}")
        elif expected is not None and not any(expected in e for e in res.errors):
            problems.append(f"{res.notebook}: should fail with {expected!r}, got {res.errors or 'a pass'}")
        elif expected is None and Path(res.notebook).name.startswith(SLIDER_LESSONS) and res.sliders_checked != 1:
            problems.append(f"{res.notebook}: its depth slider was not checked")
    return problems


# --- main ------------------------------------------------------------------------------------
def find_chromium() -> str | None:
    explicit = os.environ.get("RESNET_LAB_CHROMIUM")
    for path in ([explicit] if explicit else []) + list(CHROMIUM_CANDIDATES):
        if path and Path(path).exists():
            return path
    return None


def run_checks(source: Path, names: list[str], shots: Path, timeout: float, slider_timeout: float,
               chromium: str) -> list[NotebookResult]:
    """Serve a copy of ``source`` as ``notebooks/`` and check each named notebook in it."""
    from playwright.sync_api import sync_playwright

    results: list[NotebookResult] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="resnet-lab-browser-") as tmp:
        work = Path(tmp)
        # A copy, so that nothing JupyterLab does can write outputs into the stored notebooks.
        shutil.copytree(source, work / "root" / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        server = LabServer(work, shots / "jupyterlab.log")
        try:
            server.start()
            print(f"JupyterLab up on 127.0.0.1:{server.port} after {time.monotonic() - t_start:.1f} s; "
                  f"chromium: {chromium}", flush=True)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    for name in names:
                        res = check_notebook(browser, server, f"notebooks/{name}", shots, timeout, slider_timeout)
                        results.append(res)
                        print(f"{'ok  ' if res.passed else 'FAIL'} {res.notebook}  {res.seconds}", flush=True)
                        for note in res.notes:
                            print(f"       {note}")
                        for err in res.errors:
                            print(f"       ERROR {err}")
                finally:
                    browser.close()
        finally:
            server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to check (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "browser"), help="screenshots and report.json")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed for 'run all' per notebook")
    parser.add_argument("--slider-timeout", type=float, default=None,
                        help="seconds allowed for a redraw after moving a slider (default 120; 15 in --self-test)")
    parser.add_argument("--dir", default=str(ROOT / "notebooks"), help="folder holding the notebooks")
    parser.add_argument("--self-test", action="store_true",
                        help="check the checker: run made-up notebooks that must pass or fail in known ways")
    args = parser.parse_args(argv)

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("Playwright's Python package is missing: .venv/bin/pip install -e '.[browser]' "
              "(never 'playwright install'; the check uses Debian's chromium).", file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print("Chromium not found: apt-get install chromium (or set RESNET_LAB_CHROMIUM to its path).",
              file=sys.stderr)
        return 2
    shots = Path(args.out)
    shots.mkdir(parents=True, exist_ok=True)

    slider_timeout = args.slider_timeout or (15.0 if args.self_test else 120.0)
    t_start = time.monotonic()
    try:
        if args.self_test:
            with tempfile.TemporaryDirectory(prefix="resnet-lab-selftest-") as tmp:
                write_self_test_notebooks(Path(tmp))
                results = run_checks(Path(tmp), list(SELF_TEST_CASES), shots, args.timeout, slider_timeout,
                                     chromium)
        else:
            folder = Path(args.dir).resolve()
            paths = [Path(p).resolve() for p in args.notebooks] or sorted(folder.glob("[0-9][0-9]_*.ipynb"))
            bad = [str(p) for p in paths if not p.is_file() or p.parent != folder]
            if bad:
                print(f"not notebooks in {folder}: {bad}", file=sys.stderr)
                return 2
            results = run_checks(folder, [p.name for p in paths], shots, args.timeout, slider_timeout, chromium)
    except RuntimeError as exc:  # the server did not start
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    total = time.monotonic() - t_start
    report = {"total_seconds": round(total, 1), "self_test": args.self_test,
              "results": [asdict(r) | {"passed": r.passed} for r in results]}
    (shots / "report.json").write_text(json.dumps(report, indent=2))
    if args.self_test:
        problems = judge_self_test(results)
        for p in problems:
            print(f"SELF-TEST PROBLEM {p}")
        print(f"self-test: {len(results) - len(problems)}/{len(results)} cases judged as expected in {total:.0f} s")
        return 1 if problems else 0
    failed = [r.notebook for r in results if not r.passed]
    print(f"{len(results) - len(failed)}/{len(results)} notebooks passed in {total:.0f} s; "
          f"screenshots and report.json in {shots}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
