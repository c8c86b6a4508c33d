"""Reference results: stored with full provenance, loaded by lesson and profile, drawn faintly and labelled."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from resnet_lab import references  # noqa: E402
from resnet_lab.estimates import COLAB_BUDGET_MINUTES, RunEstimate, lesson_estimates, training_flops  # noqa: E402
from resnet_lab.profiles import get_profile  # noqa: E402


def _prov(**kw):
    base = dict(profile="cpu", data="synthetic stand-in, not CIFAR-10", seeds=[0, 1], wall_seconds=12.3,
                command="python -m resnet_lab.references record --profile cpu lesson01")
    base.update(kw)
    return references.provenance(**base)


def test_save_load_roundtrip_and_caption(tmp_path):
    path = references.save("lesson01", "cpu", {"x": [1, 2]}, _prov(), tmp_path)
    assert path.name == "lesson01_cpu.json"
    ref = references.load("lesson01", "cpu", tmp_path)
    assert ref is not None and ref.results == {"x": [1, 2]}
    caption = ref.caption()
    assert "reference" in caption and "cpu profile" in caption and "2 seeds" in caption and "stand-in" in caption
    assert "wall_seconds" in ref.describe() and "command" in ref.describe()


def test_quick_profile_shows_the_cpu_reference_and_missing_is_none(tmp_path):
    assert references.load("lesson01", "cpu", tmp_path) is None
    references.save("lesson01", "cpu", {}, _prov(), tmp_path)
    assert references.load("lesson01", "quick", tmp_path).profile == "cpu"
    assert references.load("lesson01", "gpu", tmp_path) is None


def test_bad_names_and_missing_provenance_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lesson01"):
        references.load("lesson03", "cpu", tmp_path)
    with pytest.raises(ValueError, match="quick, cpu, gpu"):
        references.reference_path("lesson01", "tpu", tmp_path)
    prov = _prov()
    del prov["hardware"]
    with pytest.raises(ValueError, match="hardware"):
        references.save("lesson01", "cpu", {}, prov, tmp_path)


@pytest.mark.parametrize("path", sorted(references.REFERENCE_DIR.glob("*.json")), ids=lambda p: p.name)
def test_stored_references_carry_their_provenance(path):
    raw = json.loads(path.read_text())
    prov = raw["provenance"]
    for key in ("profile", "data", "hardware", "torch", "date", "seeds", "wall_seconds", "command"):
        assert key in prov, key
    assert prov["command"].startswith("python -m resnet_lab.references record")
    assert raw["lesson"] in references.LESSONS and path.name == f"{raw['lesson']}_{raw['profile']}.json"


def test_the_cpu_references_of_every_lesson_are_in_the_repository():
    for lesson in references.LESSONS:
        assert references.load(lesson, "cpu") is not None, f"record it: python -m resnet_lab.references record {lesson}"


def test_error_curves_draw_the_reference_faintly_and_label_it(tmp_path):
    from resnet_lab import plots
    from resnet_lab.lessons import degradation as dg

    cfg = dg.CifarConfig(depths=(8, 14), iters=2, eval_every=1, n_train=10, n_val=10, eval_size=10, seeds=(0, 1))
    runs = [{"depth": d, "kind": k, "seed": s, "iters": [0, 1, 2], "train_error": [0.9, 0.5, 0.1 * s],
             "val_error": [0.9, 0.6, 0.3], "diverged": False, "diverged_at": None}
            for d in (8, 14) for k in ("plain", "residual") for s in (0, 1)]
    result = dg.DegradationResult(cfg, "synthetic stand-in, not CIFAR-10", "test", runs, 0, 0.0)
    references.save("lesson01", "cpu", {"runs": runs}, _prov(), tmp_path)
    ref = references.load("lesson01", "cpu", tmp_path)
    fig = plots.plot_error_curves(result, reference=ref)
    ax = fig.axes[0]
    faint = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(faint) == 2 and all(line.get_alpha() < 0.6 for line in faint)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("reference" in t for t in labels)
    plt.close(fig)


def test_gpu_profile_fits_a_colab_sitting_by_estimate():
    for est in lesson_estimates(get_profile("gpu", device="cpu")):
        assert est.minutes <= COLAB_BUDGET_MINUTES, str(est)
        assert "estimate" in str(est)


def test_training_flops_counts_forward_and_backward():
    assert training_flops(10, 4) == 2 * 10 * 3 * 4
    assert training_flops(10, 0, eval_images=5) == 2 * 10 * 5
    assert RunEstimate("x", "y", 3e12 * 60, tflops=3).minutes == pytest.approx(1.0)


def test_the_recorded_cpu_run_shows_figure_6_and_figure_7():
    """The cpu profile's recorded run (this machine, 2 cores) shows the paper's orderings (issue 12 §1)."""
    ref01 = references.load("lesson01", "cpu")
    ref02 = references.load("lesson02", "cpu")
    assert ref01 is not None and ref02 is not None, "record them: python -m resnet_lab.references record lesson01 lesson02"
    depths = ref01.results["config"]["depths"]
    final = ref01.results["final"]
    shallow, deep = min(depths), max(depths)
    assert final[f"plain-{deep}"]["train_error"] >= final[f"plain-{shallow}"]["train_error"] + 0.05
    assert final[f"residual-{deep}"]["train_error"] <= final[f"residual-{shallow}"]["train_error"] + 0.01
    assert ref01.provenance["wall_seconds"] <= 600, "lesson 01's cpu run must fit in 10 minutes on 2 cores"
    stds = {k: sum(v) / len(v) for k, v in ref02.results["stds"].items()}
    assert all(stds[f"residual-{d}"] < stds[f"plain-{d}"] for d in depths)
    assert stds[f"residual-{deep}"] < stds[f"residual-{shallow}"]
