"""Closed-form counts of resnet_lab.arithmetic against PyTorch: count_parameters, module buffers,
meta-device forward shapes, FlopCounterMode and torchvision's models."""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from resnet_lab import arithmetic as ar
from resnet_lab.exercises import lesson03
from resnet_lab.models import Bottleneck, count_parameters, residual_blocks
from resnet_lab.widgets import arithmetic as wa


def _meta(builder):  # type: ignore[no-untyped-def]
    with torch.device("meta"):
        return builder()


# --- single layers ---------------------------------------------------------------------------------
def _random_convs(count: int, seed: int) -> list[dict[str, int | bool]]:
    rng = random.Random(seed)
    configs = []
    for _ in range(count):
        groups = rng.choice([1, 1, 2, 4, 8])
        configs.append(dict(
            c_in=groups * rng.randint(1, 12), c_out=groups * rng.randint(1, 12), kernel=rng.choice([1, 2, 3, 5, 7]),
            stride=rng.randint(1, 3), padding=rng.randint(0, 3), dilation=rng.choice([1, 1, 2]), groups=groups,
            bias=rng.random() < 0.5, size=rng.randint(1, 40),
        ))
    return configs


@pytest.mark.parametrize("cfg", _random_convs(40, seed=3))
def test_conv2d_formulas_match_pytorch(cfg: dict) -> None:
    conv = nn.Conv2d(cfg["c_in"], cfg["c_out"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     dilation=cfg["dilation"], groups=cfg["groups"], bias=cfg["bias"], device="meta")
    x = torch.zeros(1, cfg["c_in"], cfg["size"], cfg["size"], device="meta")
    effective = cfg["dilation"] * (cfg["kernel"] - 1) + 1
    if cfg["size"] + 2 * cfg["padding"] < effective:  # PyTorch refuses too; so must the formula
        with pytest.raises(RuntimeError):
            conv(x)
        with pytest.raises(ValueError, match="too small"):
            ar.conv_output_size(cfg["size"], cfg["kernel"], cfg["stride"], cfg["padding"], cfg["dilation"])
        return
    layer = ar.conv2d_cost("conv", cfg["c_in"], cfg["c_out"], cfg["kernel"], cfg["size"], stride=cfg["stride"],
                           padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"], bias=cfg["bias"])
    assert layer.params == count_parameters(conv)
    assert layer.out_shape == tuple(conv(x).shape[1:])
    assert layer.macs == ar.measure_macs(conv, cfg["size"], cfg["c_in"]).total


@pytest.mark.parametrize("channels", [1, 3, 16, 200])
def test_batchnorm_params_and_buffers(channels: int) -> None:
    bn = nn.BatchNorm2d(channels)
    assert ar.batchnorm_params(channels) == count_parameters(bn)
    assert ar.batchnorm_buffers(channels) == sum(b.numel() for b in bn.buffers())


@pytest.mark.parametrize(("n_in", "n_out", "bias"), [(512, 1000, True), (7, 3, False), (2048, 10, True)])
def test_linear_params_and_macs(n_in: int, n_out: int, bias: bool) -> None:
    fc = nn.Linear(n_in, n_out, bias=bias, device="meta")
    assert ar.linear_params(n_in, n_out, bias) == count_parameters(fc)
    counter = FlopCounterMode(display=False)
    with counter:
        fc(torch.zeros(1, n_in, device="meta"))
    assert 2 * ar.linear_macs(n_in, n_out) == counter.get_total_flops()  # FlopCounterMode: 2 FLOPs per MAC


# --- blocks --------------------------------------------------------------------------------------
def _random_blocks(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    configs = []
    for _ in range(count):
        kind = rng.choice(["basic", "bottleneck"])
        cfg: dict = dict(kind=kind, inplanes=rng.choice([8, 16, 24, 32, 64]), planes=rng.choice([4, 8, 16, 32]),
                         stride=rng.choice([1, 1, 2, 3]), size=rng.randint(3, 20), shortcut=rng.choice(["A", "B"]))
        if kind == "bottleneck":
            groups = rng.choice([1, 1, 2, 4])
            cfg.update(expansion=rng.choice([1, 2, 4]), groups=groups, base_width=rng.choice([64, 32, 128]),
                       stride_in_1x1=rng.random() < 0.5)
        out = cfg["planes"] * cfg.get("expansion", 1)
        if cfg["shortcut"] == "A" and out < cfg["inplanes"]:
            cfg["shortcut"] = "B"  # option A cannot remove channels (tested separately)
        configs.append(cfg)
    return configs


def _block_cost(cfg: dict) -> ar.Cost:
    if cfg["kind"] == "basic":
        return ar.basic_block_cost(cfg["inplanes"], cfg["planes"], cfg["size"], cfg["stride"], shortcut=cfg["shortcut"])
    return ar.bottleneck_cost(cfg["inplanes"], cfg["planes"], cfg["size"], cfg["stride"], expansion=cfg["expansion"],
                              groups=cfg["groups"], base_width=cfg["base_width"],
                              stride_in_1x1=cfg["stride_in_1x1"], shortcut=cfg["shortcut"])


@pytest.mark.parametrize("cfg", _random_blocks(40, seed=5))
def test_block_formulas_match_pytorch(cfg: dict) -> None:
    kwargs = {k: v for k, v in cfg.items() if k not in ("kind", "size")}
    block = _meta(lambda: ar.make_block(cfg["kind"], **kwargs))
    cost = _block_cost(cfg)
    agree = ar.compare_with_pytorch(cost, block, cfg["size"], in_channels=cfg["inplanes"])
    assert agree.ok, agree
    assert agree.macs_pytorch == cost.macs
    # the closed-form output shape is what the block really produces
    y = block.eval()(torch.zeros(1, cfg["inplanes"], cfg["size"], cfg["size"], device="meta"))
    assert cost.out_shape == tuple(y.shape[1:])


def test_expansion_subclass_builds_wider_output() -> None:
    block = ar.make_block("bottleneck", 16, 8, expansion=2)
    assert isinstance(block, Bottleneck) and block.conv3.out_channels == 16 and block.downsample is None


def test_popular_and_fair_examples() -> None:
    """The 17x example and Figure 5's pairing, against the weights of PyTorch blocks."""
    def conv_weights(module: nn.Module) -> int:
        return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))

    basic256, bottleneck256 = ar.make_block("basic", 256, 256), ar.make_block("bottleneck", 256, 64)
    basic64 = ar.make_block("basic", 64, 64)
    cost = {name: sum(layer.params for layer in c if layer.kind == "conv") for name, c in {
        "basic256": ar.basic_block_cost(256, 256, 56), "bottleneck256": ar.bottleneck_cost(256, 64, 56),
        "basic64": ar.basic_block_cost(64, 64, 56)}.items()}
    assert cost["basic256"] == conv_weights(basic256)
    assert cost["bottleneck256"] == conv_weights(bottleneck256)
    assert cost["basic64"] == conv_weights(basic64)
    assert 16 < cost["basic256"] / cost["bottleneck256"] < 18
    assert 1.0 < cost["basic64"] / cost["bottleneck256"] < 1.1


# --- networks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ar.IMAGENET_NAMES)
def test_imagenet_params_equal_torchvision_and_ours(name: str) -> None:
    cost = ar.imagenet_resnet_cost(name)
    tv = ar.build_torchvision(name)
    assert cost.params == count_parameters(tv)
    assert cost.params == count_parameters(ar.build_imagenet(name, variant="v1"))
    assert cost.params == count_parameters(ar.build_imagenet(name, variant="v1.5"))
    assert cost.buffers == sum(b.numel() for b in tv.buffers())


@pytest.mark.parametrize("name", ar.IMAGENET_NAMES)
def test_imagenet_macs_equal_flopcounter(name: str) -> None:
    """Torchvision's model is v1.5 and has our layer names: every layer and stage must agree."""
    cost = ar.imagenet_resnet_cost(name, variant="v1.5")
    tv = ar.build_torchvision(name)
    agree = ar.compare_with_pytorch(cost, tv, 224)
    assert agree.ok, agree
    assert agree.measured is not None
    measured = agree.measured
    for stage, (_, macs) in cost.by_stage().items():
        if stage.startswith("layer"):
            assert measured.by_module[stage] == macs


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet101"])
def test_our_v1_models_match_the_v1_formula(name: str) -> None:
    agree = ar.compare_with_pytorch(ar.imagenet_resnet_cost(name, variant="v1"), ar.build_imagenet(name, variant="v1"),
                                    224)
    assert agree.ok, agree


@pytest.fixture(scope="module")
def resnet50_measured() -> dict[str, ar.MeasuredMacs]:
    """FlopCounterMode's count of our ResNet-50 in both variants (measured once for several tests)."""
    return {v: ar.measure_macs(ar.build_imagenet("resnet50", variant=v), 224) for v in ("v1", "v1.5")}  # type: ignore[arg-type]


def test_v1_v15_difference_is_the_strided_1x1(resnet50_measured: dict[str, ar.MeasuredMacs]) -> None:
    """Measured by FlopCounterMode: v1.5 costs more only in the first 1x1 of stages 2-4, 4x as much."""
    v1, v15 = resnet50_measured["v1"], resnet50_measured["v1.5"]
    leaves = {n for n, m in ar.build_imagenet("resnet50").named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    changed = {n for n in leaves if v1.by_module.get(n) != v15.by_module.get(n)}
    assert changed == {"layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"}
    for n in changed:
        assert v15.by_module[n] == 4 * v1.by_module[n]
    diffs = ar.variant_differences("resnet50")
    assert {a.name for a, _ in diffs} == changed
    assert v15.total - v1.total == sum(b.macs - a.macs for a, b in diffs) > 0
    # the networks without bottlenecks do not depend on the variant
    assert ar.imagenet_resnet_cost("resnet34", variant="v1").macs == ar.imagenet_resnet_cost("resnet34").macs


def test_v1_formula_is_close_to_the_paper_table1() -> None:
    for name, flops in ar.PAPER_TABLE1_FLOPS.items():
        assert abs(ar.imagenet_resnet_cost(name, variant="v1").macs / flops - 1) < 0.02, name
    assert round(ar.imagenet_resnet_cost("resnet50", variant="v1.5").macs / 1e9, 1) == 4.1


@pytest.mark.parametrize(("depth", "shortcut"), [(8, "A"), (20, "A"), (20, "B"), (56, "B")])
def test_cifar_formula_matches_pytorch(depth: int, shortcut: str) -> None:
    agree = ar.compare_with_pytorch(ar.cifar_resnet_cost(depth, shortcut=shortcut),  # type: ignore[arg-type]
                                    ar.build_cifar(depth, shortcut=shortcut), 32)  # type: ignore[arg-type]
    assert agree.ok, agree


def test_cifar_formula_matches_paper_table6_and_resnet1202_params() -> None:
    for depth, params in ar.PAPER_TABLE6_PARAMS.items():
        assert abs(ar.cifar_resnet_cost(depth).params / params - 1) < 0.02, depth
    assert ar.cifar_resnet_cost(1202).params == count_parameters(ar.build_cifar(1202))


def test_measure_macs_on_cpu_equals_meta_and_restores_mode() -> None:
    cpu_model = ar.build_cifar(8, device="cpu").train()
    cpu = ar.measure_macs(cpu_model, 32)
    assert cpu_model.training
    assert cpu.total == ar.measure_macs(ar.build_cifar(8), 32).total == ar.cifar_resnet_cost(8).macs


def test_rows_and_table() -> None:
    rows = ar.imagenet_rows(count_with_pytorch=False)
    assert [r["network"] for r in rows] == list(ar.IMAGENET_NAMES)
    cifar = ar.cifar_rows([20, 1202])
    text = ar.format_table(cifar)
    assert " 1202 " in text and f"{cifar[1]['params A']:,}" in text  # depth plain, counts with separators
    assert ar.format_table([]) == ""


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "match"), [
    (lambda: ar.imagenet_resnet_cost("resnet42"), "resnet18"),
    (lambda: ar.imagenet_resnet_cost("resnet50", variant="v2"), "v1.5"),
    (lambda: ar.cifar_resnet_cost(21), "6n\\+2"),
    (lambda: ar.cifar_resnet_cost(20, shortcut="C"), "'A', 'B'"),
    (lambda: ar.conv2d_params(6, 8, 3, groups=4), "divide"),
    (lambda: ar.conv_output_size(0, 3), "positive"),
    (lambda: ar.basic_block_cost(64, 32, 8, 2, shortcut="A"), "option A"),
    (lambda: ar.make_block("wide", 8, 8), "basic"),
    (lambda: lesson03.check_v15_extra_macs(1, stage=1), "2, 3, 4"),
    (lambda: wa.block_comparison(basic_on="input"), "output"),
])
def test_bad_input_raises_value_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# --- exercise checkers (expected answers from PyTorch, not from the formulas) -------------------------
def test_checkers_accept_the_pytorch_answer_and_reject_others(resnet50_measured: dict[str, ar.MeasuredMacs]) -> None:
    r34 = count_parameters(ar.build_torchvision("resnet34"))
    assert lesson03.check_resnet34_params(r34) and not lesson03.check_resnet34_params(r34 - 1)
    assert not lesson03.check_resnet34_params("many")

    stem = ar.measure_macs(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False, device="meta"), 224).total
    assert lesson03.check_stem_macs(stem) and not lesson03.check_stem_macs(stem // 2)

    v1, v15 = resnet50_measured["v1"].by_module, resnet50_measured["v1.5"].by_module
    for stage in (2, 3, 4):
        extra = v15[f"layer{stage}.0"] - v1[f"layer{stage}.0"]
        assert lesson03.check_v15_extra_macs(extra, stage=stage) and not lesson03.check_v15_extra_macs(extra + 1, stage=stage)

    model = ar.build_imagenet("resnet50", variant="v1")
    per_stage = {n: count_parameters(m) for n, m in model.named_children() if n.startswith("layer")}
    biggest = max(per_stage, key=per_stage.__getitem__)
    assert lesson03.check_costliest_stage(biggest, quantity="params")
    assert not lesson03.check_costliest_stage("layer1" if biggest != "layer1" else "layer2", quantity="params")
    assert not lesson03.check_costliest_stage("nowhere")
    assert lesson03.check_costliest_stage(max(per_stage, key=v1.__getitem__), quantity="macs")


# --- plots and widget ---------------------------------------------------------------------------------
def test_plot_stage_macs_bars_sum_to_totals() -> None:
    costs = {n: ar.imagenet_resnet_cost(n, variant="v1") for n in ("resnet18", "resnet50")}
    fig = ar.plot_stage_macs(costs, reference=ar.PAPER_TABLE1_FLOPS)
    ax = fig.axes[0]
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    assert tops[0] == pytest.approx(costs["resnet18"].macs / 1e9)
    assert tops[1] == pytest.approx(costs["resnet50"].macs / 1e9)
    plt.close(fig)


def test_draw_block_comparison_matches_pytorch_blocks() -> None:
    result = wa.draw_block_comparison(in_channels=128, width=32, expansion=4, stride=2, input_size=30,
                                      basic_on="output", variant="v1")
    assert result.figure is not None
    bottleneck = _meta(lambda: ar.make_block("bottleneck", 128, 32, 2, stride_in_1x1=True))
    basic = _meta(lambda: ar.make_block("basic", 128, 128, 2))
    assert ar.compare_with_pytorch(result.bottleneck, bottleneck, 30, in_channels=128).ok
    assert ar.compare_with_pytorch(result.basic, basic, 30, in_channels=128).ok
    # the bars show what the cost says: per axis, the stacked heights sum to the totals
    params_ax, macs_ax = result.figure.axes[:2]
    assert sum(p.get_height() for p in params_ax.patches) * 1e3 == pytest.approx(result.basic.params + result.bottleneck.params)
    assert sum(p.get_height() for p in macs_ax.patches) * 1e6 == pytest.approx(result.basic.macs + result.bottleneck.macs)
    plt.close(result.figure)


def test_widget_controls_drive_the_numbers() -> None:
    box = wa.make_block_arithmetic_widget()
    first = box.results[-1]
    assert 16 < first.basic.params / first.bottleneck.params < 18  # the popular example by default
    box.controls["basic_on"].value = "width"
    fair = box.results[-1]
    assert fair.basic_in == fair.basic_out == 64
    assert ar.basic_block_cost(64, 64, 56).params == fair.basic.params
    box.controls["input_size"].value = 112
    bigger = box.results[-1]
    assert bigger.bottleneck.params == fair.bottleneck.params and bigger.bottleneck.macs == 4 * fair.bottleneck.macs
    box.controls["stride"].value = 2
    box.controls["variant"].value = "v1"
    v1 = box.results[-1]
    box.controls["variant"].value = "v1.5"
    assert box.results[-1].bottleneck.macs > v1.bottleneck.macs
    assert len(box.results) == 1
    plt.close("all")


def test_residual_blocks_of_a_network_each_match_their_block_formula() -> None:
    """Every block that ResNet-50 (v1) builds is what bottleneck_cost describes, at its place."""
    cost = ar.imagenet_resnet_cost("resnet50", variant="v1")
    model = ar.build_imagenet("resnet50", variant="v1")
    for name, block in residual_blocks(model):
        mine = [layer for layer in cost if layer.name.startswith(name + ".")]
        assert sum(layer.params for layer in mine) == count_parameters(block), name
