"""The one store: atomic writes, weights_only reads, a key that follows data and settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from resnet_lab import store


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    store.atomic_torch_save(path, {"w": torch.ones(3)})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom while pickling")

    with pytest.raises(RuntimeError):
        store.atomic_torch_save(path, {"w": Boom()})
    assert torch.equal(store.torch_load(path)["w"], torch.ones(3))
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was removed


def test_weights_only_read_refuses_code_and_names_a_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"f": os.getcwd}, bad)  # a function: not loadable with weights_only
    with pytest.raises(ValueError, match="evil.pt"):
        store.torch_load(bad)
    cut = tmp_path / "cut.pt"
    store.atomic_torch_save(cut, {"w": torch.ones(100)})
    cut.write_bytes(cut.read_bytes()[:50])
    with pytest.raises(ValueError, match="corrupt"):
        store.torch_load(cut)
    with pytest.raises(FileNotFoundError):
        store.torch_load(tmp_path / "missing.pt")


def test_unwritable_folder_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(store.StoreError, match="file"):
        store.atomic_write_json(blocker / "x.json", {"a": 1})


def test_key_changes_with_settings_and_data() -> None:
    data_a = store.fingerprint(torch.arange(10, dtype=torch.uint8))
    data_b = store.fingerprint(torch.arange(1, 11, dtype=torch.uint8))
    k = store.settings_key("exp", {"lr": 0.1, "depths": (20, 56)}, data_a)
    assert k == store.settings_key("exp", {"depths": [20, 56], "lr": 0.1}, data_a)  # order-free, tuples = lists
    assert k != store.settings_key("exp", {"lr": 0.2, "depths": (20, 56)}, data_a)
    assert k != store.settings_key("exp", {"lr": 0.1, "depths": (20, 56)}, data_b)
    with pytest.raises(ValueError, match="kind"):
        store.settings_key("../x", {}, data_a)


def test_cached_json_computes_once(tmp_path: Path) -> None:
    calls = []

    def compute():
        calls.append(1)
        return {"err": [0.5, float("nan")]}

    r1, hit1 = store.cached_json("t", {"a": 1}, "d", compute, root=tmp_path)
    r2, hit2 = store.cached_json("t", {"a": 1}, "d", compute, root=tmp_path)
    assert (hit1, hit2) == (False, True) and len(calls) == 1 and r2 == {"err": [0.5, None]}


def test_runs_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.RUNS_ENV, str(tmp_path / "r"))
    assert store.runs_dir() == tmp_path / "r"
    (tmp_path / ".last.pt.x.tmp").write_text("")
    assert store.clean_stale_temporaries(tmp_path) == [tmp_path / ".last.pt.x.tmp"]
