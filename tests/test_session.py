"""resnet_lab.start(): environment checks, the profile, the runs folder, and the summary it prints."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import tempfile
import types
from pathlib import Path

import pytest
import torch

import resnet_lab
from resnet_lab import session
from resnet_lab.profiles import PROFILE_NAMES

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(session.RUNS_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def summary_lines(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines()[1:])}


def test_quick_profile_gets_a_fresh_empty_temporary_runs_folder(capsys: pytest.CaptureFixture[str]) -> None:
    first = resnet_lab.start("quick")
    second = resnet_lab.start("quick", quiet=True)
    assert first.temporary_runs and second.temporary_runs
    assert first.runs_dir != second.runs_dir, "every quick session must start from an empty folder"
    for lab in (first, second):
        assert lab.runs_dir.is_dir() and not any(lab.runs_dir.iterdir())
        assert Path(lab.runs_dir).is_relative_to(Path(tempfile.gettempdir()))
    printed = capsys.readouterr().out
    assert printed.startswith(f"resnet_lab {resnet_lab.__version__} | Python ")
    lines = summary_lines(printed)
    assert set(lines) == {"profile", "device", "data", "runs"}, printed
    assert lines["profile"].startswith("quick (") and lines["device"].startswith("cpu")
    assert lines["data"] == first.data and "stand-in" in first.data
    assert lines["runs"].startswith(str(first.runs_dir)) and "temporary" in lines["runs"]


def test_cpu_profile_keeps_runs_in_the_cache_or_where_the_environment_says(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = resnet_lab.start("cpu", quiet=True)
    assert lab.runs_dir == tmp_path / "cache" / "resnet_lab" / "runs" and not lab.temporary_runs
    monkeypatch.setenv(session.RUNS_ENV, str(tmp_path / "my_runs"))
    lab = resnet_lab.start("cpu")
    assert lab.runs_dir == tmp_path / "my_runs" and not lab.temporary_runs
    lines = summary_lines(capsys.readouterr().out)
    assert lines["runs"].startswith(str(tmp_path / "my_runs")) and "kept between runs" in lines["runs"]
    assert lines["profile"].startswith("cpu (") and "asked for in start()" in lines["profile"]


def test_the_session_carries_the_profile_and_its_device() -> None:
    lab = resnet_lab.start("quick", device="cpu", quiet=True)
    assert lab.profile == resnet_lab.get_profile("quick", device="cpu")
    assert lab.device == lab.profile.device == torch.device("cpu")
    assert repr(lab).startswith("Session(profile='quick', device='cpu', runs_dir=")


def test_the_profile_comes_from_the_environment_when_not_given(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RESNET_LAB_PROFILE", "quick")
    assert resnet_lab.start().profile.name == "quick"
    assert "from $RESNET_LAB_PROFILE" in summary_lines(capsys.readouterr().out)["profile"]


def test_unknown_profile_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="quick, cpu, gpu"):
        resnet_lab.start("fast", quiet=True)


def test_quiet_prints_nothing_and_start_does_not_seed(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    resnet_lab.start("quick", quiet=True)
    assert torch.equal(torch.rand(3), expected), "start() must leave the random state alone"
    assert capsys.readouterr().out == ""


def test_colab_without_gpu_gets_a_tip_for_the_gpu_runtime(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    resnet_lab.start("cpu", device="cpu")
    assert "tip" not in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    resnet_lab.start("cpu", device="cpu")
    assert "Change runtime type > GPU" in summary_lines(capsys.readouterr().out)["tip"]


def test_every_profile_has_a_purpose_line() -> None:
    assert set(session._PROFILE_PURPOSE) == set(PROFILE_NAMES)


# --- the environment checks ------------------------------------------------------------------
def test_this_environment_has_no_problems() -> None:
    assert session.environment_problems() == []


def test_declared_requirements_are_pyprojects_and_match_the_installed_metadata(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert session._declared_requirements() == (project["requires-python"], project["dependencies"])
    try:
        importlib.metadata.metadata(session.DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("resnet-lab is not installed (only a checkout on the path): no metadata to compare")
    # An install without the checkout (Colab) reads the same requirements from the metadata.
    from_metadata = session._declared_requirements(tmp_path / "no_pyproject.toml")
    assert from_metadata is not None and from_metadata[0] == project["requires-python"]
    assert sorted(r.replace(" ", "") for r in from_metadata[1]) == sorted(project["dependencies"])


def test_an_old_python_is_reported() -> None:
    problems = session.environment_problems(python_version="3.8.10")
    assert problems and "Python 3.8.10" in problems[0] and ">=3.10" in problems[0]


def test_old_or_missing_libraries_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def fake_version(name: str) -> str:
        if name == "torch":
            return "2.0.1+cu118"
        if name == "ipywidgets":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    problems = session.environment_problems()
    assert len(problems) == 2, problems
    assert "torch 2.0.1+cu118 is too old" in problems[0] and "torch>=2.1" in problems[0]
    assert "ipywidgets is not installed" in problems[1] and "ipywidgets>=7.7" in problems[1]
    with pytest.raises(RuntimeError, match="cannot run the lessons") as info:
        resnet_lab.start("quick", quiet=True)
    assert "torch>=2.1" in str(info.value) and "ipywidgets" in str(info.value)


def test_a_library_that_fails_to_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def broken(name: str, package: str | None = None) -> types.ModuleType:
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(RuntimeError, match="torchvision is installed but cannot be imported") as info:
        resnet_lab.start("quick", quiet=True)
    assert "torchvision::nms" in str(info.value) and "pip install --upgrade torchvision" in str(info.value)
