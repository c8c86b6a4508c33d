"""Closed-form parameter and FLOP counts of residual blocks and networks (lesson 03).

Conventions, stated once and used everywhere in this package:

* **Parameters** are what ``sum(p.numel() for p in model.parameters())`` counts: convolution and
  linear weights (and biases, where a layer has one) and the BatchNorm scale and shift (2C per
  BN). BatchNorm's running mean and variance (2C) and its step counter (1) are *buffers*, not
  parameters; they are counted separately as ``buffers``.
* **MACs** (multiply-accumulates, "multiply-adds") of the layers that have weights: convolutions
  and the fully connected classifier. BatchNorm, ReLU, pooling, the shortcut additions and the
  biases are not counted. This is what the paper's "FLOPs" in Table 1 count ("multiply-adds",
  He et al. 2015, section 3.3), and exactly what PyTorch's
  :class:`torch.utils.flop_counter.FlopCounterMode` counts, except that it reports
  **FLOPs = 2 x MACs** (one multiply plus one add). :func:`measure_macs` divides by two.
* A convolution costs ``H_out * W_out * C_out * (C_in / groups) * k_h * k_w`` MACs: every output
  value is a dot product over its receptive field, padded zeros included.

Modules: :mod:`.layers` (one layer, ``Cost``), :mod:`.blocks` (residual blocks), :mod:`.networks`
(whole nets), :mod:`.variants` (grouped 3x3, wide blocks, WRN and ResNeXt-29), :mod:`.measure` (PyTorch's count), :mod:`.tables` (the paper's figures, tables, plot).
The architecture facts (shortcut rule, stage table, 6n+2 rule, depth list) are imported from
:mod:`resnet_lab.models`, never restated. Every closed form has a PyTorch counterpart that
``tests/test_arithmetic.py`` compares it with. The lesson's exercise checkers are in
:mod:`resnet_lab.exercises.lesson03`.
"""

from __future__ import annotations

from .blocks import basic_block_cost, bottleneck_cost, make_block, preact_block_cost, shortcut_cost
from .layers import (
    Cost,
    LayerCost,
    batchnorm_buffers,
    batchnorm_cost,
    batchnorm_params,
    conv2d_cost,
    conv2d_macs,
    conv2d_params,
    conv_output_size,
    linear_cost,
    linear_macs,
    linear_params,
    stage_of,
)
from .measure import Agreement, MeasuredMacs, compare_with_pytorch, measure_macs
from .networks import (
    IMAGENET_NAMES,
    build_cifar,
    build_imagenet,
    build_torchvision,
    cifar_resnet_cost,
    imagenet_resnet_cost,
)
from .tables import (
    PAPER_TABLE1_FLOPS,
    PAPER_TABLE6_PARAMS,
    cifar_rows,
    format_table,
    imagenet_rows,
    plot_stage_macs,
    variant_differences,
)
from .variants import (
    cifar_resnext29_cost,
    grouped_conv3x3_cost,
    resnext_block_cost,
    wide_block_cost,
    wide_resnet_cost,
)

__all__ = [
    "LayerCost", "Cost", "stage_of", "conv_output_size", "conv2d_params", "conv2d_macs", "conv2d_cost",
    "batchnorm_params", "batchnorm_buffers", "batchnorm_cost", "linear_params", "linear_macs", "linear_cost",
    "shortcut_cost", "basic_block_cost", "bottleneck_cost", "preact_block_cost", "make_block",
    "grouped_conv3x3_cost", "wide_block_cost", "resnext_block_cost", "wide_resnet_cost", "cifar_resnext29_cost",
    "IMAGENET_NAMES", "imagenet_resnet_cost", "cifar_resnet_cost", "build_imagenet", "build_torchvision", "build_cifar",
    "MeasuredMacs", "measure_macs", "Agreement", "compare_with_pytorch",
    "PAPER_TABLE1_FLOPS", "PAPER_TABLE6_PARAMS", "imagenet_rows", "cifar_rows", "format_table",
    "variant_differences", "plot_stage_macs",
]
