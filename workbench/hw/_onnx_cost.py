"""Per-node cost of an ONNX graph, for predicting the latency of models that are not ArchSpecs.

A user's ``nn.Module`` (or Keras model) is exported to ONNX; ONNX's own shape inference, with
the batch axis fixed to 1, gives every tensor's shape, from which each node's MACs, activation
elements and parameters follow (a convolution's MACs are ``out_elems x C_in/groups x kH x kW``).
Node types map onto the predictor's op kinds; anything unknown is charged as a memory-bound
element-wise pass and listed, so a prediction never silently ignores part of a graph.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._errors import ConfigError
from workbench._imports import require
from workbench.hw._predict import OpRecord

if TYPE_CHECKING:
    import onnx

__all__ = ["onnx_graph_summary", "ops_from_onnx"]

_FREE = {
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Constant",
    "Shape",
    "Gather",
    "Cast",
    "ConstantOfShape",
    "Range",
    "Size",
    "Slice",
    "Expand",
}
_FUSABLE_ACT = {"Relu", "Clip", "LeakyRelu", "BatchNormalization"}
_ELTWISE = {
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Erf",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "Pow",
    "Sqrt",
    "Exp",
    "Concat",
    "Transpose",
    "Pad",
    "Resize",
    "Neg",
    "Abs",
    "Max",
    "Min",
    "Where",
    "Equal",
    "LayerNormalization",
    "InstanceNormalization",
    "PRelu",
    "Elu",
    "Selu",
    "Softplus",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "Mish",
}
_POOL = {
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "ReduceMax",
    "LpPool",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
}


def _dims(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    out = []
    for d in t.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        else:
            return None
    return tuple(out)


def _load_with_batch_one(path: str | os.PathLike[str]) -> onnx.ModelProto:
    onnx = require("onnx", extra="onnx", purpose="reading ONNX graphs")
    p = Path(path)
    if not p.exists():
        raise ConfigError("ONNX file not found", location=str(path))
    model = onnx.load(str(p), load_external_data=False)
    init_names = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in init_names:
            continue
        dims = inp.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not (d.HasField("dim_value") and d.dim_value > 0):
                if i == 0:
                    d.Clear()
                    d.dim_value = 1
                else:
                    raise ConfigError(
                        f"input {inp.name!r} has a dynamic axis {i} ({d.dim_param or '?'}); only "
                        "the batch axis may be dynamic",
                        location=str(path),
                    )
    del model.graph.value_info[:]
    for out in model.graph.output:  # let inference recompute outputs for batch 1
        for d in out.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.Clear()
    return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    onnx = require("onnx", extra="onnx")
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def ops_from_onnx(
    path: str | os.PathLike[str], *, unknown: list[str] | None = None
) -> list[OpRecord]:
    """Predictor records of every node of the ONNX graph at ``path`` (batch 1).

    Node types the predictor does not know are charged as element-wise passes and their names
    appended to ``unknown`` when given.
    """
    model = _load_with_batch_one(path)
    g = model.graph
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        s = _dims(vi)
        if s is not None:
            shapes[vi.name] = s
    for t in g.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
    consts = {t.name for t in g.initializer} | {
        o for n in g.node if n.op_type == "Constant" for o in n.output
    }
    # weights quantized in the graph (QDQ): DequantizeLinear of a constant is a constant too
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input and n.input[0] in consts:
            consts.update(n.output)

    def elems(name: str) -> int:
        s = shapes.get(name)
        return int(math.prod(s)) if s else 0

    ops: list[OpRecord] = []
    for i, node in enumerate(g.node):
        name = node.name or f"{node.op_type}_{i}"
        op = node.op_type
        data_in = [x for x in node.input if x and x not in consts]
        weights = [x for x in node.input if x and x in consts]
        in_e = sum(elems(x) for x in data_in)
        out_e = sum(elems(x) for x in node.output if x)
        params = sum(elems(x) for x in weights)
        if op in ("Conv", "ConvInteger", "QLinearConv", "ConvTranspose"):
            w_name = node.input[3] if op == "QLinearConv" else node.input[1]
            w = shapes.get(w_name)
            out_shape = shapes.get(node.output[0])
            x_shape = shapes.get(node.input[0])
            if w is None or out_shape is None or x_shape is None:
                raise ConfigError(
                    f"node {name!r} ({op}): shape inference left its shapes unknown",
                    location=str(path),
                )
            group = int(_attr(node, "group", 1))
            k = int(math.prod(w[2:]))
            if op == "ConvTranspose":
                macs = int(math.prod(x_shape[1:])) * (w[1]) * k
                out_c = w[1] * group
            else:
                macs = int(math.prod(out_shape[1:])) * w[1] * k
                out_c = w[0]
            kind = "dwconv" if group > 1 and group == x_shape[1] else "pwconv" if k == 1 else "conv"
            data_e = elems(node.input[0])
            red = macs // out_e if out_e else 0
            strides = _attr(node, "strides", [1])
            ops.append(
                OpRecord(
                    name,
                    kind,
                    macs,
                    data_e,
                    out_e,
                    params,
                    int(out_c),
                    False,
                    op,
                    red,
                    kernel=int(max(w[2:], default=1)),
                    stride=int(max(strides, default=1)),
                )
            )
        elif op in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
            a = shapes.get(node.input[0])
            b_name = node.input[3] if op == "QLinearMatMul" else node.input[1]
            b = shapes.get(b_name)
            out_shape = shapes.get(node.output[0])
            if a is None or b is None or out_shape is None:
                raise ConfigError(
                    f"node {name!r} ({op}): shape inference left its shapes unknown",
                    location=str(path),
                )
            trans_a = int(_attr(node, "transA", 0)) if op == "Gemm" else 0
            kdim = a[-2] if trans_a else a[-1]
            macs = int(math.prod(out_shape)) * int(kdim)
            if b_name in consts:
                ops.append(
                    OpRecord(
                        name,
                        "linear",
                        macs,
                        elems(node.input[0]),
                        out_e,
                        params,
                        int(out_shape[-1]),
                        False,
                        op,
                        int(kdim),
                    )
                )
            else:  # activation x activation (attention): compute-bound as linear layers, no weights
                ops.append(
                    OpRecord(
                        name,
                        "linear",
                        macs,
                        in_e,
                        out_e,
                        0,
                        int(out_shape[-1]),
                        False,
                        op,
                        int(kdim),
                    )
                )
        elif op in _FREE:
            ops.append(OpRecord(name, "free", 0, in_e, out_e, params, 1, False, op))
        elif op in ("QuantizeLinear", "DequantizeLinear") and not data_in:
            ops.append(OpRecord(name, "free", 0, 0, 0, 0, 1, False, op))  # folded constant weights
        elif op in _FUSABLE_ACT:
            ops.append(OpRecord(name, "eltwise", 0, in_e, out_e, params, 1, True, op))
        elif op in _POOL:
            window = _attr(node, "kernel_shape", [])
            pooled = shapes.get(node.output[0]) or ()
            channels = (
                int(pooled[1]) if len(pooled) > 1 else 1
            )  # NCHW: the runtime's kernel depends on them
            ops.append(
                OpRecord(
                    name,
                    "pool",
                    0,
                    in_e,
                    out_e,
                    0,
                    channels,
                    False,
                    op,
                    kernel=int(max(window, default=0)),
                    stride=int(max(_attr(node, "strides", [1]), default=1)),
                )
            )
        else:
            if op not in _ELTWISE and unknown is not None:
                unknown.append(f"{name} ({op})")
            ops.append(OpRecord(name, "eltwise", 0, in_e, out_e, params, 1, False, op))
    return ops


def onnx_graph_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Totals of :func:`ops_from_onnx`: MACs, parameters, node kinds, unknown node types."""
    unknown: list[str] = []
    ops = ops_from_onnx(path, unknown=unknown)
    kinds: dict[str, int] = {}
    for o in ops:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    return {
        "macs": sum(o.macs for o in ops),
        "params": sum(o.params for o in ops),
        "nodes": len(ops),
        "kinds": kinds,
        "unknown_ops": unknown,
    }


def _names(ops: Sequence[OpRecord]) -> list[str]:  # pragma: no cover - debugging aid
    return [o.name for o in ops]
