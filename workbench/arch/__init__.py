"""Architectures: the framework-neutral ArchSpec, standard specs, per-layer cost, builders."""

from workbench.arch._cost import CostSummary, LayerCost, cost_summary, layer_costs
from workbench.arch._keras import build_keras, keras_input_shape
from workbench.arch._spec import (
    ACTIVATIONS,
    ArchSpec,
    BasicBlock,
    Block,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
    block_from_dict,
)
from workbench.arch._torch import build_torch
from workbench.arch._zoo import (
    mlp,
    mobilenet_stages,
    mobilenet_v2,
    resnet,
    resnet18,
    resnet34,
    resnet50,
)

__all__ = [
    "ACTIVATIONS",
    "ArchSpec",
    "BasicBlock",
    "Block",
    "Bottleneck",
    "ConvBN",
    "CostSummary",
    "Dense",
    "InvertedResidual",
    "LayerCost",
    "Pool",
    "block_from_dict",
    "build_keras",
    "build_torch",
    "cost_summary",
    "keras_input_shape",
    "layer_costs",
    "mlp",
    "mobilenet_stages",
    "mobilenet_v2",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
]
