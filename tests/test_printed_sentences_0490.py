"""Sentences lessons 04 and 90 print through package functions: English as before, Chinese with the same numbers."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from resnet_lab import estimates, evaluation, loader, references
from resnet_lab.lessons import training_loop as T
from resnet_lab.models import PAPER_TABLE6_ERRORS
from resnet_lab.profiles import get_profile
from resnet_lab.train import History, resume_summary

HAN = re.compile(r"[\u4e00-\u9fff]")


def _numbers(text: str) -> list[str]:
    return sorted(n.rstrip(",.") for n in re.findall(r"\d[\d,.]*", text))


def _history() -> History:
    h = History(meta={"resumed_from": [[3, 0]]})
    for e, acc in ((1, 0.41), (2, 0.5234), (3, 0.47)):
        h.epoch.append(e)
        h.step.append(10 * e)
        h.train_loss.append(1.0)
        h.train_acc.append(0.5)
        h.val_loss.append(1.0)
        h.val_acc.append(acc)
        h.lr.append(0.1)
        h.images_per_s.append(100.0)
        h.epoch_time_s.append(1.0)
    return h


def _texts() -> dict[str, str]:
    gpu = get_profile("gpu", device="cpu")
    bench = loader.LoaderBenchmark(12000.0, 4000.0, 128, 5, 2, "cpu")
    return {
        "split": T.split_summary(n_fit=45_000, n_val=5_000, n_test=10_000, data_label="CIFAR-10"),
        "best": T.best_epoch_summary(_history(), "CIFAR-10"),
        "paper": T.paper_comparison(gpu.training, model="resnet20", test_accuracy=0.9123, epochs=30,
                                    profile_name="gpu", data_label="CIFAR-10", synthetic=False),
        "paper_standin": T.paper_comparison(gpu.training, model="resnet20", test_accuracy=0.5, epochs=2,
                                            profile_name="quick", data_label="stand-in", synthetic=True),
        "classes": evaluation.class_extremes_summary(torch.tensor([0.5, 0.25, 0.875], dtype=torch.float64),
                                                     ["cat", "dog", "ship"]),
        "missing": references.reference_note(None, "quick"),
        "speed": loader.speedup_summary(bench),
        "resume": resume_summary(_history()),
        "estimates": estimates.estimates_report(gpu),
    }


def test_english_text_is_what_the_cells_printed() -> None:
    t = _texts()
    gpu = get_profile("gpu", device="cpu").training
    assert t["split"] == ("data          : CIFAR-10\n"
                          "train split   : 45,000 images  (SGD sees these)\n"
                          "validation    : 5,000 images  (every choice is made here)\n"
                          "test          : 10,000 images  (evaluated once, at the end)")
    assert t["best"] == "best validation accuracy 52.34% at epoch 2 of 3 (CIFAR-10); the model holds that epoch's weights"
    assert t["paper"].splitlines() == [
        f"paper (He et al. 2015): 50,000 training images, 64,000 iterations of 128 = {T.paper_epochs():.1f} epochs",
        f"our gpu profile      : {gpu.n_train - gpu.n_val:,} training images, {gpu.epochs} epochs of batch {gpu.batch_size}",
        f"  resnet20: the paper's Table 6 test error {PAPER_TABLE6_ERRORS[20]:.2f}%",
        f"  resnet56: the paper's Table 6 test error {PAPER_TABLE6_ERRORS[56]:.2f}%",
        "  cifar_resnet18: not in the paper's Table 6, so there is no paper number to compare with",
        "yours: resnet20, 8.77% test error after 30 epochs, gpu profile, CIFAR-10",
    ]
    assert t["paper_standin"].splitlines()[-1] == (
        "yours: resnet20, 50.00% test error after 2 epochs, quick profile, stand-in "
        "(a stand-in: not comparable with the paper)")
    assert t["classes"] == "hardest class in your run: dog (25.0%), easiest: ship (87.5%)"
    assert t["missing"] == ("No reference run was recorded for the 'quick' profile (the quick profile shows the cpu one): "
                            "only your run is drawn.")
    assert t["speed"] == "\nThe device loader delivers 3.0x the images per second of the DataLoader on cpu."
    assert t["resume"] == "epochs in the history after the re-run: 3 (resumed from [[3, 0]])"
    lines = t["estimates"].splitlines()
    assert lines[0] == f"gpu profile, ESTIMATES at an assumed {estimates.T4_EFFECTIVE_TFLOPS:g} TFLOP/s (not measured):"
    assert lines[-1] == (f"a lesson's default run should fit in about {estimates.COLAB_BUDGET_MINUTES:g} minutes "
                         "(one Colab sitting)")
    assert lines[1].startswith("  lesson 01: ") and "(an estimate, not a measurement)" in lines[1]
    assert len(lines) == 2 + len(estimates.lesson_estimates(get_profile("gpu", device="cpu")))


def test_chinese_text_has_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESNET_LAB_LANG", raising=False)
    english = _texts()
    monkeypatch.setenv("RESNET_LAB_LANG", "zh")
    chinese = _texts()
    for key, en in english.items():
        zh = chinese[key]
        assert HAN.search(zh), (key, zh)
        assert zh != en
        # "lesson 01" becomes "第 01 课": the same numbers in every message (the order may differ)
        assert _numbers(zh) == _numbers(en), (key, zh)
    assert chinese["speed"].startswith("\n")
    assert "[[3, 0]]" in chinese["resume"]
    assert "'quick'" in chinese["missing"]
