"""Two ways to feed CIFAR-sized images to a training loop, with the same augmentation.

* :class:`DeviceLoader`, the fast path: the whole split lives on the device as uint8
  (50,000 CIFAR-10 images are 150 MB), and each batch is cropped (zero padding of 4, then a
  random 32x32 window), flipped and normalised *on the device, for the whole batch at once*.
  There is no per-image Python or PIL work and no worker process.
* :class:`TorchvisionLoader`, the classic path: a ``Dataset`` that makes one PIL image per
  sample (as ``torchvision.datasets.CIFAR10`` does), ``transforms.v2`` per image, and a
  ``DataLoader`` with worker processes that collates the batch on the CPU.

Both shard an epoch across the ranks of a DDP run (the device loader by slicing one shared
permutation, the classic one through ``DistributedSampler``), both can start an epoch at a given
batch (resuming an interrupted run), and both yield normalised float batches on the device.
:func:`benchmark_loaders` times them against each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .i18n import _

__all__ = [
    "LOADER_NAMES",
    "epoch_permutation",
    "shard",
    "crop_flip",
    "random_crop_flip",
    "DeviceLoader",
    "UInt8ImageDataset",
    "torchvision_transform",
    "TorchvisionLoader",
    "make_loader",
    "LoaderBenchmark",
    "benchmark_loaders",
    "speedup_summary",
]

LOADER_NAMES: tuple[str, ...] = ("device", "torchvision")
_MIX = 1_000_003  # a prime to mix (seed, epoch, batch, rank) into one generator seed


def _check_images(images: Tensor, labels: Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"expected one label per image, got labels of shape {tuple(labels.shape)} for {len(images)} images")


def _check_shard(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size-1 with world_size >= 1, got rank={rank}, world_size={world_size}")


def epoch_permutation(n: int, epoch: int, seed: int) -> Tensor:
    """The order of the ``n`` training images in ``epoch``: the same on every rank and every re-run."""
    g = torch.Generator().manual_seed(seed * _MIX + epoch)
    return torch.randperm(n, generator=g)


def shard(indices: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's share of ``indices``: every ``world_size``-th one, after dropping the remainder.

    Dropping the last ``len % world_size`` indices gives every rank the same number of samples,
    so all ranks run the same number of steps (DDP needs that).
    """
    _check_shard(rank, world_size)
    usable = len(indices) - len(indices) % world_size
    return indices[:usable][rank::world_size]


def crop_flip(images: Tensor, top: Tensor, left: Tensor, flip: Tensor, pad: int = 4) -> Tensor:
    """Crop every image at its own offset after zero padding by ``pad``, then flip the chosen ones.

    ``images`` (N, C, H, W) of any dtype; ``top``/``left`` (N,) integer offsets in ``0..2*pad``
    into the padded image; ``flip`` (N,) bool. Equals torchvision's ``RandomCrop(H, padding=pad)``
    followed by ``RandomHorizontalFlip`` with those draws, done for the whole batch by one gather.
    """
    n, c, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    rows = top.to(dev).long()[:, None] + torch.arange(h, device=dev)  # (N, H) rows of the padded image
    cols = left.to(dev).long()[:, None] + torch.arange(w, device=dev)  # (N, W)
    cols = torch.where(flip.to(dev)[:, None], cols.flip(1), cols)  # a flip reads the columns backwards
    n_idx = torch.arange(n, device=dev)[:, None, None, None]
    c_idx = torch.arange(c, device=dev)[None, :, None, None]
    return padded[n_idx, c_idx, rows[:, None, :, None], cols[:, None, None, :]]


def random_crop_flip(images: Tensor, generator: torch.Generator | None = None, pad: int = 4, *, flip: bool = True) -> Tensor:
    """The standard CIFAR augmentation (random crop with zero padding ``pad``, random flip) for a batch.

    ``flip=False`` only shifts: for digits, whose mirror image is not the same digit (a mirrored 2
    or 7 is no digit at all, and the net would learn to accept it).
    """
    n = len(images)
    dev = images.device
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=dev)
    flips = torch.rand(n, generator=generator, device=dev) < 0.5
    flip = flips if flip else torch.zeros_like(flips)  # same draws either way: the shifts do not change
    return crop_flip(images, offsets[0], offsets[1], flip, pad)


