"""Per-layer cost of an ArchSpec, computed from the spec alone.

Layer names are the module paths of the PyTorch build (``blocks.3.dw.conv``) and the layer
names of the Keras build, so each figure can be checked against a built model. MACs count
multiply-accumulates of convolutions and linear layers; element-wise layers (batch norm,
activation, add, pooling) carry zero MACs but their memory traffic, which a roofline
latency model needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.arch._spec import (
    ArchSpec,
    BasicBlock,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
)

__all__ = ["CostSummary", "LayerCost", "cost_summary", "layer_costs"]


@dataclass(frozen=True)
class LayerCost:
    """Cost of one primitive layer (batch size 1)."""

    name: str
    op: str  # conv | dwconv | linear | bn | act | add | pool | gap | flatten | dropout
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1

    @property
    def input_elems(self) -> int:
        return int(math.prod(self.input_shape))

    @property
    def output_elems(self) -> int:
        return int(math.prod(self.output_shape))

    def activation_bytes(self, bytes_per_elem: int = 4) -> int:
        """Bytes of this layer's output tensor."""
        return self.output_elems * bytes_per_elem

    def weight_bytes(self, bytes_per_elem: int = 4) -> int:
        return self.params * bytes_per_elem

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes(),
            "kernel": self.kernel,
            "stride": self.stride,
            "groups": self.groups,
        }


class _Lowering:
    def __init__(self) -> None:
        self.layers: list[LayerCost] = []

    def conv(
        self,
        name: str,
        shape: tuple[int, ...],
        out_c: int,
        k: int,
        s: int,
        groups: int,
        act: str,
        bn: bool = True,
    ) -> tuple[int, ...]:
        c, h, w = shape
        out = (out_c, math.ceil(h / s), math.ceil(w / s))
        params = out_c * (c // groups) * k * k
        macs = params * out[1] * out[2]
        op = "dwconv" if groups == c and groups > 1 else "conv"
        self.layers.append(LayerCost(f"{name}.conv", op, shape, out, params, macs, k, s, groups))
        if bn:
            self.layers.append(LayerCost(f"{name}.bn", "bn", out, out, 2 * out_c, 0))
        if act != "none":
            self.layers.append(LayerCost(f"{name}.act", "act", out, out, 0, 0))
        return out

    def add(self, name: str, shape: tuple[int, ...]) -> None:
        self.layers.append(LayerCost(name, "add", shape, shape, 0, 0))

    def act(self, name: str, shape: tuple[int, ...]) -> None:
        self.layers.append(LayerCost(name, "act", shape, shape, 0, 0))


def layer_costs(spec: ArchSpec) -> list[LayerCost]:
    """The primitive layers of ``spec`` in execution order, with params and MACs each."""
    low = _Lowering()
    shape = spec.input_shape
    seen_spatial = False
    for i, block in enumerate(spec.blocks):
        p = f"blocks.{i}"
        if isinstance(block, ConvBN):
            g = block.groups_for(shape[0])
            shape = low.conv(
                p, shape, block.out_channels, block.kernel, block.stride, g, block.activation
            )
        elif isinstance(block, InvertedResidual):
            x_in = shape
            hidden = block.hidden_for(shape[0])
            h = shape
            if block.expansion != 1:
                h = low.conv(f"{p}.expand", h, hidden, 1, 1, 1, block.activation)
            h = low.conv(f"{p}.dw", h, hidden, block.kernel, block.stride, hidden, block.activation)
            h = low.conv(f"{p}.project", h, block.out_channels, 1, 1, 1, "none")
            if block.has_residual(x_in[0]):
                low.add(f"{p}.add", h)
            shape = h
        elif isinstance(block, (BasicBlock, Bottleneck)):
            out_c = block.out_channels_for(shape[0])
            if isinstance(block, BasicBlock):
                h = low.conv(f"{p}.conv1", shape, out_c, 3, block.stride, 1, "relu")
                h = low.conv(f"{p}.conv2", h, out_c, 3, 1, 1, "none")
            else:
                h = low.conv(f"{p}.conv1", shape, block.width, 1, 1, 1, "relu")
                h = low.conv(f"{p}.conv2", h, block.width, 3, block.stride, 1, "relu")
                h = low.conv(f"{p}.conv3", h, out_c, 1, 1, 1, "none")
            if block.has_projection(shape[0]):
                low.conv(f"{p}.shortcut", shape, out_c, 1, block.stride, 1, "none")
            low.add(f"{p}.add", h)
            low.act(f"{p}.act", h)
            shape = h
        elif isinstance(block, Pool):
            c, hh, ww = shape
            pooled = (c, math.ceil(hh / block.stride), math.ceil(ww / block.stride))
            low.layers.append(
                LayerCost(f"{p}.pool", "pool", shape, pooled, 0, 0, block.kernel, block.stride)
            )
            shape = pooled
        elif isinstance(block, Dense):
            if len(shape) == 3:
                shape = _to_vector(low, p, shape, pool=seen_spatial)
            out = (block.units,)
            low.layers.append(
                LayerCost(
                    f"{p}.fc",
                    "linear",
                    shape,
                    out,
                    shape[0] * block.units + block.units,
                    shape[0] * block.units,
                )
            )
            if block.batchnorm:
                low.layers.append(LayerCost(f"{p}.bn", "bn", out, out, 2 * block.units, 0))
            if block.activation != "none":
                low.act(f"{p}.act", out)
            if block.dropout > 0:
                low.layers.append(LayerCost(f"{p}.dropout", "dropout", out, out, 0, 0))
            shape = out
        else:  # pragma: no cover - every block type is handled above
            raise TypeError(f"unhandled block {block!r}")
        seen_spatial = seen_spatial or block.spatial
    if len(shape) == 3:
        shape = _to_vector(low, "head", shape, pool=seen_spatial)
    if spec.head_dropout > 0:
        low.layers.append(LayerCost("head.dropout", "dropout", shape, shape, 0, 0))
    n = spec.num_classes
    low.layers.append(LayerCost("head.fc", "linear", shape, (n,), shape[0] * n + n, shape[0] * n))
    return low.layers


def _to_vector(
    low: _Lowering, prefix: str, shape: tuple[int, ...], *, pool: bool
) -> tuple[int, ...]:
    out: tuple[int, ...]
    if pool:
        out = (shape[0],)
        low.layers.append(LayerCost(f"{prefix}.gap", "gap", shape, out, 0, 0, shape[1], 1))
    else:
        out = (int(math.prod(shape)),)
        low.layers.append(LayerCost(f"{prefix}.flatten", "flatten", shape, out, 0, 0))
    return out


@dataclass(frozen=True)
class CostSummary:
    params: int
    macs: int
    activation_bytes: int  # sum of all layer outputs (fp32)
    peak_activation_bytes: int  # largest live set: a layer's input + output (+ kept residual)
    weight_bytes: int  # fp32
    layers: int

    @property
    def mflops(self) -> float:
        return 2 * self.macs / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
            "weight_bytes": self.weight_bytes,
            "layers": self.layers,
        }


