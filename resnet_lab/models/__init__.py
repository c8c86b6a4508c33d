"""Residual and plain networks: the blocks, the paper's CIFAR family and the ImageNet family.

* :mod:`.blocks` -- ``conv3x3``/``conv1x1``, THE shortcut rule (:func:`make_shortcut`), the blocks
  (:class:`BasicBlock`, :class:`Bottleneck`, :class:`PreActBlock`) whose residual sum is written
  once in :class:`ResidualBlock`.
* :mod:`.cifar` -- the CIFAR family (depth 6n+2, :func:`validate_cifar_depth`, :data:`PAPER_CIFAR_DEPTHS`).
* :mod:`.imagenet` -- the ImageNet family and its one stage table :data:`IMAGENET_STAGES`.
* :mod:`.variants` -- Wide ResNets and ResNeXt (CIFAR and ImageNet).
* :mod:`.registry` -- models by name, one registry per family, and :func:`count_parameters`.
* :mod:`.validation` -- the argument validators (``validate_*``) and option lists.

Every public name is re-exported here: ``from resnet_lab.models import cifar_resnet``.
"""

from __future__ import annotations

from .blocks import (
    PREACT_SHORTCUT_INPUTS,
    BasicBlock,
    Bottleneck,
    PreActBlock,
    ResidualBlock,
    ShortcutA,
    changes_shape,
    conv1x1,
    conv3x3,
    init_weights,
    make_shortcut,
    make_stage,
    residual_blocks,
)
from .cifar import PAPER_CIFAR_DEPTHS, PAPER_TABLE6_ERRORS, CifarResNet, cifar_depths, cifar_resnet, validate_cifar_depth
from .imagenet import (
    IMAGENET_STAGES,
    PAPER_IMAGENET_NAMES,
    ImageNetSpec,
    ResNet,
    build_imagenet_net,
    cifar_resnet18,
    imagenet_spec,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from .registry import (
    CIFAR_MODEL_NAMES,
    IMAGENET_MODEL_NAMES,
    MODEL_NAMES,
    build_model,
    count_parameters,
    model_family,
    paper_cifar_depth,
)
from .variants import (
    CifarResNeXt,
    cifar_resnext29,
    resnext50_32x4d,
    resnext101_32x8d,
    validate_wrn_depth,
    wide_resnet,
    wide_resnet50_2,
    wide_resnet101_2,
)
from .validation import (
    SHORTCUTS,
    VARIANTS,
    Shortcut,
    Variant,
    validate_positive_int,
    validate_shortcut,
    validate_variant,
)

__all__ = [
    # blocks
    "conv3x3", "conv1x1", "ShortcutA", "changes_shape", "make_shortcut", "make_stage", "ResidualBlock",
    "BasicBlock", "Bottleneck", "PreActBlock", "PREACT_SHORTCUT_INPUTS", "init_weights", "residual_blocks",
    # CIFAR family
    "PAPER_CIFAR_DEPTHS", "PAPER_TABLE6_ERRORS", "validate_cifar_depth", "cifar_depths", "CifarResNet", "cifar_resnet",
    # ImageNet family
    "ImageNetSpec", "IMAGENET_STAGES", "PAPER_IMAGENET_NAMES", "imagenet_spec", "ResNet", "build_imagenet_net",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "cifar_resnet18",
    # variants
    "validate_wrn_depth", "wide_resnet", "CifarResNeXt", "cifar_resnext29", "resnext50_32x4d", "resnext101_32x8d",
    "wide_resnet50_2", "wide_resnet101_2",
    # registry
    "CIFAR_MODEL_NAMES", "IMAGENET_MODEL_NAMES", "MODEL_NAMES", "model_family", "paper_cifar_depth",
    "build_model", "count_parameters",
    # validation
    "Shortcut", "Variant", "SHORTCUTS", "VARIANTS", "validate_positive_int", "validate_shortcut", "validate_variant",
]
