"""CIFAR-10 and its learnable synthetic stand-in, both as uint8 tensors of shape (N, 3, 32, 32).

Real data comes through :class:`torchvision.datasets.CIFAR10` from the directory named by
``$RESNET_LAB_DATA`` (default: ``~/.cache/resnet_lab/data``, or under ``$XDG_CACHE_HOME``). A copy
already there is used as it is. Downloads happen only when allowed (argument ``download=True``
or ``$RESNET_LAB_DOWNLOAD=1``); a mirror is accepted only when its archive has the md5 of the
original. Without the data, lessons run on :func:`synthetic_cifar`, which always says so.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from .i18n import N_, _

__all__ = [
    "show",
    "show_class",
    "CIFAR10_CLASSES",
    "real_or_standin",
    "damaged_cifar10_files",
    "repair_cifar10",
    "extract_cifar10",
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "DATA_ENV",
    "DOWNLOAD_ENV",
    "ImageData",
    "data_root",
    "cifar10_present",
    "download_allowed",
    "download_cifar10",
    "load_cifar10",
    "synthetic_cifar",
    "get_dataset",
    "train_val_split",
    "channel_stats",
    "normalize",
]

# How the data names itself, in English (history files, cache keys and references store these exact
# strings); :func:`show` puts them in the learner's language where they are displayed.
_STANDIN = N_("synthetic stand-in")
_STANDIN_LABEL = N_("synthetic stand-in, not {name}")
_STANDIN_SOURCE = N_("synthetic stand-in (seed {seed}), NOT {name}")
_SYNTHETIC_CLASS = N_("synthetic {index}")
_CLASS_NAMES = (N_("airplane"), N_("automobile"), N_("bird"), N_("cat"), N_("deer"), N_("dog"), N_("frog"),
                N_("horse"), N_("ship"), N_("truck"))
_NAME = r"(?P<name>[A-Za-z][A-Za-z0-9-]*)"
_SHOW_PATTERNS = (
    (re.compile(r"synthetic stand-in \(seed (?P<seed>-?\d+)\), NOT " + _NAME), _STANDIN_SOURCE),
    (re.compile(r"synthetic stand-in, not " + _NAME), _STANDIN_LABEL),
)


def show(text: str) -> str:
    """A data label or source (``data.label``, ``data.source``, ``history.meta["data"]``) as the learner reads it.

    The labels stay English as data (they are saved in histories, references and cache keys); this
    translates the stand-in's tags inside ``text`` at display time. English text comes back unchanged.
    """
    text = str(text)
    if text == _STANDIN:
        return _(_STANDIN)
    for pattern, template in _SHOW_PATTERNS:
        text = pattern.sub(lambda m, t=template: _(t).format(**m.groupdict()), text)
    return text


def show_class(name: str) -> str:
    """A class name (CIFAR-10's ``"cat"``, the stand-in's ``"synthetic 3"``) in the learner's language."""
    m = re.fullmatch(r"synthetic (\d+)", name)
    if m:
        return _(_SYNTHETIC_CLASS).format(index=m.group(1))
    return _(name) if name in _CLASS_NAMES else name


DATA_ENV = "RESNET_LAB_DATA"
DOWNLOAD_ENV = "RESNET_LAB_DOWNLOAD"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# The original archive and its checksum, as published by the data set's authors (and used by torchvision).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_ARCHIVE = "cifar-10-python.tar.gz"
_FOLDER = "cifar-10-batches-py"
_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")


def _expected_md5s() -> dict[str, str]:
    """md5 of every extracted file, from torchvision's own list (``CIFAR10.train_list`` etc.)."""
    from torchvision.datasets import CIFAR10

    pairs = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    return {name: md5 for name, md5 in pairs}