class DeviceLoader:
    """Batches of a uint8 image tensor kept on ``device``, augmented and normalised there.

    ``batch_size`` is per rank. ``train=True`` shuffles (one permutation per epoch shared by all
    ranks, each rank taking its shard), augments and drops the last incomplete batch;
    ``train=False`` keeps the order, does not augment and keeps every image. The random draws of
    a batch depend only on ``(seed, epoch, batch index, rank)``, so an epoch resumed at batch
    ``k`` sees exactly what an uninterrupted one would.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str | None = None,
        train: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        pad: int = 4,
        flip: bool = True,
    ) -> None:
        _check_images(images, labels)
        _check_shard(rank, world_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device).contiguous()  # uint8: 4x smaller than float32
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.train = train
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.channels_last = channels_last
        self.pad = pad
        self.flip = flip  # False for digits (see random_crop_flip)
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({images.shape[1]}), got {len(mean)} and {len(std)}")
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        # (x/255 - mean)/std as one multiply-add: x * scale + shift
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -mean_t / std_t
        self._epoch = 0
        self._gen = torch.Generator(device=self.device)

    @property
    def samples_per_rank(self) -> int:
        n = len(self.labels)
        return n // self.world_size if self.train else len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        if self.train:
            return self.samples_per_rank // self.batch_size
        return -(-self.samples_per_rank // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch that ``iter(loader)`` runs (as ``DistributedSampler.set_epoch``)."""
        self._epoch = epoch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.epoch(self._epoch)

    def _order(self, epoch: int) -> Tensor:
        n = len(self.labels)
        if self.train:
            return shard(epoch_permutation(n, epoch, self.seed), self.rank, self.world_size)
        return torch.arange(self.rank, n, self.world_size)

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (N, C, H, W) on the device -> normalised float32 (channels_last if asked)."""
        x = images.float() * self._scale + self._shift
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of ``epoch``, starting at batch ``start_batch``."""
        order = self._order(epoch).to(self.device)
        for b in range(start_batch, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[idx]
            if self.train:
                self._gen.manual_seed(((self.seed * _MIX + epoch) * _MIX + b) * 64 + self.rank)
                x = random_crop_flip(x, self._gen, self.pad, flip=self.flip)
            yield self.normalize(x), self.labels[idx]


class UInt8ImageDataset(Dataset):
    """Images as CIFAR-10 ships them (HWC uint8 arrays), one PIL image per ``__getitem__``.

    This mirrors ``torchvision.datasets.CIFAR10``, so the classic path below does the same
    per-image work as the usual tutorials.
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: object | None = None) -> None:
        _check_images(images, labels)
        self.data: np.ndarray = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C)
        self.targets: list[int] = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[object, int]:
        from PIL import Image

        img: object = Image.fromarray(self.data[i])
        if self.transform is not None:
            img = self.transform(img)  # type: ignore[operator]
        return img, self.targets[i]


def torchvision_transform(mean: Sequence[float], std: Sequence[float], *, train: bool, pad: int = 4, size: int = 32,
                          flip: bool = True) -> object:
    """The classic per-image pipeline with ``torchvision.transforms.v2`` (``flip=False`` for digits)."""
    from torchvision.transforms import v2

    steps: list[object] = [v2.ToImage()]
    if train:
        steps += [v2.RandomCrop(size, padding=pad)] + ([v2.RandomHorizontalFlip()] if flip else [])
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


class _EpochBatchSampler:
    """Batches of indices for the current epoch, from a ``DistributedSampler``, from a start batch on."""

    def __init__(self, sampler: DistributedSampler, batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.start_batch = 0

    def __len__(self) -> int:
        n = len(self.sampler)
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return full - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        idx = list(self.sampler)
        n_batches = len(idx) // self.batch_size if self.drop_last else -(-len(idx) // self.batch_size)
        for b in range(self.start_batch, n_batches):
            yield idx[b * self.batch_size : (b + 1) * self.batch_size]


class TorchvisionLoader:
    """The classic path: PIL images, ``transforms.v2`` per image, a ``DataLoader`` with workers.

    Same interface as :class:`DeviceLoader`. Sharding for DDP uses ``DistributedSampler``
    (with ``num_replicas=world_size``, ``rank=rank``; it works without a process group too).
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str | None = None,
        train: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        num_workers: int = 2,
        pad: int = 4,
        flip: bool = True,
    ) -> None:
        _check_shard(rank, world_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        transform = torchvision_transform(mean, std, train=train, pad=pad, size=int(images.shape[-1]), flip=flip)
        self.dataset = UInt8ImageDataset(images, labels, transform)
        self.train = train
        self.channels_last = channels_last
        self.batch_size = batch_size
        self.sampler = DistributedSampler(
            self.dataset, num_replicas=world_size, rank=rank, shuffle=train, seed=seed, drop_last=train
        )
        self.batch_sampler = _EpochBatchSampler(self.sampler, batch_size, drop_last=train)
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.batch_sampler,  # type: ignore[arg-type]
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
        )
        self._epoch = 0

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.epoch(self._epoch)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        self.sampler.set_epoch(epoch)
        self.batch_sampler.start_batch = start_batch
        non_blocking = self.device.type == "cuda"
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=non_blocking)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=non_blocking)