def cost_summary(spec: ArchSpec, layers: list[LayerCost] | None = None) -> CostSummary:
    """Totals of :func:`layer_costs`, with a peak-activation-memory estimate (batch 1, fp32)."""
    low_layers = layers if layers is not None else layer_costs(spec)
    # A residual block keeps its input alive until its add: layers of a block with an add carry it.
    kept = [0] * len(low_layers)
    spans: dict[str, list[int]] = {}
    for idx, layer in enumerate(low_layers):
        if layer.name.startswith("blocks."):
            spans.setdefault(".".join(layer.name.split(".")[:2]), []).append(idx)
    for prefix, idxs in spans.items():
        first = low_layers[idxs[0]]
        if any(low_layers[j].op == "add" for j in idxs) and first.name.startswith(prefix):
            for j in idxs:
                kept[j] = first.input_elems * 4
    peak = max(
        (
            layer.input_elems * 4 + layer.output_elems * 4 + kept[i]
            for i, layer in enumerate(low_layers)
        ),
        default=0,
    )
    params = sum(layer.params for layer in low_layers)
    return CostSummary(
        params=params,
        macs=sum(layer.macs for layer in low_layers),
        activation_bytes=sum(layer.activation_bytes() for layer in low_layers),
        peak_activation_bytes=peak,
        weight_bytes=params * 4,
        layers=len(low_layers),
    )
