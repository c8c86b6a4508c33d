"""Lesson 02's Figure 7, measured on lesson 01's trained nets: the stds, the verdict and the plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from resnet_lab import plots  # noqa: E402
from resnet_lab.data import synthetic_cifar  # noqa: E402
from resnet_lab.lessons import degradation as dg  # noqa: E402
from resnet_lab.lessons.responses import figure7_verdict, response_stds, trained_response_stds  # noqa: E402

TINY = dict(depths=(8, 14), width=4, iters=3, batch=8, lr=0.1, lr_milestones=(), augment=False, n_train=64, n_val=16,
            eval_every=3, eval_size=16, seeds=(0, 1), image_size=16)


def test_trained_response_stds_average_the_seeds_of_the_trained_nets(tmp_path):
    data = synthetic_cifar(96, 8, seed=3)
    cfg = dg.CifarConfig(**TINY)
    result = dg.run_degradation_experiment(data, cfg, cache_dir=tmp_path)
    x = dg.validation_images(data, cfg, n=8)
    assert x.shape == (8, 3, 16, 16)
    stds = trained_response_stds(result, x)
    assert set(stds) == {(8, "plain"), (8, "residual"), (14, "plain"), (14, "residual")}
    assert len(stds[(8, "plain")]) == 3 and len(stds[(14, "residual")]) == 6  # one per block
    one = [response_stds(result.model(14, "residual", s), x)[1] for s in (0, 1)]
    assert stds[(14, "residual")] == pytest.approx([(a + b) / 2 for a, b in zip(*one)])
    with pytest.raises(ValueError, match="validation images"):
        dg.validation_images(data, cfg, n=17)


def test_figure7_verdict_names_both_findings():
    good = {(20, "plain"): [1.0, 1.0], (20, "residual"): [0.9, 0.9], (56, "plain"): [1.2], (56, "residual"): [0.8]}
    v = figure7_verdict(good, "synthetic stand-in, not CIFAR-10")
    assert v["smaller"] and v["deeper_smaller"]
    assert "Finding 1 holds" in v["sentence"] and "Finding 2 holds" in v["sentence"] and "stand-in" in v["sentence"]
    bad = {**good, (56, "residual"): [1.3]}
    v = figure7_verdict(bad, "x")
    assert not v["smaller"] and not v["deeper_smaller"] and "NOT" in v["sentence"]
    with pytest.raises(ValueError):
        figure7_verdict({(20, "plain"): [1.0]}, "x")


def test_plot_figure7_draws_every_net():
    stds = {(20, "plain"): [1.0, 1.1], (20, "residual"): [0.9, 0.8]}
    fig = plots.plot_figure7(stds, "synthetic stand-in, not CIFAR-10")
    assert len(fig.axes[0].lines) == 2 and "stand-in" in fig.axes[0].get_title()
    plt.close(fig)
