"""The model zoo against torchvision and the paper."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from resnet_lab import models
from resnet_lab.models import (
    BasicBlock,
    Bottleneck,
    ShortcutA,
    build_model,
    cifar_resnet,
    cifar_resnet18,
    count_parameters,
    residual_blocks,
)

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

# He et al. 2015, Table 6: parameters of the CIFAR-10 ResNets (option A), in millions, as printed.
PAPER_TABLE6_M = {20: "0.27", 32: "0.46", 44: "0.66", 56: "0.85", 110: "1.7", 1202: "19.4"}


def _meta(builder):  # type: ignore[no-untyped-def]
    """Build on the meta device: shapes and counts only, no memory, no initialization work."""
    with torch.device("meta"):
        return builder()


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_parameter_count_and_names_equal_torchvision(name: str) -> None:
    ours = _meta(getattr(models, name))
    theirs = _meta(getattr(torchvision.models, name))
    assert count_parameters(ours) == count_parameters(theirs)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    assert all(ours_sd[k].shape == theirs_sd[k].shape for k in ours_sd)


@pytest.mark.parametrize("name", ["resnet18", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_state_dict_round_trip_gives_equal_outputs(name: str) -> None:
    torch.manual_seed(0)
    ours = getattr(models, name)().eval()
    theirs = getattr(torchvision.models, name)().eval()
    x = torch.randn(2, 3, 32, 32)
    theirs.load_state_dict(ours.state_dict())  # ours -> torchvision
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    fresh = getattr(models, name)().eval()
    fresh.load_state_dict(theirs.state_dict())  # and back
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), theirs(x))


def test_v1_moves_the_stride_to_the_first_1x1() -> None:
    v1, v15 = _meta(lambda: models.resnet50(variant="v1")), _meta(lambda: models.resnet50(variant="v1.5"))
    assert count_parameters(v1) == count_parameters(v15)
    b1, b15 = v1.layer2[0], v15.layer2[0]
    assert (b1.conv1.stride, b1.conv2.stride) == ((2, 2), (1, 1))
    assert (b15.conv1.stride, b15.conv2.stride) == ((1, 1), (2, 2))
    tv = _meta(torchvision.models.resnet50).layer2[0]
    assert tv.conv2.stride == b15.conv2.stride  # torchvision is v1.5
    x = torch.zeros(1, 3, 32, 32, device="meta")
    assert v1.eval()(x).shape == v15.eval()(x).shape == (1, 1000)


@pytest.mark.parametrize("depth", sorted(PAPER_TABLE6_M))
def test_cifar_parameter_counts_match_paper_table6(depth: int) -> None:
    n = count_parameters(_meta(lambda: cifar_resnet(depth)))
    printed = PAPER_TABLE6_M[depth]
    decimals = len(printed.split(".")[1])
    assert f"{n / 1e6:.{decimals}f}" == printed


def test_cifar_count_equals_hand_formula() -> None:
    # stem conv + BN, then 3 stages of n blocks (two 3x3 convs + two BNs each), then fc.
    for depth, width in [(20, 16), (32, 8), (56, 4)]:
        n = (depth - 2) // 6
        total = 3 * 9 * width + 2 * width
        c_in = width
        for c in (width, 2 * width, 4 * width):
            for _ in range(n):
                total += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c
                c_in = c
        total += 4 * width * 10 + 10
        assert count_parameters(cifar_resnet(depth, width=width)) == total


def test_cifar_resnet18_matches_a_modified_torchvision_resnet18() -> None:
    tv = torchvision.models.resnet18(num_classes=10)
    tv.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    tv.maxpool = nn.Identity()
    ours = cifar_resnet18()
    assert count_parameters(ours) == count_parameters(tv)
    tv.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), tv.eval()(x))


@pytest.mark.parametrize("depth", [8, 20, 32, 44, 56, 110])
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_cifar_shapes(depth: int, shortcut: str) -> None:
    model = cifar_resnet(depth, shortcut=shortcut, width=4)  # narrow: shapes only
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert len(residual_blocks(model)) == (depth - 2) // 6 * 3
    # depth counts the layers with weights: convolutions in blocks + stem + fc
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == depth


def test_option_b_projects_only_where_shapes_change() -> None:
    model = cifar_resnet(20, shortcut="B")
    projections = [name for name, b in residual_blocks(model) if b.downsample is not None]
    assert projections == ["layer2.0", "layer3.0"]
    assert count_parameters(cifar_resnet(20, shortcut="B")) > count_parameters(cifar_resnet(20, shortcut="A"))


def test_shortcut_a_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 4, 8, 8)
    y = ShortcutA(4, 8, stride=2)(x)
    assert y.shape == (2, 8, 4, 4)
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 4:]) == 0
    assert not list(ShortcutA(4, 8, 2).parameters())


def test_plain_and_residual_differ_only_in_the_addition() -> None:
    torch.manual_seed(1)
    res = cifar_resnet(20)
    torch.manual_seed(1)
    plain = cifar_resnet(20, residual=False)
    sd_r, sd_p = res.state_dict(), plain.state_dict()
    assert list(sd_r) == list(sd_p)
    assert all(torch.equal(sd_r[k], sd_p[k]) for k in sd_r)  # same layers, same init
    x = torch.randn(2, 16, 8, 8)
    block = BasicBlock(16, 16).eval()
    plain_block = BasicBlock(16, 16, residual=False).eval()
    plain_block.load_state_dict(block.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(plain_block.branch(x) + x))
        torch.testing.assert_close(plain_block(x), torch.relu(block.branch(x)))


def test_bottleneck_expansion_and_forward() -> None:
    assert Bottleneck.expansion == 4
    down = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256))
    b = Bottleneck(64, 64, downsample=down).eval()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(b(x), torch.relu(b.branch(x) + down(x)))


def test_he_initialisation() -> None:
    torch.manual_seed(0)
    model = cifar_resnet(56, width=16)
    conv = model.layer3[3].conv1  # 64 -> 64 channels, 3x3: fan_out = 64 * 9
    expected = math.sqrt(2.0 / (64 * 9))
    assert abs(conv.weight.std().item() - expected) / expected < 0.05
    assert torch.all(model.layer1[0].bn1.weight == 1) and torch.all(model.layer1[0].bn1.bias == 0)


def test_zero_init_residual_makes_blocks_start_as_identity() -> None:
    model = cifar_resnet(20, zero_init_residual=True).eval()
    assert all(torch.all(b.bn2.weight == 0) for _, b in residual_blocks(model))
    block = model.layer1[1]
    x = torch.relu(torch.randn(2, 16, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    bott = models.resnet50(zero_init_residual=True)  # on the CPU: the zeros must really be there
    assert torch.all(bott.layer1[0].bn3.weight == 0)


def test_preact_forward_is_clean_identity_plus_branch() -> None:
    model = cifar_resnet(20, preact=True).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    block = model.layer1[1]
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x + block.branch(x))


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: cifar_resnet(21), "6n+2"),
        (lambda: cifar_resnet(2), "6n+2"),
        (lambda: cifar_resnet(20.0), "6n+2"),  # type: ignore[arg-type]
        (lambda: cifar_resnet(20, shortcut="C"), "('A', 'B')"),  # type: ignore[arg-type]
        (lambda: cifar_resnet(20, width=0), "width"),
        (lambda: cifar_resnet(20, num_classes=-3), "num_classes"),
        (lambda: cifar_resnet(20, residual=False, zero_init_residual=True), "plain"),
        (lambda: cifar_resnet(20, init_mode="xavier"), "fan_out"),
        (lambda: models.resnet50(variant="v2"), "v1.5"),  # type: ignore[arg-type]
        (lambda: models.resnet18(num_classes=0), "num_classes"),
        (lambda: build_model("resnet21"), "resnet20"),
    ],
)
def test_bad_arguments_name_valid_values(call, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert needle in str(info.value)


def test_build_model_names() -> None:
    assert isinstance(build_model("plain20"), models.CifarResNet) and not build_model("plain20").residual
    assert build_model("preact_resnet20").preact
    assert build_model("cifar_resnet18").fc.out_features == 10
    assert _meta(lambda: build_model("resnet18")).fc.out_features == 10  # num_classes defaults to CIFAR's 10
    assert models.cifar_depths(56) == [8, 14, 20, 26, 32, 38, 44, 50, 56]
