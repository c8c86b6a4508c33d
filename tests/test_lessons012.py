"""The package side of lessons 00-02: shape trace, zero-init measurements, product-formula measurement, figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from resnet_lab.lessons import figures
from resnet_lab.lessons.identity import feature_std_by_depth, identity_gaps
from resnet_lab.lessons.paths import network_path_gradients, path_counts, path_measurement_lines
from resnet_lab.lessons.probing import calibrate_batchnorm
from resnet_lab.lessons.product_formula import shortcut_path_gain
from resnet_lab.models import count_parameters, cifar_resnet, resnet18
from resnet_lab.models.trace import format_trace, shape_trace


def test_shape_trace_cifar_and_imagenet():
    net = cifar_resnet(20)
    rows = shape_trace(net, (1, 3, 32, 32))
    by = {r.name: r for r in rows}
    assert [r.name for r in rows] == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]
    assert by["layer1"].output_shape == (1, 16, 32, 32) and by["layer3"].output_shape == (1, 64, 8, 8)
    assert by["layer2"].blocks == 3 and by["fc"].output_shape == (1, 10)
    assert sum(r.params for r in rows) == count_parameters(net)
    assert net.training  # mode restored
    r18 = shape_trace(resnet18(), (1, 3, 64, 64))
    assert [r.output_shape[1] for r in r18 if r.name.startswith("layer")] == [64, 128, 256, 512]
    assert {r.name: r for r in r18}["maxpool"].output_shape == (1, 64, 16, 16)
    text = format_trace(rows, (1, 3, 32, 32))
    assert "16 x 32 x 32" in text and f"{count_parameters(net):,}" in text
    blocks = shape_trace(cifar_resnet(8), (2, 3, 16, 16), blocks=True)
    assert [r.name for r in blocks if "." in r.name] == ["layer1.0", "layer2.0", "layer3.0"]


def test_zero_init_makes_every_identity_block_the_identity():
    x = torch.randn(8, 3, 16, 16)
    torch.manual_seed(0)
    zero = identity_gaps(cifar_resnet(14, width=8, zero_init_residual=True).train(), x)
    torch.manual_seed(0)
    default = identity_gaps(cifar_resnet(14, width=8).train(), x)
    assert len(zero) == len(default) == 4  # 6 blocks, 2 of them downsample
    assert max(zero) == 0.0 and min(default) > 0.1
    stds = feature_std_by_depth([8, 32], x)
    assert stds["default"][1] > 1.3 * stds["default"][0]  # each default block adds variance
    assert abs(stds["zero-init"][1] - stds["zero-init"][0]) < 0.1 * stds["zero-init"][0]


def test_shortcut_path_gain_matches_the_path_split():
    torch.manual_seed(0)
    net = calibrate_batchnorm(cifar_resnet(14, width=4), torch.randn(16, 3, 8, 8))
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([1, 2])
    m = shortcut_path_gain(net, x, y)
    ref = network_path_gradients(net, x, y)
    assert torch.allclose(m.paths.full, ref.full, atol=1e-6) and m.paths.max_error < 1e-4
    assert 0.0 < m.shortcut_path < 1.0  # the ReLU masks and option A make the "1" path lose gradient
    (line,) = path_measurement_lines({"at init": m})
    k = max(range(len(m.paths.norms)), key=lambda i: m.paths.norms[i])
    assert line.startswith("at init") and f"{m.paths.blocks} blocks" in line
    assert f"length {k};" in line and f"{m.shortcut_path:.2f} x" in line


def test_figures_draw():
    sweep = {"depths": [4, 8], "loss": {"plain": [0.1, 0.3], "residual": [0.1, 0.05]}}
    figs = [figures.plot_toy_sweep(sweep, 10)]
    torch.manual_seed(0)
    spectra = {k: figures.first_stage_spectra(8, k == "residual", torch.randn(8, 3, 8, 8), width=2, size=4)
               for k in ("plain", "residual")}
    figs.append(figures.plot_spectra(spectra, 8, "stand-in"))
    assert len(figures.spectra_summary(spectra)) == 2
    torch.manual_seed(0)
    net = calibrate_batchnorm(cifar_resnet(8, width=4), torch.randn(8, 3, 8, 8))
    res = network_path_gradients(net, torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    figs.append(figures.plot_path_gradients({"at init": res}, path_counts(3), "t"))
    for f in figs:
        plt.close(f)
