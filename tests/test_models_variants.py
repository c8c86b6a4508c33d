"""Issue 13 section 1: Wide ResNets and ResNeXt, against the papers' tables and torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

from resnet_lab import models
from resnet_lab.models import build_model, count_parameters, model_family


def _meta(builder):  # type: ignore[no-untyped-def]
    with torch.device("meta"):
        return builder()


# Zagoruyko and Komodakis (2016), Table 4 (# params, printed with one decimal, in millions).
@pytest.mark.parametrize(("depth", "k", "printed"), [(16, 8, "11.0"), (28, 10, "36.5"), (40, 4, "8.9")])
def test_wide_resnet_counts_round_to_the_paper(depth: int, k: int, printed: str) -> None:
    assert f"{count_parameters(_meta(lambda: models.wide_resnet(depth, k))) / 1e6:.1f}" == printed


# Xie et al. (2017), Table 7: ResNeXt-29 8x64d 34.4M, 16x64d 68.1M.
@pytest.mark.parametrize(("cardinality", "paper_m"), [(8, 34.4), (16, 68.1)])
def test_resnext29_counts_match_the_paper(cardinality: int, paper_m: float) -> None:
    n = count_parameters(_meta(lambda: models.cifar_resnext29(cardinality, 64)))
    assert abs(n / 1e6 - paper_m) < 0.1


def test_wide_resnet_structure_and_dropout() -> None:
    model = models.wide_resnet(10, 2, dropout=0.3)
    blocks = models.residual_blocks(model)
    assert len(blocks) == 3 and all(isinstance(b, models.PreActBlock) for _, b in blocks)
    assert [b.conv2.out_channels for _, b in blocks] == [32, 64, 128]
    first = model.layer1[0]
    assert first.shortcut_input == "preactivated" and len(first.downsample) == 1  # 16 -> 32: plain 1x1
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    a = model.train()(x)
    b = model(x)
    assert not torch.allclose(a, b)  # dropout is active in training
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))


VARIANTS = ["resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2"]


@pytest.mark.parametrize("name", VARIANTS)
def test_imagenet_variants_equal_torchvision(name: str) -> None:
    ours, theirs = _meta(getattr(models, name)), _meta(getattr(torchvision.models, name))
    assert count_parameters(ours) == count_parameters(theirs)
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t) and all(sd_o[k].shape == sd_t[k].shape for k in sd_o)
    assert all(isinstance(b, models.Bottleneck) for _, b in models.residual_blocks(ours))  # our one Bottleneck


@pytest.mark.parametrize("name", ["resnext50_32x4d", pytest.param("wide_resnet50_2", marks=pytest.mark.slow)])
def test_imagenet_variant_state_dicts_load_both_ways(name: str) -> None:
    torch.manual_seed(0)
    ours, theirs = getattr(models, name)().eval(), getattr(torchvision.models, name)().eval()
    x = torch.randn(1, 3, 32, 32)
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    fresh = getattr(models, name)().eval()
    fresh.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), theirs(x))


BUILDERS = {
    "cifar_resnet": lambda **kw: models.cifar_resnet(8, **kw),
    "cifar_resnet18": lambda **kw: models.cifar_resnet18(**kw),
    "wide_resnet": lambda **kw: models.wide_resnet(10, 2, **kw),
    "cifar_resnext29": lambda **kw: models.cifar_resnext29(2, 4, **kw),
    **{name: getattr(models, name) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", *VARIANTS)},
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_takes_in_channels(name: str) -> None:
    model = _meta(lambda: BUILDERS[name](in_channels=1))
    assert model.conv1.in_channels == 1
    assert model.eval()(torch.zeros(2, 1, 28, 28, device="meta")).shape[0] == 2  # MNIST-sized digits
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        _meta(lambda: BUILDERS[name](in_channels=0))


def test_small_variants_run_on_one_channel_images() -> None:
    x = torch.randn(2, 1, 28, 28)
    for model in (models.wide_resnet(10, 1, in_channels=1), models.cifar_resnext29(2, 4, in_channels=1)):
        assert model.eval()(x).shape == (2, 10)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: models.wide_resnet(27, 4), "6n+4 with n >= 1 (10, 16, 22, 28"),
        (lambda: models.wide_resnet(4, 4), "6n+4"),
        (lambda: models.wide_resnet(28, 0), "k (widening factor) must be a positive integer"),
        (lambda: models.wide_resnet(28, 10, dropout=1.0), "[0, 1)"),
        (lambda: models.cifar_resnext29(0), "cardinality must be a positive integer"),
        (lambda: models.cifar_resnext29(8, 0), "bottleneck_width must be a positive integer"),
        (lambda: models.CifarResNet(3, dropout=0.1), "pre-activation"),
    ],
)
def test_bad_variant_arguments_name_valid_values(call, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        _meta(call)
    assert needle in str(info.value)


@pytest.mark.parametrize("name", ["wrn16_8", "wrn28_10", "wrn40_4", "resnext29_8x64d", "resnext29_16x64d", *VARIANTS])
def test_registry_builds_the_variants(name: str) -> None:
    model = _meta(lambda: build_model(name, num_classes=100))
    assert model.fc.out_features == 100
    assert model_family(name) == ("imagenet" if name in VARIANTS else "cifar")