def make_loader(
    kind: str,
    images: Tensor,
    labels: Tensor,
    *,
    num_workers: int = 2,
    **kwargs: object,
) -> DeviceLoader | TorchvisionLoader:
    """A loader by name: ``"device"`` or ``"torchvision"`` (keyword arguments as the classes take)."""
    if kind == "device":
        return DeviceLoader(images, labels, **kwargs)  # type: ignore[arg-type]
    if kind == "torchvision":
        return TorchvisionLoader(images, labels, num_workers=num_workers, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown loader {kind!r}; valid loaders: {', '.join(LOADER_NAMES)}")


@dataclass(frozen=True)
class LoaderBenchmark:
    """Images per second of loading + augmentation + normalisation, for both paths."""

    device_images_per_s: float
    torchvision_images_per_s: float
    batch_size: int
    batches: int
    num_workers: int
    device: str

    @property
    def ratio(self) -> float:
        """How many times faster the device loader is."""
        return self.device_images_per_s / self.torchvision_images_per_s

    def __str__(self) -> str:
        return (
            f"device loader      : {self.device_images_per_s:12,.0f} images/s\n"
            f"torchvision loader : {self.torchvision_images_per_s:12,.0f} images/s "
            f"({self.num_workers} worker processes)\n"
            f"ratio              : {self.ratio:12.1f}x  (batch {self.batch_size}, {self.batches} batches, {self.device})"
        )


def speedup_summary(bench: LoaderBenchmark) -> str:
    """One sentence on how many times the images per second of the DataLoader the device loader delivers
    on the benchmark's device (a leading blank line included), in the learner's language."""
    return "\n" + _("The device loader delivers {ratio:.1f}x the images per second of the DataLoader on {device}.").format(
        ratio=bench.ratio, device=bench.device)


def _time_batches(loader: DeviceLoader | TorchvisionLoader, n_batches: int, device: torch.device) -> float:
    """Images/s over ``n_batches`` batches, after one warm-up batch (worker start-up not counted)."""
    it = loader.epoch(0)
    next(it)  # warm-up: starts the workers, allocates buffers
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    seen = 0
    for _unused in range(n_batches):
        x, _y = next(it)
        seen += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - t0)


def benchmark_loaders(
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int = 128,
    n_batches: int = 20,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.25, 0.25, 0.25),
    device: torch.device | str | None = None,
    num_workers: int = 2,
) -> LoaderBenchmark:
    """Time the two training loaders on the same images with the same batch size.

    Only loading, augmentation (crop + flip), normalisation and the copy to ``device`` are
    timed; no model runs. Needs ``(n_batches + 1) * batch_size`` images.
    """
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    need = (n_batches + 1) * batch_size
    if len(images) < need:
        raise ValueError(f"{n_batches} batches of {batch_size} plus one warm-up batch need {need} images, got {len(images)}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    common = dict(batch_size=batch_size, mean=mean, std=std, device=dev, train=True)
    fast = DeviceLoader(images, labels, **common)  # type: ignore[arg-type]
    classic = TorchvisionLoader(images, labels, num_workers=num_workers, **common)  # type: ignore[arg-type]
    fast_ips = _time_batches(fast, n_batches, dev)
    classic_ips = _time_batches(classic, n_batches, dev)
    del classic  # ends the worker processes
    return LoaderBenchmark(fast_ips, classic_ips, batch_size, n_batches, num_workers, str(dev))
