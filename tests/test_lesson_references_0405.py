"""Lessons 04 and 05 draw a recorded reference beside the learner's run when one exists, and say so
when none does: the expressions of their plot cells, driven with a reference saved to a temporary folder."""

from __future__ import annotations

import matplotlib.pyplot as plt

from resnet_lab import plots, references
from resnet_lab.train import History


def _history_dict(n: int = 3) -> dict:
    return {"epoch": list(range(1, n + 1)), "step": [10 * i for i in range(1, n + 1)],
            "train_loss": [2.0 - 0.3 * i for i in range(n)], "train_acc": [0.2] * n,
            "val_loss": [2.0] * n, "val_acc": [0.1 * (i + 1) for i in range(n)]}


def _history() -> History:
    h = History()
    for i, row in enumerate(zip(*_history_dict().values())):
        epoch, step, tl, ta, vl, va = row
        h.epoch.append(epoch); h.step.append(step); h.train_loss.append(tl); h.train_acc.append(ta)
        h.val_loss.append(vl); h.val_acc.append(va)
    return h


def test_reference_histories_are_drawn_faintly_and_labelled(tmp_path):
    prov = references.provenance(profile="cpu", data="synthetic stand-in", seeds=[0], wall_seconds=1.0,
                                 command="python -m resnet_lab.references record --profile cpu")
    references.save("lesson04", "cpu", {"model": "resnet20", "history": _history_dict()}, prov, tmp_path)
    references.save("lesson05", "cpu", {"histories": {k: _history_dict() for k in ("original", "preact")}}, prov, tmp_path)
    ref4 = references.load("lesson04", "quick", tmp_path)  # the quick profile shows the cpu reference
    fig = plots.plot_histories({"resnet20": _history()}, reference=ref4,
                               reference_histories={f"{ref4.results['model']}": ref4.results["history"]})
    assert any("reference" in line.get_label() for line in fig.axes[0].lines)
    plt.close(fig)
    ref5 = references.load("lesson05", "cpu", tmp_path)
    ref_h = {k: ref5.results["histories"][k] for k in ("original", "preact") if k in ref5.results.get("histories", {})}
    fig = plots.plot_histories({"original": _history(), "preact": _history()}, reference=ref5, reference_histories=ref_h)
    assert sum("reference" in line.get_label() for line in fig.axes[1].lines) == 2
    plt.close(fig)
    assert references.load("lesson05", "gpu", tmp_path) is None  # the lessons then say none was recorded
