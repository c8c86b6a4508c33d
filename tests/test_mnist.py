"""MNIST through the same code as CIFAR-10: loading policy, the 1x28x28 stand-in, no flips, the CLI."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from resnet_lab import mnist
from resnet_lab.loader import DeviceLoader, random_crop_flip
from resnet_lab.models import build_model
from resnet_lab.train import cli


def test_standin_is_labelled_grey_28x28_and_deterministic():
    a = mnist.synthetic_mnist(200, 50, seed=1)
    b = mnist.synthetic_mnist(200, 50, seed=1)
    assert a.x_train.shape == (200, 1, 28, 28) and a.x_train.dtype == torch.uint8
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.label == "synthetic stand-in, not MNIST" and "NOT MNIST" in a.source
    assert a.in_channels == 1 and not a.mirror_symmetric and a.classes == mnist.MNIST_CLASSES
    assert sorted(a.y_train.bincount().tolist()) == [20] * 10  # balanced classes
    assert not torch.equal(a.x_train, mnist.synthetic_mnist(200, 50, seed=2).x_train)
    with pytest.raises(ValueError, match="n_train"):
        mnist.synthetic_mnist(0)


def test_standin_is_learnable_beyond_a_linear_model_and_chance():
    """A nearest-class-mean classifier on pixels already beats chance by far: there is structure to learn."""
    d = mnist.synthetic_mnist(1000, 300)
    x, xt = d.x_train.float().flatten(1), d.x_test.float().flatten(1)
    means = torch.stack([x[d.y_train == c].mean(0) for c in range(10)])
    acc = ((torch.cdist(xt, means).argmin(1)) == d.y_test).float().mean().item()
    assert acc > 0.3


def test_missing_mnist_names_how_to_place_it_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.delenv("RESNET_LAB_DOWNLOAD", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        mnist.load_mnist(tmp_path, download=False)
    msg = str(err.value)
    assert "MNIST" in msg and "raw" in msg and "RESNET_LAB_DATA" in msg and "gunzip" in msg
    assert not mnist.mnist_present(tmp_path)


def _write_idx(path, array: np.ndarray) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_load_mnist_reads_torchvisions_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    assert mnist.mnist_present(tmp_path)
    d = mnist.load_mnist(tmp_path, download=False)
    assert d.x_train.shape == (12, 1, 28, 28) and d.x_test.shape == (5, 1, 28, 28)
    assert d.label == "MNIST" and not d.synthetic and not d.mirror_symmetric


def test_digits_are_shifted_but_never_flipped():
    x = torch.arange(2 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(random_crop_flip(x, g1, pad=0, flip=False), x)  # no shift room: exactly the input
    flipped = random_crop_flip(x.repeat(32, 1, 1, 1), g2, pad=0, flip=True)
    assert any(torch.equal(f, x[i % 2].flip(-1)) for i, f in enumerate(flipped))  # with flips some are mirrored
    d = mnist.synthetic_mnist(64, 8)
    loader = DeviceLoader(d.x_train, d.y_train, batch_size=16, mean=(0.2,), std=(0.3,), pad=0, flip=False)
    xb, yb = next(iter(loader))
    assert xb.shape == (16, 1, 28, 28)
    with pytest.raises(ValueError, match="one value per channel"):
        DeviceLoader(d.x_train, d.y_train, batch_size=16, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))


def test_models_take_one_input_channel():
    for name in ("resnet20", "cifar_resnet18"):
        net = build_model(name, in_channels=1, **({"width": 4} if name == "resnet20" else {}))
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.slow
def test_cli_trains_the_mnist_standin_and_refuses_to_mix_data(tmp_path, capsys):
    ckpt = tmp_path / "run"
    hist = tmp_path / "h.json"
    args = ["--dataset", "mnist", "--synthetic", "--n-train", "300", "--epochs", "1", "--width", "4",
            "--batch-size", "32", "--no-progress", "--checkpoint-dir", str(ckpt), "--history-json", str(hist)]
    assert cli.main(args) == 0
    import json

    result = json.loads(hist.read_text())
    assert result["history"]["meta"]["data"] == "synthetic stand-in, not MNIST"
    capsys.readouterr()
    mixed = [a if a != "mnist" else "cifar10" for a in args] + ["--epochs", "2"]
    assert cli.main(mixed) == 2  # a CIFAR run may not resume an MNIST checkpoint
    err = capsys.readouterr().err
    assert "not MNIST' -> 'synthetic stand-in, not CIFAR-10'" in err and "(--no-resume)" not in err


def test_cli_names_the_valid_datasets(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--dataset", "imagenet", "--synthetic"])
    assert exit_.value.code == 2 and "cifar10" in capsys.readouterr().err
