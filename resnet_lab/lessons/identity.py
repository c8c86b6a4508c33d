"""Lesson 00: why the identity must be easy, measured.

* :func:`identity_gaps`: how far each block with an identity shortcut is from computing the identity
  at its own input, ``max |block(h) - h|``; exactly 0 once the last BN of every branch is
  zero-initialised (``cifar_resnet(..., zero_init_residual=True)``, Goyal et al. 2017).
* :func:`feature_std_by_depth`: the spread of the features the classifier sees, for nets of
  growing depth, with and without that zero-init: each default block adds its branch's variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..models import cifar_resnet, residual_blocks
from .probing import block_inputs

__all__ = ["identity_gaps", "feature_std_by_depth"]


def identity_gaps(model: nn.Module, x: Tensor) -> list[float]:
    """For each block whose shortcut is the identity: ``max |block(h) - h|`` at its input ``h`` for batch ``x``.

    Blocks run in the model's current mode (use ``train()`` to see BN as in training). A block whose
    input is the output of a ReLU computes ``relu(F(h) + h) = h`` exactly when ``F(h) = 0``.
    """
    inputs = block_inputs(model, x)
    gaps = []
    with torch.no_grad():
        for name, block in residual_blocks(model):
            if getattr(block, "downsample", None) is not None:
                continue  # a shape-changing block cannot be the identity
            h = inputs[name]
            gaps.append((block(h.clone()) - h).abs().max().item())
    return gaps


def feature_std_by_depth(depths: Sequence[int], x: Tensor, *, width: int = 8, seed: int = 0
                         ) -> dict[str, list[float]]:
    """Std of the last stage's output (what global average pooling reads) at initialisation, in training
    mode, for residual nets of each depth: ``{"default": [...], "zero-init": [...]}`` in ``depths`` order."""
    out: dict[str, list[float]] = {"default": [], "zero-init": []}
    for depth in depths:
        for key, zero in (("default", False), ("zero-init", True)):
            torch.manual_seed(seed)
            net = cifar_resnet(depth, width=width, zero_init_residual=zero).train()
            seen: list[Tensor] = []
            handle = net.layer3.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
            try:
                with torch.no_grad():
                    net(x)
            finally:
                handle.remove()
            out[key].append(seen[0].std().item())
    return out
