"""Lesson 03 arithmetic for the variants: grouped 3x3, widened pre-activation block, WRN, ResNeXt, against PyTorch."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from resnet_lab import arithmetic as ar
from resnet_lab import models
from resnet_lab.models import count_parameters


def _meta(builder):  # type: ignore[no-untyped-def]
    with torch.device("meta"):
        return builder()


@pytest.mark.parametrize(("channels", "cardinality", "size", "stride"),
                         [(128, 32, 56, 1), (256, 8, 32, 2), (64, 64, 7, 1), (48, 3, 9, 2)])
def test_grouped_3x3_matches_pytorch_and_is_dense_over_cardinality(channels: int, cardinality: int, size: int,
                                                                    stride: int) -> None:
    layer = ar.grouped_conv3x3_cost("conv2", channels, cardinality, size, stride)
    conv = nn.Conv2d(channels, channels, 3, stride, 1, groups=cardinality, bias=False, device="meta")
    assert layer.params == count_parameters(conv)
    assert layer.macs == ar.measure_macs(conv, size, channels).total
    dense = ar.conv2d_cost("dense", channels, channels, 3, size, stride=stride, padding=1)
    assert dense.params == cardinality * layer.params and dense.macs == cardinality * layer.macs


def test_grouped_3x3_names_the_valid_cardinalities() -> None:
    with pytest.raises(ValueError, match=r"valid cardinalities: \[1, 2, 3, 4, 6, 12\]"):
        ar.grouped_conv3x3_cost("conv2", 12, 5, 8)


def _random_preact(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [dict(inplanes=rng.choice([4, 8, 16]), planes=rng.choice([4, 8, 16, 32]), stride=rng.choice([1, 2]),
                 size=rng.randint(3, 17), projection_norm=rng.random() < 0.5) for _ in range(count)]


@pytest.mark.parametrize("cfg", _random_preact(12, seed=7))
def test_preact_block_formula_matches_pytorch(cfg: dict) -> None:
    block = _meta(lambda: ar.make_block("preact", cfg["inplanes"], cfg["planes"], cfg["stride"],
                                        projection_norm=cfg["projection_norm"]))
    cost = ar.preact_block_cost(cfg["inplanes"], cfg["planes"], cfg["size"], cfg["stride"],
                                projection_norm=cfg["projection_norm"])
    agree = ar.compare_with_pytorch(cost, block, cfg["size"], in_channels=cfg["inplanes"])
    assert agree.ok, agree


@pytest.mark.parametrize("k", [1, 2, 4, 10])
def test_widening_multiplies_the_3x3_cost_by_k_squared(k: int) -> None:
    base = ar.wide_block_cost(16 * k, 16, 1, 32)  # same input, unwidened block would be 16 channels
    wide = ar.wide_block_cost(16 * k, 16, k, 32)
    narrow = ar.wide_block_cost(16, 16, 1, 32)
    assert wide["conv2"].params == k * k * narrow["conv2"].params
    assert wide["conv2"].macs == k * k * narrow["conv2"].macs
    assert base["conv1"].params * k == wide["conv1"].params
    block = _meta(lambda: models.wide_resnet(16, k).layer1[1])  # n = 2: the second block keeps 16k channels
    assert sum(layer.params for layer in wide) == count_parameters(block)


@pytest.mark.parametrize(("depth", "k"), [(10, 1), (16, 8), pytest.param(28, 10, marks=pytest.mark.slow)])
def test_wide_resnet_formula_matches_pytorch(depth: int, k: int) -> None:
    agree = ar.compare_with_pytorch(ar.wide_resnet_cost(depth, k), _meta(lambda: models.wide_resnet(depth, k)), 32)
    assert agree.ok, agree


@pytest.mark.parametrize(("cardinality", "width"), [(8, 64), (2, 4), (16, 64)])
def test_resnext29_formula_matches_pytorch(cardinality: int, width: int) -> None:
    model = _meta(lambda: models.cifar_resnext29(cardinality, width))
    agree = ar.compare_with_pytorch(ar.cifar_resnext29_cost(cardinality, width), model, 32)
    assert agree.ok, agree


@pytest.mark.parametrize("name", ["resnext50_32x4d", "wide_resnet50_2",
                                  pytest.param("resnext101_32x8d", marks=pytest.mark.slow)])
def test_imagenet_variant_formula_matches_torchvision(name: str) -> None:
    agree = ar.compare_with_pytorch(ar.imagenet_resnet_cost(name), ar.build_torchvision(name), 224)
    assert agree.ok, agree


def test_in_channels_reaches_the_stem_formula() -> None:
    cost = ar.wide_resnet_cost(10, 1, in_channels=1, input_size=28)
    model = _meta(lambda: models.wide_resnet(10, 1, in_channels=1))
    assert ar.compare_with_pytorch(cost, model, 28, in_channels=1).ok
