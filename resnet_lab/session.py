"""Starting a lesson: ``lab = resnet_lab.start()`` in the first code cell of every notebook.

``start()`` does, once, what every lesson needs before its first experiment:

1. checks the environment against the project's declared requirements (Python and the lower bounds of
   torch, torchvision, ipywidgets, ... from ``pyproject.toml``, or from the installed package's metadata
   on Colab) and imports those libraries, so a missing or broken install stops here with one clear
   message instead of deep inside a lesson;
2. chooses the run profile (:func:`resnet_lab.profiles.get_profile`: an argument, else
   ``$RESNET_LAB_PROFILE``, else ``gpu``/``cpu`` by hardware);
3. decides the runs folder where lessons keep checkpoints and caches: the quick profile (tests, a first
   look) gets a fresh temporary folder, so it always trains with the current code; the other profiles
   use ``$RESNET_LAB_RUNS``, else ``~/.cache/resnet_lab/runs``, so a re-run resumes or reuses results;
4. prints one short summary for the learner (profile, device, data, runs folder) and returns it as a
   :class:`Session`.

The package itself prints nothing and seeds nothing on import; only calling ``start()`` prints.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from . import i18n, store
from .i18n import N_, _
from .profiles import PROFILE_ENV, Profile, get_profile

__all__ = ["DISTRIBUTION", "RUNS_ENV", "Session", "start", "environment_problems", "choose_runs_dir"]

DISTRIBUTION = "resnet-lab"  # the name pip knows the package by (pyproject's [project] name)
RUNS_ENV = store.RUNS_ENV  # folder for checkpoints and result caches (cpu and gpu profiles)

# What each profile is for, in the words the summary prints (the budgets themselves live in profiles.py).
_PROFILE_PURPOSE = {
    "quick": N_("tests and a first look: seconds per lesson, stand-in data"),
    "cpu": N_("a laptop: minutes per lesson"),
    "gpu": N_("the paper's full experiments"),
}
# The names of the summary's lines, in English: "profile", "device", "data", "runs", "tip".
_SUMMARY_NAMES = {"profile": N_("profile"), "device": N_("device"), "data": N_("data"), "runs": N_("runs"),
                  "tip": N_("tip")}
# The libraries the lessons import, by distribution name -> module name (checked and imported by start()).
_LIBRARIES = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "matplotlib": "matplotlib",
              "ipywidgets": "ipywidgets", "tqdm": "tqdm"}


@dataclass(frozen=True)
class Session:
    """What ``start()`` chose for this lesson: the run profile and where runs are kept."""

    profile: Profile
    runs_dir: Path  # checkpoints and result caches of this session's lessons
    temporary_runs: bool  # True for the quick profile: a fresh folder, nothing reused from earlier runs
    data: str  # which data the lessons will use, in words

    @property
    def device(self) -> torch.device:
        """The device experiments run on (the profile's)."""
        return self.profile.device

    def __repr__(self) -> str:  # the profile's budgets would fill a screen
        return (f"Session(profile={self.profile.name!r}, device={str(self.device)!r}, "
                f"runs_dir={str(self.runs_dir)!r}, temporary_runs={self.temporary_runs})")


# --- the environment ---------------------------------------------------------------------------------
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"  # present in a source checkout only


def _declared_requirements(pyproject: Path = _PYPROJECT) -> tuple[str | None, list[str]] | None:
    """``(requires_python, [requirement, ...])`` of the package, without extras; None if unknown.

    A source checkout reads its own ``pyproject.toml`` (the one source of the dependencies); an install
    (Colab's ``pip install git+...``) reads the same lines from the installed metadata.
    """
    if pyproject.is_file():
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10 without tomli: fall back to the metadata
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                tomllib = None  # type: ignore[assignment]
        if tomllib is not None:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            if project.get("name") == DISTRIBUTION:
                return project.get("requires-python"), list(project.get("dependencies", []))
    try:
        meta = importlib.metadata.metadata(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    requires = importlib.metadata.requires(DISTRIBUTION) or []
    return meta.get("Requires-Python"), [r for r in requires if "extra" not in r]


def environment_problems(python_version: str | None = None) -> list[str]:
    """Everything about this environment that the lessons cannot live with, one sentence each.

    Compares ``python_version`` (default: the running one) and the installed version of every declared
    dependency with the declared lower bounds. An empty list means all is well.
    """
    try:
        from packaging.requirements import Requirement  # installed with matplotlib, which depends on it
        from packaging.specifiers import SpecifierSet
    except ModuleNotFoundError:
        return [_("packaging is not installed, so matplotlib is missing or broken (resnet_lab needs matplotlib)")]

    declared = _declared_requirements()
    if declared is None:
        return []  # neither a checkout nor an install (e.g. files copied by hand): nothing to compare with
    requires_python, requirements = declared
    problems = []
    python_version = python_version or platform.python_version()
    if requires_python and not SpecifierSet(requires_python).contains(python_version, prereleases=True):
        problems.append(_("Python {version} is too old: resnet_lab needs Python {needed}").format(
            version=python_version, needed=requires_python))
    for line in requirements:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(_("{name} is not installed (resnet_lab needs {requirement})").format(
                name=req.name, requirement=req))
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(_("{name} {version} is too old (resnet_lab needs {requirement})").format(
                name=req.name, version=installed, requirement=req))
    return problems


def _import_libraries() -> dict[str, str]:
    """Import the libraries the lessons use; return their versions. RuntimeError names a broken one."""
    versions = {}
    for dist, module in _LIBRARIES.items():
        try:
            versions[dist] = str(getattr(importlib.import_module(module), "__version__", "?"))
        except Exception as exc:  # a broken install fails in many ways (ImportError, RuntimeError, OSError)
            raise RuntimeError(_(
                "{module} is installed but cannot be imported ({error}). "
                "Reinstall it (e.g. `pip install --upgrade {dist}`; torch and torchvision must come from "
                "the same release), restart the kernel and run this cell again.").format(
                    module=module, error=f"{type(exc).__name__}: {exc}", dist=dist)) from exc
    return versions


# --- the runs folder ---------------------------------------------------------------------------------
def choose_runs_dir(profile: Profile) -> tuple[Path, bool]:
    """``(folder, temporary)``: decided by :func:`resnet_lab.store.choose_runs_dir`, the one place for folders."""
    return store.choose_runs_dir(profile.name)


# --- start -------------------------------------------------------------------------------------------
def _profile_source(name: str | None) -> str:
    if name is not None:
        return _("asked for in start()")
    if os.environ.get(PROFILE_ENV, "").strip():
        return _("from ${variable}").format(variable=PROFILE_ENV)
    return _("automatic: a CUDA GPU is available") if torch.cuda.is_available() else _("automatic: no CUDA GPU")



def _summary(rows: list[tuple[str, str]]) -> list[str]:
    """``name : value`` lines with the colons aligned; the names in the learner's language."""
    names = [_(_SUMMARY_NAMES[key]) for key, _value in rows]
    width = max(i18n.display_width(n) for n in names)
    return [f"{i18n.ljust(n, width)} : {value}" for n, (_key, value) in zip(names, rows)]


def start(profile: str | None = None, *, device: torch.device | str | None = None, quiet: bool = False) -> Session:
    """Check the environment, choose the run profile and the runs folder, print them, return them.

    ``profile`` (``quick``, ``cpu`` or ``gpu``) and ``device`` override the automatic choice (see
    :func:`resnet_lab.profiles.get_profile`); ``quiet=True`` prints nothing. Raises RuntimeError naming
    what to fix when a dependency is missing, too old or broken, and ValueError for an unknown profile.
    """
    problems = environment_problems()
    if problems:
        raise RuntimeError(_("This environment cannot run the lessons:") + "\n  - " + "\n  - ".join(problems)
                           + "\n" + _("Install the project with `make lab` (or `pip install -e .`), on Colab re-run the"
                                      " first cell, then restart the kernel."))
    versions = _import_libraries()
    lang = i18n.language()  # $RESNET_LAB_LANG: a bad value stops here, naming the valid ones
    chosen = get_profile(profile, device=device)
    runs_dir, temporary = choose_runs_dir(chosen)
    from .report import environment_report  # imports torchvision: only here, never on `import resnet_lab`

    report = environment_report(chosen)
    session = Session(profile=chosen, runs_dir=runs_dir, temporary_runs=temporary, data=report["data"])
    i18n.configure_matplotlib(lang)  # Chinese: the bundled CJK font behind DejaVu Sans, so plots show the text
    if not quiet:
        from . import __version__

        keep = (_("temporary: the quick profile trains anew every time") if temporary
                else _("kept between runs; set ${variable} to move it").format(variable=RUNS_ENV))
        rows = [
            ("profile", _("{name} ({purpose}; {source})").format(
                name=chosen.name, purpose=_(_PROFILE_PURPOSE[chosen.name]), source=_profile_source(profile))),
            ("device", f"{chosen.device} - {report['hardware']}"),
            ("data", session.data),
            ("runs", _("{folder} ({keep})").format(folder=runs_dir, keep=keep)),
        ]
        if "google.colab" in sys.modules and chosen.name == "cpu":
            rows.append(("tip", _("for the gpu profile choose Runtime > Change runtime type > GPU, then re-run")))
        lines = [
            f"resnet_lab {__version__} | Python {platform.python_version()}, torch {versions['torch']}, "
            f"torchvision {versions['torchvision']}, ipywidgets {versions['ipywidgets']}",
            *_summary(rows),
        ]
        print("\n".join(lines))
    return session
