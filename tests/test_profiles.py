from __future__ import annotations

import pytest
import torch

from resnet_lab.models import cifar_resnet
from resnet_lab.profiles import PROFILE_NAMES, get_profile


def test_env_var_chooses_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROFILE_NAMES:
        monkeypatch.setenv("RESNET_LAB_PROFILE", name)
        assert get_profile().name == name


def test_automatic_choice_follows_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESNET_LAB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "gpu"


def test_unknown_profile_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick, cpu, gpu"):
        get_profile()


def test_quick_is_cpu_and_synthetic_and_budgets_grow() -> None:
    quick, cpu, gpu = (get_profile(n) for n in PROFILE_NAMES)
    assert quick.device == torch.device("cpu") and not quick.use_real_data
    assert quick.training.epochs <= cpu.training.epochs <= gpu.training.epochs
    assert quick.degradation.cifar_iters <= cpu.degradation.cifar_iters <= gpu.degradation.cifar_iters
    assert quick.why.train_iters <= cpu.why.train_iters <= gpu.why.train_iters


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_budgeted_depth_is_buildable(name: str) -> None:
    p = get_profile(name)
    for depth in (*p.degradation.cifar_depths, *p.gradients.response_depths, p.why.depth, p.why.preact_depth):
        cifar_resnet(depth, width=2)  # raises on a depth that is not 6n+2
