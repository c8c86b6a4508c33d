"""CIFAR-10 loading (without any download) and the synthetic stand-in."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from resnet_lab import data as D
from resnet_lab.profiles import get_profile


def _fake_cifar(root: Path, n: int = 20) -> None:
    """Write tiny files in CIFAR-10's python format (not the real data: for the loader's plumbing)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": list(D.CIFAR10_CLASSES)}, fh)


def test_synthetic_shapes_types_and_label() -> None:
    d = D.synthetic_cifar(200, 50, seed=3)
    assert d.x_train.shape == (200, 3, 32, 32) and d.x_train.dtype == torch.uint8
    assert d.x_test.shape == (50, 3, 32, 32) and d.y_test.dtype == torch.int64
    assert set(d.y_train.tolist()) == set(range(10))
    assert d.synthetic and "synthetic" in d.label and "NOT CIFAR-10" in d.source
    assert "synthetic" in repr(d)


def test_synthetic_is_deterministic_from_its_seed() -> None:
    a, b, c = D.synthetic_cifar(64, 16, seed=1), D.synthetic_cifar(64, 16, seed=1), D.synthetic_cifar(64, 16, seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_synthetic_is_learnable_by_a_small_convnet_but_not_trivially() -> None:
    torch.manual_seed(0)
    d = D.synthetic_cifar(2000, 500, seed=0)
    mean, std = D.channel_stats(d.x_train)
    xt, xv = D.normalize(d.x_train, mean, std), D.normalize(d.x_test, mean, std)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 10),
    )
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(120):
        i = torch.randint(0, 2000, (64,), generator=g)
        loss = nn.functional.cross_entropy(net(xt[i]), d.y_train[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (net.eval()(xv).argmax(1) == d.y_test).float().mean().item()
    assert acc > 0.4, f"a small convnet should learn the stand-in well above chance (10%), got {acc:.2f}"
    # and random labels would be at chance: the labels carry the structure
    shuffled = d.y_test[torch.randperm(500, generator=g)]
    with torch.no_grad():
        assert (net(xv).argmax(1) == shuffled).float().mean().item() < 0.25


def test_bad_synthetic_sizes() -> None:
    with pytest.raises(ValueError, match="n_train"):
        D.synthetic_cifar(0, 10)


def test_channel_stats_computed_from_data() -> None:
    x = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
    x[:, 1] = 255
    x[:2, 2] = 255
    mean, std = D.channel_stats(x)
    assert mean == pytest.approx((0.0, 1.0, 0.5))
    ref = x.float().div(255).transpose(0, 1).reshape(3, -1).std(1)
    assert std == pytest.approx(tuple(ref.tolist()), abs=1e-6)
    z = D.normalize(x, mean, (1.0, 1.0, 0.5))
    assert z.dtype == torch.float32 and z[:, 1].abs().max() == 0
    with pytest.raises(ValueError, match="uint8"):
        D.channel_stats(x.float())


def test_train_val_split_is_disjoint_and_deterministic() -> None:
    tr, va = D.train_val_split(50_000, 5_000, seed=0)
    assert len(tr) == 45_000 and len(va) == 5_000
    assert len(set(tr.tolist()) | set(va.tolist())) == 50_000
    assert torch.equal(va, D.train_val_split(50_000, 5_000, seed=0)[1])
    with pytest.raises(ValueError, match="n_val"):
        D.train_val_split(10, 10)


def test_data_root_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESNET_LAB_DATA", str(tmp_path))
    assert D.data_root() == tmp_path
    monkeypatch.delenv("RESNET_LAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert D.data_root() == tmp_path / "cache" / "resnet_lab" / "data"


def test_missing_cifar_without_download_explains_how_to_place_it(tmp_path: Path) -> None:
    assert not D.cifar10_present(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        D.load_cifar10(tmp_path, download=False)
    msg = str(info.value)
    assert D.CIFAR10_MD5 in msg and "tar -xzf" in msg and "RESNET_LAB_DATA" in msg


def test_existing_copy_is_used_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cifar(tmp_path)
    assert D.cifar10_present(tmp_path)
    import torchvision.datasets.cifar as tv_cifar

    # our fake files have other md5s than the real ones, which torchvision checks
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(D, "damaged_cifar10_files", lambda root=None: [])  # our own md5 check, likewise
    d = D.load_cifar10(tmp_path, download=False)
    assert d.x_train.shape == (100, 3, 32, 32) and d.x_test.shape == (20, 3, 32, 32)
    assert not d.synthetic and d.label == "CIFAR-10" and d.classes == D.CIFAR10_CLASSES


def test_mirror_with_wrong_md5_is_refused(tmp_path: Path) -> None:
    # A "mirror" served from a local file: its archive is not the original, so it must be discarded.
    fake = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    fake.parent.mkdir()
    with tarfile.open(fake, "w:gz") as tar:
        tar.add(__file__, arcname="cifar-10-batches-py/readme")
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="md5"):
        D.download_cifar10(root, url=fake.as_uri())
    assert not (root / "cifar-10-python.tar.gz").exists()
    assert not list(root.glob("*.part"))


def test_get_dataset_quick_profile_is_synthetic_and_never_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the quick profile must not touch CIFAR-10")

    monkeypatch.setattr(D, "load_cifar10", boom)
    d = D.get_dataset(get_profile("quick"), n_train=100, n_test=20)
    assert d.synthetic and len(d.y_train) == 100 and len(d.y_test) == 20


def test_get_dataset_falls_back_to_the_stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RESNET_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("RESNET_LAB_DOWNLOAD", "0")
    d = D.get_dataset(get_profile("cpu"), n_train=50, n_test=10)
    assert d.synthetic
    assert "synthetic stand-in" in capsys.readouterr().out


# --- issue 14, case 7: a corrupt CIFAR-10 folder is not a dead end -----------------------------------
def _fake_cifar_archive(tmp_path, monkeypatch):
    """A CIFAR-10-shaped folder and archive with made-up contents, and torchvision's md5 list patched to match."""
    import hashlib
    import tarfile

    import resnet_lab.data as data_mod

    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    md5s = {}
    for i, name in enumerate(("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                              "test_batch", "batches.meta")):
        (src / name).write_bytes(bytes([i]) * 100)
        md5s[name] = hashlib.md5(bytes([i]) * 100).hexdigest()
    root = tmp_path / "data"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    monkeypatch.setattr(data_mod, "_expected_md5s", lambda: md5s)
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", data_mod._md5(root / "cifar-10-python.tar.gz"))
    return data_mod, root


def test_a_corrupt_file_is_named_and_re_extracted_from_a_verified_archive(tmp_path, monkeypatch):
    data_mod, root = _fake_cifar_archive(tmp_path, monkeypatch)
    data_mod.extract_cifar10(root / "cifar-10-python.tar.gz", root)
    assert data_mod.damaged_cifar10_files(root) == [] and not list(root.glob(".extract-*"))
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    assert data_mod.damaged_cifar10_files(root) == ["data_batch_3"]
    data_mod.repair_cifar10(root)  # a verified archive is at hand: extracted again
    assert data_mod.damaged_cifar10_files(root) == []
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    (root / "cifar-10-python.tar.gz").unlink()
    with pytest.raises(ValueError, match="test_batch") as err:
        data_mod.repair_cifar10(root)
    assert "download" in str(err.value) and "md5" in str(err.value)
