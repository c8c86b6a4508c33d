"""Project-level promises: one source of dependencies, clean notebooks, CI = the README's command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))  # the Chinese edition


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_dependencies_have_lower_bounds_only() -> None:
    deps = _pyproject()["project"]["dependencies"]
    for extra in _pyproject()["project"]["optional-dependencies"].values():
        deps = deps + extra
    for dep in deps:
        dep = dep.split(";")[0]  # an environment marker may compare versions of Python itself
        assert "==" not in dep and "<" not in dep and "~=" not in dep, f"exact or upper pin: {dep}"
    names = {re.split(r"[<>=!~ \[]", d)[0] for d in deps}
    assert {"torch", "torchvision", "ipywidgets", "matplotlib", "jupyterlab", "nbval"} <= names
    assert any(d.startswith("ipywidgets>=7.7") for d in deps)


def test_environment_yml_agrees_with_pyproject() -> None:
    lines = [ln.split("#")[0].rstrip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    assert "  - conda-forge" in lines and not any("pytorch" in ln for ln in lines), "conda-forge only"
    conda_deps = [ln.strip()[2:] for ln in lines if ln.startswith("  - ") and not ln.strip().startswith("- pip:")]
    conda_deps = [d for d in conda_deps if d != "conda-forge"]
    assert set(conda_deps) == {"python>=3.10", "pip"}, f"only python and pip come from conda, got {conda_deps}"
    python = next(d for d in conda_deps if d.startswith("python"))
    assert python.removeprefix("python") == _pyproject()["project"]["requires-python"]
    pip_lines = [ln.strip()[2:] for ln in lines if ln.startswith("      - ")]
    assert len(pip_lines) == 1 and pip_lines[0].startswith("-e .[")
    extras = set(pip_lines[0][len("-e .["):-1].split(","))
    assert extras and extras <= set(_pyproject()["project"]["optional-dependencies"])
    assert {"lab", "test"} <= extras


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", ci, re.M)


def _make_recipe(target: str) -> str:
    """The recipe of a Makefile target, with the Makefile's `NAME := value` variables expanded."""
    make = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+) :?= ?(.*)$", make, re.M))
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n?)+)", make, re.M)
    assert match, f"no target {target!r} in the Makefile"
    return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), match.group(1))


def test_makefile_test_target_uses_the_quick_profile_and_one_pytest_run() -> None:
    recipe = _make_recipe("test")
    assert "RESNET_LAB_PROFILE=quick" in recipe and "RESNET_LAB_DOWNLOAD=0" in recipe
    assert recipe.count("pytest") == 1 and "--durations=" in recipe, recipe
    # parallel workers only with whole notebooks per worker and one torch thread each (GUIDE section 5)
    assert " -n " not in recipe or ("--dist loadscope" in recipe and "OMP_NUM_THREADS=1" in recipe), recipe
    assert " -m " not in recipe.replace("-m pytest", ""), "make test is the full suite: no marker selection"
    settings = _pyproject()["tool"]["pytest"]["ini_options"]
    assert settings["testpaths"] == ["tests", "notebooks"]
    assert "--nbval-lax" in settings["addopts"] and "--nbval-current-env" in settings["addopts"]


def test_make_test_fast_skips_slow_tests_and_notebooks() -> None:
    recipe = _make_recipe("test-fast")
    assert "RESNET_LAB_PROFILE=quick" in recipe and "RESNET_LAB_DOWNLOAD=0" in recipe
    assert re.search(r"pytest tests -m \"not slow\"", recipe), recipe
    assert "notebooks" not in recipe
    markers = _pyproject()["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("slow:") for m in markers), "register the slow marker in pyproject"
    assert "make test-fast" in (ROOT / "README.md").read_text()


def test_files_named_in_docs_and_tools_exist() -> None:
    """Files under tests/, tools/ or notebooks/ that the README, the Makefile, tools/ or the package cite exist."""
    sources = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "tools").glob("*.py")),
               *sorted((ROOT / "resnet_lab").rglob("*.py"))]
    missing = [f"{src.relative_to(ROOT)}: {name}" for src in sources
               for name in re.findall(r"(?<![\w/.])((?:tests|tools|notebooks)/[\w/.-]+\.(?:py|ipynb))", src.read_text())
               if "NN_" not in name and not (ROOT / name).exists()]  # NN_x: a placeholder
    assert not missing, missing


@pytest.mark.parametrize("path", NOTEBOOKS + ZH_NOTEBOOKS,
                         ids=[p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS + ZH_NOTEBOOKS])
def test_notebook_hygiene(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert "widgets" not in nb.get("metadata", {}), "stored widget state"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        checked = source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
        if not checked:
            assert not cell.get("outputs"), f"cell {i} stores outputs but is not # NBVAL_CHECK_OUTPUT"
            assert cell.get("execution_count") is None, f"cell {i} stores an execution count"
        else:
            # the expected output nbval compares; nbval needs a count to treat the cell as run
            assert cell.get("outputs"), f"cell {i} is # NBVAL_CHECK_OUTPUT but stores no expected output"


APPENDIX_PREFIX = "9"  # appendices (90_..., 91_...) are optional notebooks after the lessons


def test_notebooks_are_ordered() -> None:
    # Their first code cell is checked against the one definition in test_colab_bootstrap.py.
    names = [p.name for p in NOTEBOOKS]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", n) for n in names), names
    lessons = [n for n in names if not n.startswith(APPENDIX_PREFIX)]
    appendices = [n for n in names if n.startswith(APPENDIX_PREFIX)]
    assert lessons and lessons[0] == "00_start_here.ipynb"
    assert [n[:2] for n in lessons] == [f"{i:02d}" for i in range(len(lessons))], "lessons are numbered 00, 01, ... without gaps"
    assert [n[:2] for n in appendices] == [f"{90 + i}" for i in range(len(appendices))], "appendices are numbered 90, 91, ..."
    assert [p.name for p in ZH_NOTEBOOKS] == names, "notebooks/zh/ holds every lesson, by the English name"


def test_importing_the_package_prints_nothing_and_keeps_the_rng() -> None:
    code = (
        "import torch; torch.manual_seed(5); a = torch.rand(1); torch.manual_seed(5); "
        "import resnet_lab, resnet_lab.models, resnet_lab.data, resnet_lab.profiles, resnet_lab.session; "
        "assert torch.equal(a, torch.rand(1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
