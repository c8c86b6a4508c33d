"""Models by name, one registry per family, so that each name has one meaning.

* :data:`CIFAR_MODEL_NAMES`: networks made for 32x32 images (the paper's CIFAR family
  ``resnet20`` ... ``resnet1202``, its plain and pre-activation twins, the CIFAR-style ResNet-18,
  the Wide ResNets ``wrn16_8``, ``wrn28_10``, ``wrn40_4`` and ``resnext29_8x64d``/``_16x64d``).
* :data:`IMAGENET_MODEL_NAMES`: the ImageNet architectures (7x7 stride-2 stem, max-pool, four
  stages), ``resnet18`` ... ``resnet152``, ``resnext50_32x4d`` ... ``wide_resnet101_2``,
  exactly torchvision's layers.

So ``resnet20`` is a CIFAR net and ``resnet18`` is the ImageNet architecture; the CIFAR-adapted
ResNet-18 is ``cifar_resnet18``. :func:`build_model` builds any of them for ``num_classes`` classes,
which the caller states (it defaults to 10, CIFAR-10's classes, because the course trains on
CIFAR-10: ``build_model("resnet18")`` is the ImageNet architecture with a 10-way classifier, while
``models.resnet18()`` keeps torchvision's 1000).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import nn

from .cifar import PAPER_CIFAR_DEPTHS, cifar_resnet
from .imagenet import IMAGENET_STAGES, build_imagenet_net, cifar_resnet18
from .variants import cifar_resnext29, wide_resnet

__all__ = [
    "CIFAR_MODEL_NAMES",
    "IMAGENET_MODEL_NAMES",
    "MODEL_NAMES",
    "model_family",
    "paper_cifar_depth",
    "build_model",
    "count_parameters",
]

# The paper's CIFAR family by depth: name prefix -> extra arguments of cifar_resnet.
_CIFAR_PREFIXES: dict[str, dict[str, object]] = {
    "resnet": {},
    "plain": {"residual": False},
    "preact_resnet": {"preact": True},
}
_CIFAR_OTHER: dict[str, Callable[..., nn.Module]] = {
    "cifar_resnet18": cifar_resnet18,
    # Wide ResNets of Zagoruyko and Komodakis (2016), Table 1 and 4: WRN-depth-k.
    "wrn16_8": lambda **kw: wide_resnet(16, 8, **kw),
    "wrn28_10": lambda **kw: wide_resnet(28, 10, **kw),
    "wrn40_4": lambda **kw: wide_resnet(40, 4, **kw),
    # ResNeXt-29 of Xie et al. (2017), Table 7: cardinality x bottleneck width.
    "resnext29_8x64d": lambda **kw: cifar_resnext29(8, 64, **kw),
    "resnext29_16x64d": lambda **kw: cifar_resnext29(16, 64, **kw),
    # Lesson 06's equal-compute trio with resnet44: about 0.1 GMACs per 32x32 image each.
    "wrn16_2": lambda **kw: wide_resnet(16, 2, **kw),
    "resnext29_2x2d": lambda **kw: cifar_resnext29(2, 2, **kw),
}

CIFAR_MODEL_NAMES: tuple[str, ...] = (
    *(f"{prefix}{d}" for prefix in _CIFAR_PREFIXES for d in PAPER_CIFAR_DEPTHS),
    *_CIFAR_OTHER,
)
"""Networks for 32x32 inputs (the paper's CIFAR family, the CIFAR-style ResNet-18, Wide ResNets, ResNeXt-29)."""

IMAGENET_MODEL_NAMES: tuple[str, ...] = tuple(IMAGENET_STAGES)
"""ImageNet architectures (torchvision's layers; in :func:`build_model` with ``num_classes`` classes)."""

MODEL_NAMES: tuple[str, ...] = CIFAR_MODEL_NAMES + IMAGENET_MODEL_NAMES
"""Every name :func:`build_model` accepts: the CIFAR family first, then the ImageNet family."""

Family = Literal["cifar", "imagenet"]


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")


def model_family(name: str) -> Family:
    """``"cifar"`` for a name of :data:`CIFAR_MODEL_NAMES`, ``"imagenet"`` for :data:`IMAGENET_MODEL_NAMES`."""
    if name in CIFAR_MODEL_NAMES:
        return "cifar"
    if name in IMAGENET_MODEL_NAMES:
        return "imagenet"
    raise _unknown(name)


def paper_cifar_depth(name: str) -> int | None:
    """The depth (6n+2) of one of the paper's CIFAR nets (``resnetN``, ``plainN``, ``preact_resnetN``), else None."""
    if name not in CIFAR_MODEL_NAMES:
        return None
    for prefix in _CIFAR_PREFIXES:
        depth = name.removeprefix(prefix)
        if depth != name and depth.isdigit():
            return int(depth)
    return None


def build_model(name: str, num_classes: int = 10, **kwargs: object) -> nn.Module:
    """Build the network ``name`` (see :data:`MODEL_NAMES`) with a ``num_classes``-way classifier.

    ``num_classes`` defaults to CIFAR-10's 10 for *every* family, so ``build_model("resnet18")``
    is the ImageNet ResNet-18 architecture with 10 outputs (``models.resnet18()`` has 1000);
    ``model_family(name)`` tells which family a name belongs to. ``kwargs`` go to the builder
    (e.g. ``shortcut="B"`` for a CIFAR net, ``variant="v1"`` for an ImageNet bottleneck net).
    """
    depth = paper_cifar_depth(name)
    if depth is not None:
        prefix = name[: -len(str(depth))]
        return cifar_resnet(depth, num_classes=num_classes, **_CIFAR_PREFIXES[prefix], **kwargs)  # type: ignore[arg-type]
    if name in _CIFAR_OTHER:
        return _CIFAR_OTHER[name](num_classes=num_classes, **kwargs)
    if name in IMAGENET_MODEL_NAMES:
        return build_imagenet_net(name, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]
    raise _unknown(name)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
