"""Issue 17: each architecture fact has one definition in resnet_lab.models, and everything else uses it;
the residual sum is written once; names mean one thing; the pre-activation shortcut options."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import resnet_lab
from resnet_lab import arithmetic as ar
from resnet_lab import models
from resnet_lab.arithmetic import blocks as ar_blocks
from resnet_lab.arithmetic import networks as ar_networks
from resnet_lab.arithmetic import tables as ar_tables
from resnet_lab.models import BasicBlock, Bottleneck, PreActBlock, ResidualBlock, make_shortcut

PACKAGE = Path(resnet_lab.__file__).parent


# --- one definition per fact -------------------------------------------------------------------------
def test_arithmetic_uses_the_facts_of_models() -> None:
    """The very objects, not equal copies."""
    assert ar_blocks.make_shortcut is models.make_shortcut
    assert ar_networks.imagenet_spec is models.imagenet_spec
    assert ar_networks.validate_cifar_depth is models.validate_cifar_depth
    assert ar.IMAGENET_NAMES is models.PAPER_IMAGENET_NAMES
    assert ar_tables.PAPER_CIFAR_DEPTHS is models.PAPER_CIFAR_DEPTHS
    assert tuple(ar.PAPER_TABLE6_PARAMS) == models.PAPER_CIFAR_DEPTHS
    assert set(models.PAPER_IMAGENET_NAMES) <= set(models.IMAGENET_STAGES)
    assert not hasattr(ar, "ShortcutOption") and not hasattr(ar, "IMAGENET_CONFIGS")
    assert not hasattr(ar, "CIFAR_PAPER_DEPTHS")


def test_arithmetic_follows_a_change_of_the_stage_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Edit the one table and the formula follows: nothing else restates the stage counts."""
    before = ar.imagenet_resnet_cost("resnet18").params
    monkeypatch.setitem(models.IMAGENET_STAGES, "resnet18", models.ImageNetSpec("basic", (2, 2, 2, 3)))
    after = ar.imagenet_resnet_cost("resnet18")
    with torch.device("meta"):
        model = models.resnet18()
    assert after.params == models.count_parameters(model) > before
    assert len(models.residual_blocks(model)) == 9


# Patterns that restate a fact; each may appear only in the module that owns the fact.
_FACT_PATTERNS = {
    r"\(20, 32, 44, 56, 110, 1202\)": "models/cifar.py",  # the paper's CIFAR depths
    r"- 2\) % 6": "models/cifar.py",  # the 6n+2 check
    r"\(3, 8, 36, 3\)": "models/imagenet.py",  # ResNet-152's stages (stands for the whole table)
    r"\(3, 4, 23, 3\)": "models/imagenet.py",
    r"\+= identity|\+ identity\b": "models/blocks.py",  # the residual sum
    r"ShortcutA\(": "models/blocks.py",  # building a shortcut: only through make_shortcut
}
_NOT_YET: set[str] = set()  # every module now takes these facts from models


@pytest.mark.parametrize(("pattern", "owner"), sorted(_FACT_PATTERNS.items()))
def test_each_fact_is_written_once(pattern: str, owner: str) -> None:
    found = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if re.search(pattern, path.read_text()) and str(path.relative_to(PACKAGE)) not in _NOT_YET
    )
    assert found == [owner]


def test_validators_are_named_validate() -> None:
    for old in ("check_positive_int", "check_shortcut", "check_variant"):
        assert not hasattr(models, old)
    with pytest.raises(ValueError, match="positive"):
        models.validate_positive_int("n", 0)
    with pytest.raises(ValueError, match="6n\\+2"):
        models.validate_cifar_depth(22)
    assert models.validate_cifar_depth(110) == 18


# --- the residual sum, written once ----------------------------------------------------------------------
def _blocks() -> list[ResidualBlock]:
    return [
        BasicBlock(8, 8),
        BasicBlock(8, 16, 2, make_shortcut(8, 16, 2, "A")),
        Bottleneck(16, 4, 2, make_shortcut(16, 16, 2, "B")),
        Bottleneck(16, 8, 1, make_shortcut(16, 32, 1, "B"), groups=4, base_width=16),
        PreActBlock(8, 8),
        PreActBlock(8, 16, 2, make_shortcut(8, 16, 2, "B", norm_layer=None)),
        PreActBlock(8, 16, 2, make_shortcut(8, 16, 2, "B"), shortcut_input="raw"),
    ]


