"""Lesson 01: ruling out a weak forward signal. Activation and gradient spread at initialisation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import cifar_resnet
from .toy import KINDS

__all__ = ["activation_stats"]


def activation_stats(
    depth: int, x: Tensor, *, width: int = 16, seed: int = 0, device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Per block of freshly initialised plain and residual nets: std of its output and of its gradient.

    The nets are in training mode (BN normalises with the batch statistics, as during training);
    the loss is the cross-entropy against random labels. With BN, the plain net's signal keeps a
    non-zero, non-exploding spread through every block: the forward signal is healthy, so its
    worse training cannot be blamed on vanishing activations (He et al. 2015, section 4.1).
    """
    device = torch.device(device)
    x = x.to(device)
    labels = torch.randint(0, 10, (x.shape[0],), generator=torch.Generator().manual_seed(seed)).to(device)
    out: dict[str, Any] = {"depth": depth, "blocks": [], "act_std": {}, "grad_std": {}}
    for kind in KINDS:
        torch.manual_seed(seed)
        model = cifar_resnet(depth, residual=kind == "residual", width=width).to(device).train()
        blocks = [m for layer in (model.layer1, model.layer2, model.layer3) for m in layer]
        acts: list[Tensor] = []

        def keep(_m: nn.Module, _i: Any, o: Tensor) -> None:
            o.retain_grad()
            acts.append(o)

        handles = [b.register_forward_hook(keep) for b in blocks]
        try:
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
        finally:
            for h in handles:
                h.remove()
        out["act_std"][kind] = [float(a.detach().std()) for a in acts]
        out["grad_std"][kind] = [float(a.grad.std()) if a.grad is not None else float("nan") for a in acts]
        out["blocks"] = list(range(1, len(blocks) + 1))
    return out