@dataclass(frozen=True)
class ImageData:
    """A labelled image data set with train and test splits, images as uint8 (N, C, H, W).

    CIFAR-10 and its stand-in are (N, 3, 32, 32); MNIST and its stand-in (:mod:`resnet_lab.mnist`)
    are (N, 1, 28, 28). ``name`` is the real data set this is (or stands in for);
    ``mirror_symmetric`` says whether a horizontal flip keeps an image's label (true for CIFAR-10's
    objects, false for digits), so the loaders flip only where it is.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]
    source: str  # human-readable origin, shown in outputs and plot titles
    synthetic: bool
    name: str = "CIFAR-10"
    mirror_symmetric: bool = True

    @property
    def label(self) -> str:
        """Short tag for plot titles: ``CIFAR-10`` or ``synthetic stand-in, not CIFAR-10`` (``MNIST``, ...)."""
        return _STANDIN_LABEL.format(name=self.name) if self.synthetic else self.name

    @property
    def in_channels(self) -> int:
        """Channels of an image: 3 (colour) or 1 (grey)."""
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        return _("ImageData({source}: {n_train} train / {n_test} test images, {n_classes} classes)").format(
            source=show(self.source), n_train=len(self.y_train), n_test=len(self.y_test), n_classes=len(self.classes))

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> ImageData:
        """The first ``n_train`` training and ``n_test`` test images (None keeps all)."""
        return replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )


def data_root() -> Path:
    """Where CIFAR-10 lives: ``$RESNET_LAB_DATA``, else ``<cache>/resnet_lab/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "resnet_lab" / "data"


def cifar10_present(root: str | Path | None = None) -> bool:
    """True when the extracted CIFAR-10 python batches are in ``root``."""
    folder = Path(root if root is not None else data_root()) / _FOLDER
    return all((folder / f).is_file() for f in _FILES)


def download_allowed() -> bool:
    """Whether ``$RESNET_LAB_DOWNLOAD`` allows downloading (``1``, ``true`` or ``yes``)."""
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manual_instructions(root: Path) -> str:
    return _(
        "CIFAR-10 is not in {root}. To place it by hand: download {url} "
        "(md5 {md5}) on a machine with internet access, copy it to {archive_path} and run "
        "`tar -xzf {archive}` there, so that {folder_path} holds {files}. "
        "Or set {data_env} to a folder that already holds {folder}/, "
        "or allow the download with download=True or {download_env}=1."
    ).format(root=root, url=CIFAR10_URL, md5=CIFAR10_MD5, archive_path=root / _ARCHIVE, archive=_ARCHIVE,
             folder_path=root / _FOLDER, files=", ".join(_FILES), data_env=DATA_ENV, folder=_FOLDER,
             download_env=DOWNLOAD_ENV)


