"""Tests of resnet_lab.loader: the device loader against torchvision's transforms, sharding, resuming."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from resnet_lab.data import normalize, synthetic_cifar
from resnet_lab.loader import (
    DeviceLoader,
    TorchvisionLoader,
    benchmark_loaders,
    crop_flip,
    epoch_permutation,
    make_loader,
    random_crop_flip,
    shard,
)

MEAN, STD = (0.5, 0.45, 0.4), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def data():
    return synthetic_cifar(200, 10, seed=2)


def test_crop_flip_equals_torchvision_pad_crop_flip(data):
    x = data.x_train[:24]
    g = torch.Generator().manual_seed(0)
    top, left = torch.randint(0, 9, (2, 24), generator=g)
    flip = torch.rand(24, generator=g) < 0.5
    ours = crop_flip(x, top, left, flip, pad=4)
    for i in range(24):
        ref = TF.crop(TF.pad(x[i], [4]), int(top[i]), int(left[i]), 32, 32)  # RandomCrop(32, padding=4)
        if flip[i]:
            ref = TF.horizontal_flip(ref)
        assert torch.equal(ours[i], ref), i
    assert ours.dtype == torch.uint8


def test_random_crop_flip_reaches_every_offset_and_flips_half():
    x = torch.zeros(2000, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 0, 0] = 255  # a marker pixel: where it lands tells the offset and the flip
    out = random_crop_flip(x, torch.Generator().manual_seed(1), pad=2)
    pos = out.view(len(out), -1).argmax(1)
    rows, cols = pos // 8, pos % 8
    seen = out.view(len(out), -1).amax(1) > 0  # marker still inside the crop
    assert set(rows[seen].tolist()) == {0, 1, 2} and set(cols[seen].tolist()) == {0, 1, 2, 5, 6, 7}
    flipped = (cols[seen] >= 5).double().mean().item()
    assert 0.4 < flipped < 0.6


def test_shards_are_disjoint_and_equal_sized():
    perm = epoch_permutation(103, epoch=2, seed=5)
    assert torch.equal(perm, epoch_permutation(103, 2, 5)) and not torch.equal(perm, epoch_permutation(103, 3, 5))
    parts = [shard(perm, r, 4) for r in range(4)]
    assert {len(p) for p in parts} == {25}
    together = torch.cat(parts)
    assert len(set(together.tolist())) == 100 and set(together.tolist()) <= set(perm.tolist())
    with pytest.raises(ValueError, match="rank"):
        shard(perm, 4, 4)


def test_device_loader_eval_batches_are_the_normalised_images(data):
    loader = DeviceLoader(data.x_train, data.y_train, batch_size=64, mean=MEAN, std=STD, train=False)
    xs, ys = zip(*loader)
    assert len(loader) == len(xs) == 4
    assert torch.allclose(torch.cat(xs), normalize(data.x_train, MEAN, STD), atol=1e-5)
    assert torch.equal(torch.cat(ys), data.y_train)


def test_device_loader_train_epoch_and_resume(data):
    loader = DeviceLoader(data.x_train, data.y_train, batch_size=48, mean=MEAN, std=STD, seed=7)
    assert len(loader) == 200 // 48
    full = list(loader.epoch(3))
    tail = list(loader.epoch(3, start_batch=2))  # resuming at batch 2 gives exactly the same batches
    for (xa, ya), (xb, yb) in zip(full[2:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert len(tail) == len(full) - 2
    # each batch is the epoch's permutation, augmented: labels follow the permutation
    order = epoch_permutation(200, 3, 7)
    assert torch.equal(torch.cat([y for _, y in full]), data.y_train[order[: 48 * len(full)]])
    assert not torch.equal(full[0][0], list(loader.epoch(4))[0][0])


def test_device_loader_two_ranks_split_the_epoch(data):
    kw = dict(batch_size=25, mean=MEAN, std=STD, seed=1, world_size=2)
    labels = torch.arange(200)  # labels = image index, to see which images a rank got
    seen = [torch.cat([y for _, y in DeviceLoader(data.x_train, labels, rank=r, **kw).epoch(0)]) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 100
    assert not set(seen[0].tolist()) & set(seen[1].tolist())


def test_torchvision_loader_matches_device_loader_without_augmentation(data):
    kw = dict(batch_size=64, mean=MEAN, std=STD, train=False)
    fast = torch.cat([x for x, _ in DeviceLoader(data.x_train, data.y_train, **kw)])
    classic = torch.cat([x for x, _ in TorchvisionLoader(data.x_train, data.y_train, num_workers=0, **kw)])
    assert torch.allclose(fast, classic, atol=1e-5)


def test_torchvision_loader_augments_like_the_device_loader(data):
    """Every classic training image is one of the 81 x 2 crop/flip variants of its source image."""
    loader = TorchvisionLoader(data.x_train, torch.arange(200), batch_size=16, mean=MEAN, std=STD,
                               num_workers=0, seed=3, world_size=2, rank=1)
    assert len(loader) == 100 // 16
    x, idx = next(iter(loader.epoch(0, start_batch=1)))
    for xi, i in zip(x[:6], idx[:6].tolist()):
        src = data.x_train[i].expand(162, -1, -1, -1)
        tops, lefts = torch.arange(9).repeat_interleave(9).repeat(2), torch.arange(9).repeat(9).repeat(2)
        flips = torch.arange(162) >= 81
        variants = normalize(crop_flip(src, tops, lefts, flips), MEAN, STD)
        assert ((variants - xi).abs().amax(dim=(1, 2, 3)) < 1e-5).any()
    # DistributedSampler shards: the other rank's images are different ones
    other = TorchvisionLoader(data.x_train, torch.arange(200), batch_size=16, mean=MEAN, std=STD,
                              num_workers=0, seed=3, world_size=2, rank=0, train=True)
    ids = [set(torch.cat([y for _, y in ld.epoch(0)]).tolist()) for ld in (loader, other)]
    assert not ids[0] & ids[1]


def test_make_loader_and_bad_input(data):
    assert isinstance(make_loader("device", data.x_train, data.y_train, batch_size=8, mean=MEAN, std=STD), DeviceLoader)
    with pytest.raises(ValueError, match="device, torchvision"):
        make_loader("pil", data.x_train, data.y_train, batch_size=8, mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="positive integer"):
        DeviceLoader(data.x_train, data.y_train, batch_size=0, mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="uint8"):
        DeviceLoader(data.x_train.float(), data.y_train, batch_size=8, mean=MEAN, std=STD)


def test_benchmark_compares_equal_work_and_the_device_path_wins(data):
    """Both loaders give the very same batches without augmentation, so the benchmark times equal work;
    and batching on the device must beat per-image transforms clearly (this fails if it regresses)."""
    common = dict(batch_size=16, mean=MEAN, std=STD, train=False)
    fast = list(DeviceLoader(data.x_train[:64], data.y_train[:64], **common))
    classic = list(TorchvisionLoader(data.x_train[:64], data.y_train[:64], num_workers=0, **common))
    assert len(fast) == len(classic) == 4
    for (xa, ya), (xb, yb) in zip(fast, classic):
        assert torch.equal(ya, yb) and torch.allclose(xa, xb, atol=1e-5)
    bench = benchmark_loaders(data.x_train, data.y_train, batch_size=32, n_batches=3, num_workers=0)
    assert bench.ratio == pytest.approx(bench.device_images_per_s / bench.torchvision_images_per_s)
    assert bench.ratio > 2, f"the device loader is only {bench.ratio:.1f}x the per-image loader"
    assert "ratio" in str(bench)
    with pytest.raises(ValueError, match="need"):
        benchmark_loaders(data.x_train, data.y_train, batch_size=64, n_batches=5)