@pytest.mark.parametrize("index", range(7))
def test_forward_is_post_of_branch_plus_shortcut(index: int) -> None:
    torch.manual_seed(index)
    block = _blocks()[index].eval()
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.post(block.branch(x) + block.shortcut(x)))
        assert not type(block).__dict__.get("forward")  # the sum lives in ResidualBlock only


def test_norm_layer_sits_at_the_same_position_in_every_block() -> None:
    positions = {cls: list(inspect.signature(cls).parameters).index("norm_layer")
                 for cls in (BasicBlock, Bottleneck, PreActBlock)}
    assert len(set(positions.values())) == 1, positions
    block = PreActBlock(4, 4, 1, None, 1, 64, 1, lambda c: nn.GroupNorm(2, c))
    assert isinstance(block.bn1, nn.GroupNorm)


# --- pre-activation shortcut ----------------------------------------------------------------------------
def test_preact_projection_reads_the_preactivated_input_by_default() -> None:
    torch.manual_seed(0)
    ref = PreActBlock(8, 16, 2, make_shortcut(8, 16, 2, "B", norm_layer=None))
    raw = PreActBlock(8, 16, 2, make_shortcut(8, 16, 2, "B", norm_layer=None), shortcut_input="raw")
    raw.load_state_dict(ref.state_dict())
    ref.eval(), raw.eval()
    x = torch.randn(2, 8, 8, 8)
    proj = ref.downsample[0]
    with torch.no_grad():
        pre = torch.relu(ref.bn1(x))
        torch.testing.assert_close(ref(x), ref.branch(x) + proj(pre))  # He et al.'s reference code
        torch.testing.assert_close(raw(x), raw.branch(x) + proj(x))  # the raw input
        assert not torch.allclose(ref(x), raw(x))
    with pytest.raises(ValueError, match="preactivated"):
        PreActBlock(8, 8, shortcut_input="bn")  # type: ignore[arg-type]


def test_identity_shortcut_carries_the_raw_input_and_bn_runs_once() -> None:
    block = PreActBlock(8, 16, 2, make_shortcut(8, 16, 2, "B")).train()
    block(torch.randn(4, 8, 8, 8))
    assert block.bn1.num_batches_tracked.item() == 1  # the pre-activation is shared, not recomputed
    same = PreActBlock(8, 8).eval()
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(same.shortcut(x), x)


def test_preact_networks_offer_both_shortcut_inputs() -> None:
    torch.manual_seed(0)
    ref = models.cifar_resnet(8, preact=True, shortcut="B").eval()
    raw = models.cifar_resnet(8, preact=True, shortcut="B", preact_shortcut="raw").eval()
    raw.load_state_dict(ref.state_dict())
    assert ref.layer2[0].shortcut_input == "preactivated" and raw.layer2[0].shortcut_input == "raw"
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(ref(x), raw(x))


# --- one name, one meaning ---------------------------------------------------------------------------
def test_registries_are_separate_and_cover_build_model() -> None:
    cifar, imagenet = set(models.CIFAR_MODEL_NAMES), set(models.IMAGENET_MODEL_NAMES)
    assert not cifar & imagenet
    assert models.MODEL_NAMES == models.CIFAR_MODEL_NAMES + models.IMAGENET_MODEL_NAMES
    assert {models.model_family(n) for n in cifar} == {"cifar"}
    assert {models.model_family(n) for n in imagenet} == {"imagenet"}
    assert "resnet20" in cifar and "resnet18" in imagenet and "cifar_resnet18" in cifar
    assert models.paper_cifar_depth("plain56") == 56 and models.paper_cifar_depth("cifar_resnet18") is None
    assert models.paper_cifar_depth("resnet18") is None
    with pytest.raises(ValueError, match="resnet20"):
        models.model_family("resnet19")


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "cifar_resnet18", "resnet20", "preact_resnet20"])
def test_build_model_states_the_class_count(name: str) -> None:
    with torch.device("meta"):
        assert models.build_model(name).fc.out_features == 10
        assert models.build_model(name, num_classes=7).fc.out_features == 7
        family = models.model_family(name)
        expected = models.ResNet if family == "imagenet" or name == "cifar_resnet18" else models.CifarResNet
        assert isinstance(models.build_model(name), expected)
        if family == "imagenet":
            assert getattr(models, name)().fc.out_features == 1000  # the ImageNet builder keeps torchvision's 1000