def download_cifar10(root: str | Path | None = None, url: str = CIFAR10_URL) -> Path:
    """Download and extract CIFAR-10 into ``root``; returns the extracted folder.

    ``url`` may be a mirror; its archive is kept only if its md5 equals the original's
    (:data:`CIFAR10_MD5`). The archive is written to a temporary file and renamed, so an
    interrupted download leaves nothing half-written behind.
    """
    root = Path(root if root is not None else data_root())
    root.mkdir(parents=True, exist_ok=True)
    archive = root / _ARCHIVE
    if not (archive.is_file() and _md5(archive) == CIFAR10_MD5):
        fd, tmp_name = tempfile.mkstemp(dir=root, suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
            got = _md5(tmp)
            if got != CIFAR10_MD5:
                raise ValueError(
                    f"the archive from {url} has md5 {got}, not the original's {CIFAR10_MD5}; "
                    "it was discarded. Use the original URL or a mirror of the identical file."
                )
            os.replace(tmp, archive)
        except OSError as exc:
            raise RuntimeError(f"could not download CIFAR-10 from {url}: {exc}. {_manual_instructions(root)}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    return extract_cifar10(archive, root)


def extract_cifar10(archive: str | Path, root: str | Path) -> Path:
    """Extract the archive into a temporary folder inside ``root``, then rename it into place.

    An interrupted extraction never leaves a half-filled ``cifar-10-batches-py``; a damaged folder
    already there is replaced only once the new one is complete.
    """
    root = Path(root)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".extract-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
        target = root / _FOLDER
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / _FOLDER, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def damaged_cifar10_files(root: str | Path | None = None) -> list[str]:
    """Names of the extracted CIFAR-10 files that are missing or whose md5 is not torchvision's."""
    folder = Path(root if root is not None else data_root()) / _FOLDER
    return [name for name, md5 in _expected_md5s().items()
            if not (folder / name).is_file() or _md5(folder / name) != md5]


def repair_cifar10(root: str | Path) -> None:
    """Check every extracted file; re-extract from a verified archive if one is damaged, else say which.

    Raises ValueError naming the damaged files and the way out when no verified archive is at hand.
    """
    root = Path(root)
    bad = damaged_cifar10_files(root)
    if not bad:
        return
    archive = root / _ARCHIVE
    if archive.is_file() and _md5(archive) == CIFAR10_MD5:
        extract_cifar10(archive, root)
        bad = damaged_cifar10_files(root)
        if not bad:
            return
    what = (_("CIFAR-10 in {folder_path} is damaged: {files} is missing or not the original file (md5 differs).")
            if len(bad) == 1 else
            _("CIFAR-10 in {folder_path} is damaged: {files} are missing or not the original file (md5 differs)."))
    raise ValueError(
        what.format(folder_path=root / _FOLDER, files=", ".join(bad)) + " " + _(
            "Delete that folder and place the original {archive} (md5 {md5}) in {root}, or allow the download "
            "({download_env}=1 / --download); the archive is then verified and extracted again."
        ).format(archive=_ARCHIVE, md5=CIFAR10_MD5, root=root, download_env=DOWNLOAD_ENV)
    )


def load_cifar10(
    root: str | Path | None = None, *, download: bool | None = None, mirror: str | None = None
) -> ImageData:
    """CIFAR-10 as uint8 tensors through ``torchvision.datasets.CIFAR10``.

    ``download=None`` follows ``$RESNET_LAB_DOWNLOAD``. Raises FileNotFoundError, with
    instructions for placing the archive by hand, when the data is absent and may not be fetched.
    """
    from torchvision.datasets import CIFAR10

    root = Path(root if root is not None else data_root())
    if not cifar10_present(root):
        allowed = download_allowed() if download is None else download
        if not allowed:
            raise FileNotFoundError(_manual_instructions(root))
        download_cifar10(root, mirror or CIFAR10_URL)
    repair_cifar10(root)
    splits = []
    for train in (True, False):
        ds = CIFAR10(str(root), train=train, download=False)  # checks every file's md5
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)
        y = torch.tensor(ds.targets, dtype=torch.int64)
        splits += [x, y]
    return ImageData(*splits, classes=CIFAR10_CLASSES, source=f"CIFAR-10 from {root}", synthetic=False)


def _smooth_field(g: torch.Generator, n: int, coarse: int, size: int) -> Tensor:
    """``n`` random colour fields (n, 3, size, size): Gaussian noise on a coarse grid, upsampled."""
    field = torch.randn(n, 3, coarse, coarse, generator=g)
    return torch.nn.functional.interpolate(field, size=(size, size), mode="bicubic", align_corners=False)


def synthetic_cifar(
    n_train: int = 5000, n_test: int = 1000, *, seed: int = 0, noise: float = 0.6, prototypes: int = 6
) -> ImageData:
    """A learnable stand-in for CIFAR-10: 10 classes of 3x32x32 uint8 images, deterministic from ``seed``.

    Each class owns ``prototypes`` smooth colour images carrying a class-specific oriented stripe
    pattern. A sample is one of its class's prototypes, shifted by up to 4 pixels, flipped or not,
    with random contrast, mixed with a prototype of another class as a distractor, plus pixel noise.
    A small convnet learns it within a few hundred steps; a linear model on pixels does much worse,
    so depth and shortcuts matter on it. It is NOT CIFAR-10, and everything built on it says so.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("prototypes", prototypes)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    num_classes, big, size = 10, 40, 32
    g = torch.Generator().manual_seed(seed)
    # The "world": prototypes shared by the train and test splits.
    protos = 0.8 * _smooth_field(g, num_classes * prototypes, 4, big)
    yy, xx = torch.meshgrid(torch.arange(big, dtype=torch.float32), torch.arange(big, dtype=torch.float32), indexing="ij")
    for c in range(num_classes):
        theta = math.pi * c / num_classes
        freq = 2 * math.pi / (5.0 + 1.5 * (c % 3))
        stripes = torch.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)))
        colour = torch.randn(3, 1, 1, generator=g)
        protos[c * prototypes : (c + 1) * prototypes] += 0.6 * colour * stripes

    def draw(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        labels = torch.arange(n) % num_classes
        labels = labels[torch.randperm(n, generator=gen)]
        out = torch.empty(n, 3, size, size, dtype=torch.uint8)
        for start in range(0, n, 4096):
            y = labels[start : start + 4096]
            m = len(y)
            which = y * prototypes + torch.randint(prototypes, (m,), generator=gen)
            other_cls = (y + torch.randint(1, num_classes, (m,), generator=gen)) % num_classes
            other = other_cls * prototypes + torch.randint(prototypes, (m,), generator=gen)
            oy, ox = torch.randint(0, big - size + 1, (2, m), generator=gen)
            rows = (oy[:, None] + torch.arange(size))[:, None, :, None]
            cols = (ox[:, None] + torch.arange(size))[:, None, None, :]
            idx = torch.arange(m)[:, None, None, None]
            chans = torch.arange(3)[None, :, None, None]
            img = protos[which][idx, chans, rows, cols]
            distractor = protos[other][idx, chans, rows.flip(2), cols]
            flip = torch.rand(m, generator=gen) < 0.5
            img[flip] = img[flip].flip(-1)
            contrast = 0.6 + 0.8 * torch.rand(m, 1, 1, 1, generator=gen)
            mix = 0.4 + 0.4 * torch.rand(m, 1, 1, 1, generator=gen)
            img = contrast * img + mix * distractor + noise * torch.randn(img.shape, generator=gen)
            out[start : start + m] = (128 + 48 * img).round().clamp(0, 255).to(torch.uint8)
        return out, labels

    x_train, y_train = draw(n_train, torch.Generator().manual_seed(seed * 1_000_003 + 1))
    x_test, y_test = draw(n_test, torch.Generator().manual_seed(seed * 1_000_003 + 2))
    classes = tuple(_SYNTHETIC_CLASS.format(index=i) for i in range(num_classes))
    return ImageData(x_train, y_train, x_test, y_test, classes, _STANDIN_SOURCE.format(seed=seed, name="CIFAR-10"), True)


def get_dataset(
    profile: object,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool | None = None,
) -> ImageData:
    """The data a lesson runs on: CIFAR-10 when the profile uses real data and it can be had, else the stand-in.

    ``profile`` is a :class:`resnet_lab.profiles.Profile`. With ``download=None`` the ``gpu`` profile
    downloads when ``$RESNET_LAB_DOWNLOAD`` is not set to something else, the others only when it is
    ``1``. The quick profile never touches the disk or the network. Sizes cap the number of images.
    """
    return real_or_standin(
        profile, "CIFAR-10",
        lambda allowed: load_cifar10(root, download=allowed).subset(n_train, n_test),
        lambda: synthetic_cifar(n_train or 5000, n_test or 1000, seed=seed),
        download=download,
    )


def real_or_standin(
    profile: object,
    name: str,
    load_real: Callable[[bool], ImageData],
    standin: Callable[[], ImageData],
    *,
    download: bool | None = None,
) -> ImageData:
    """THE data policy of every data set (CIFAR-10, MNIST): ``load_real(download_allowed)`` when the
    profile uses real data, else or when that fails (a missing or damaged copy) ``standin()``, saying why.

    With ``download=None`` the ``gpu`` profile downloads unless ``$RESNET_LAB_DOWNLOAD`` says otherwise;
    the other profiles only when it is ``1``.
    """
    if bool(getattr(profile, "use_real_data", False)):
        if download is None:
            env = os.environ.get(DOWNLOAD_ENV)
            download = download_allowed() if env is not None else getattr(profile, "name", None) == "gpu"
        try:
            return load_real(download)
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            print(_("{name} not available ({error}); using the synthetic stand-in instead.").format(
                name=name, error=type(exc).__name__) + f"\n  {exc}")
    return standin()


def train_val_split(n: int, n_val: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random disjoint index sets (train, validation) over ``range(n)``: 45k/5k for CIFAR-10.

    Choose hyper-parameters and checkpoints on the validation part; report the test set once.
    """
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and n-1 = {n - 1}, got {n_val}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), in [0, 1] units.

    Computed from the data rather than pasted (for CIFAR-10's training set they come out near
    (0.491, 0.482, 0.447) and (0.247, 0.243, 0.262)).
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    x = images.to(torch.float64).div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(x.mean(1).tolist()), tuple(x.std(1).tolist())


def normalize(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 (N, C, H, W) -> float32, scaled to [0, 1] and standardised per channel."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255 - m) / s
