"""MNIST and its learnable synthetic stand-in, as uint8 tensors of shape (N, 1, 28, 28).

The same policy as CIFAR-10 (:mod:`resnet_lab.data`): the files come through
:class:`torchvision.datasets.MNIST` from ``$RESNET_LAB_DATA`` (a copy already there is used as it is),
a download happens only where allowed (``download=True`` or ``$RESNET_LAB_DOWNLOAD=1``), and without
the data the lessons run on :func:`synthetic_mnist`, which always says so. Digits are not mirror
symmetric, so the loaders shift them but never flip them (``ImageData.mirror_symmetric`` is False).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .data import _STANDIN_SOURCE, ImageData, data_root, download_allowed, real_or_standin
from .i18n import _

__all__ = ["MNIST_CLASSES", "MNIST_FILES", "mnist_present", "load_mnist", "synthetic_mnist", "get_mnist"]

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
# The four files torchvision's MNIST reads, extracted, in <root>/MNIST/raw/.
MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


def mnist_present(root: str | Path | None = None) -> bool:
    """True when the four extracted MNIST files are in ``<root>/MNIST/raw``."""
    raw = Path(root if root is not None else data_root()) / "MNIST" / "raw"
    return all((raw / name).is_file() for name in MNIST_FILES)


def _manual_instructions(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    names = ", ".join(f"{n}.gz" for n in MNIST_FILES)
    return _(
        "MNIST is not in {raw}. To place it by hand: on a machine with internet access download {names} "
        "(torchvision's MNIST mirrors list them, e.g. https://ossci-datasets.s3.amazonaws.com/mnist/), copy them to "
        "{raw} and run `gunzip *.gz` there, so that it holds {files}. Or set RESNET_LAB_DATA to a "
        "folder that already holds MNIST/raw/, or allow the download with download=True or RESNET_LAB_DOWNLOAD=1."
    ).format(raw=raw, names=names, files=", ".join(MNIST_FILES))


def load_mnist(root: str | Path | None = None, *, download: bool | None = None) -> ImageData:
    """MNIST as uint8 tensors (N, 1, 28, 28) through ``torchvision.datasets.MNIST``.

    ``download=None`` follows ``$RESNET_LAB_DOWNLOAD``. Raises FileNotFoundError, with instructions
    for placing the files by hand, when the data is absent and may not be fetched.
    """
    from torchvision.datasets import MNIST

    root = Path(root if root is not None else data_root())
    allowed = download_allowed() if download is None else download
    if not mnist_present(root) and not allowed:
        raise FileNotFoundError(_manual_instructions(root))
    splits = []
    for train in (True, False):
        ds = MNIST(str(root), train=train, download=allowed)  # torchvision checks the downloads' md5
        splits += [ds.data.unsqueeze(1).contiguous(), ds.targets.to(torch.int64)]
    return ImageData(*splits, classes=MNIST_CLASSES, source=f"MNIST from {root}", synthetic=False, name="MNIST",
                     mirror_symmetric=False)


def _segments_image(ends: Tensor, width: Tensor, size: int = 28) -> Tensor:
    """Render strokes: ``ends`` (N, S, 4) segment end points (x0, y0, x1, y1) in pixels, ``width`` (N, 1, 1)."""
    coords = torch.arange(size, dtype=torch.float32)
    py = coords.view(1, 1, size, 1)
    px = coords.view(1, 1, 1, size)
    x0, y0, x1, y1 = (ends[..., i].unsqueeze(-1).unsqueeze(-1) for i in range(4))  # (N, S, 1, 1)
    dx, dy = x1 - x0, y1 - y0
    t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
    dist2 = (px - x0 - t * dx) ** 2 + (py - y0 - t * dy) ** 2  # (N, S, size, size)
    ink = torch.exp(-dist2 / (2 * width.unsqueeze(1) ** 2)).amax(dim=1)  # the darkest stroke wins
    return ink


def synthetic_mnist(n_train: int = 6000, n_test: int = 1000, *, seed: int = 0, noise: float = 0.15,
                    prototypes: int = 5, strokes: int = 3) -> ImageData:
    """A learnable stand-in for MNIST: 10 classes of 1x28x28 uint8 "glyphs", deterministic from ``seed``.

    Each class owns ``prototypes`` variants of one class-specific figure of ``strokes`` line
    segments (white on black, like MNIST). A sample is a prototype with its end points jittered by
    up to 1.5 pixels, shifted by up to 3 pixels, drawn with a random stroke width, plus pixel noise.
    A small convnet learns it within a few hundred steps. It is NOT MNIST, and everything built on
    it says so (its ``label`` is "synthetic stand-in, not MNIST").
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("prototypes", prototypes), ("strokes", strokes)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    num_classes, size = 10, 28
    g = torch.Generator().manual_seed(seed)
    base = 6 + 16 * torch.rand(num_classes, 1, strokes, 4, generator=g)  # figures inside the central 6..22 box
    protos = (base + 2.0 * torch.randn(num_classes, prototypes, strokes, 4, generator=g)).clamp(4, 24)

    def draw(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
        out = torch.empty(n, 1, size, size, dtype=torch.uint8)
        for start in range(0, n, 2048):
            y = labels[start : start + 2048]
            m = len(y)
            ends = protos[y, torch.randint(prototypes, (m,), generator=gen)]  # (m, S, 4)
            ends = ends + 1.5 * (2 * torch.rand(ends.shape, generator=gen) - 1)
            shift = torch.randint(-3, 4, (m, 1, 2), generator=gen).float().repeat(1, 1, 2)  # same shift for both ends
            width = 0.9 + 0.8 * torch.rand(m, 1, 1, generator=gen)
            ink = _segments_image(ends + shift, width, size)
            img = ink + noise * torch.randn(ink.shape, generator=gen).abs()
            out[start : start + m, 0] = (255 * img).round().clamp(0, 255).to(torch.uint8)
        return out, labels

    x_train, y_train = draw(n_train, torch.Generator().manual_seed(seed * 1_000_003 + 11))
    x_test, y_test = draw(n_test, torch.Generator().manual_seed(seed * 1_000_003 + 12))
    return ImageData(x_train, y_train, x_test, y_test, MNIST_CLASSES, _STANDIN_SOURCE.format(seed=seed, name="MNIST"),
                     True, name="MNIST", mirror_symmetric=False)


def get_mnist(profile: object, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
              root: str | Path | None = None, download: bool | None = None) -> ImageData:
    """MNIST when the profile uses real data and it can be had, else the stand-in (as ``data.get_dataset``)."""
    return real_or_standin(
        profile, "MNIST",
        lambda allowed: load_mnist(root, download=allowed).subset(n_train, n_test),
        lambda: synthetic_mnist(n_train or 6000, n_test or 1000, seed=seed),
        download=download,
    )
