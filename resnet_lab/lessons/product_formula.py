"""What the scalar product formula ``dL/dx_0 = dL/dx_n * prod_i (1 + dF_i/dx_i)`` gets wrong in a real net.

Read with scalars, the formula promises that the path through every shortcut (length 0) hands the
gradient ``dL/dx_n`` to the first block untouched: its "1". In the paper's CIFAR ResNet that is not
so: each factor is a matrix ``D_i (S_i + J_i)``, where ``D_i`` is the 0/1 mask of the ReLU after the
addition and ``S_i`` the shortcut's Jacobian (the identity, or option A's subsample-and-pad, which
drops three pixels in four and the padded channels). :func:`shortcut_path_gain` measures how much of
the gradient's norm the length-0 path really delivers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import residual_blocks
from .paths import NetworkPaths, path_gradients_by_length
from .probing import block_inputs

__all__ = ["PathMeasurement", "shortcut_path_gain"]


@dataclass(frozen=True)
class PathMeasurement:
    """The gradient at the first block split by path length, and two gains relative to ``||dL/dx_n||``."""

    paths: NetworkPaths
    shortcut_path: float  # ||length-0 term|| / ||dL/dx_n||: the scalar formula says exactly 1
    whole_gradient: float  # ||dL/dx_0|| / ||dL/dx_n||


def shortcut_path_gain(model: nn.Module, x: Tensor, y: Tensor) -> PathMeasurement:
    """``||length-0 path term at the first block|| / ||dL/d(output of the last block)||`` (the scalar
    formula says 1), the same ratio for the whole gradient, and the split by path length (as
    :func:`resnet_lab.lessons.paths.network_path_gradients`), for a CIFAR ResNet in its current mode."""
    blocks = [b for _, b in residual_blocks(model)]
    if not blocks or not hasattr(model, "layer1"):
        raise ValueError("model must be a CIFAR ResNet from resnet_lab.models.cifar_resnet")
    first = next(iter(block_inputs(model, x).values()))
    h0 = first.clone().requires_grad_(True)
    h = h0
    for b in blocks:
        h = b(h)
    hn = h.detach().requires_grad_(True)
    head = torch.relu(model.final_bn(hn)) if model.preact else hn
    loss = F.cross_entropy(model.fc(torch.flatten(model.avgpool(head), 1)), y)
    (g_out,) = torch.autograd.grad(loss, hn)
    (full,) = torch.autograd.grad(h, h0, g_out)
    by_length = path_gradients_by_length(blocks, first, g_out)
    top = g_out.norm().item()
    paths = NetworkPaths(by_length, full.detach(), len(blocks))
    return PathMeasurement(paths, by_length[0].norm().item() / top, full.norm().item() / top)
