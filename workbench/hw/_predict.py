"""Latency prediction: a kernel-level model on calibrated hosts, the roofline everywhere else.

**Roofline** (simulated devices, and any layer a calibration does not cover). Each layer's time
is the larger of its compute time (operations over the peak rate of the deployment's precision,
times an efficiency factor of its op type) and its memory time (bytes moved over the memory
bandwidth, times a bandwidth efficiency), plus a fixed per-layer overhead; a model's latency is
the sum over its layers plus a per-call overhead::

    t = call + sum_l [ overhead(op_l) + max(ops_l / (peak * eff(op_l)), bytes_l / (bw * eff_mem)) ]

Convolutions vectorise their output channels across SIMD lanes of 32-bit accumulators (MLAS,
XNNPACK and CMSIS-NN all do), so a layer whose channel count is not a multiple of the lane
count pays for the padding lanes too. A short reduction (the multiply-accumulates behind one
output value, ``C_in/groups x k x k``) leaves the FMA pipelines underfed: a convolution's or
linear layer's efficiency is scaled by ``K / (K + K_half)``, one more term of the fit. Runtimes
that fold batch norm and ReLU-like activations into the preceding convolution (ONNX Runtime,
LiteRT, TensorRT) do not pay for those layers.

**Kernel level** (a measured host calibrated for ONNX Runtime). The layers are grouped into the
kernels the runtime executes (:func:`kernel_units`: a convolution with its batch norm and
activation, a residual add, a pool, the input's conversion), and each unit's time is a linear
function, with non-negative fitted terms, of its MACs (lane-padded; float kernels pad input
channels too), output positions and channels, output, input and weight elements, window reads,
the residual add after it and non-folded activation elements, per unit kind
(:class:`KernelModel`); an activation the runtime runs as a kernel of its own is a unit of its
own (:func:`split_activations`). The terms are fitted to
per-kernel times from the runtime's profiler (:mod:`workbench.calibrate._kernels`); the
model's latency is the sum of its units plus the runtime's time per kernel and per call::

    t = call + sum_u [ per_kernel + sum_j term(kind_u, j) * feature_j(u) ]

A unit kind or activation the calibration never saw is costed by the (calibrated) roofline.

The terms come from the profile (datasheet peaks, estimated efficiencies, each with its source)
or, for a measured profile, from a calibration fitted to measurements of this host; the
calibration's trust figures (share of held-out predictions within 10%, median error, noise
floor) travel with every prediction.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from workbench._errors import ConfigError
from workbench._host import last_level_cache_bytes
from workbench.arch import (
    ArchSpec,
    BasicBlock,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    LayerCost,
    Pool,
    layer_costs,
)
from workbench.hw._profile import EFFICIENCY_KEYS, HardwareProfile

if TYPE_CHECKING:
    import numpy as np
    import torch

    from workbench.hw._calibration import Calibration

__all__ = [
    "COMPUTE_KINDS",
    "UNIT_KINDS",
    "KernelModel",
    "KernelUnit",
    "LatencyPrediction",
    "OpRecord",
    "PredictorParams",
    "bytes_per_element",
    "default_params",
    "kernel_units",
    "ops_from_layers",
    "ops_from_spec",
    "predict_latency",
    "predict_ops",
    "roofline_peaks",
    "split_activations",
]

COMPUTE_KINDS = ("conv", "pwconv", "dwconv", "linear")
#: activations a fusing runtime folds into the preceding convolution or linear layer
FUSABLE_ACTIVATIONS = ("relu", "relu6", "clip", "none", "")
#: backends whose graph optimiser folds batch norm and ReLU-like activations into convolutions
FUSING_BACKENDS = ("onnxruntime", "litert", "tensorrt")


def bytes_per_element(precision: str) -> tuple[float, float]:
    """Bytes per (activation, weight) element at ``precision``.

    Dynamic int8 keeps float activations and int8 weights; static int8 is int8 throughout.
    """
    if precision in ("int8-static", "int8"):  # "int8": a backend's calibrated static int8
        return 1.0, 1.0
    if precision == "int8-dynamic":
        return 4.0, 1.0
    if precision in ("fp16", "bf16"):
        return 2.0, 2.0
    return 4.0, 4.0


@dataclass(frozen=True)
class OpRecord:
    """One layer as the predictor sees it (from an ArchSpec or an ONNX graph)."""

    name: str
    kind: str  # conv (k x k) | pwconv (1 x 1) | dwconv | linear | eltwise | pool | free
    macs: int = 0
    input_elems: int = 0
    output_elems: int = 0
    params: int = 0
    out_channels: int = 1
    fusable: bool = False  # batch norm / ReLU-like activation that a fusing runtime folds away
    source_op: str = ""  # the LayerCost op or ONNX op type it came from
    reduction: int = 0  # MACs per output value: C_in/groups x k x k (conv), C_in (linear)
    kernel: int = 0  # spatial window (k of k x k) of a convolution or pooling layer
    stride: int = 1
    activation: str = ""  # an activation layer's function (relu, silu, hardswish, ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "macs": self.macs,
            "input_elems": self.input_elems,
            "output_elems": self.output_elems,
            "params": self.params,
            "out_channels": self.out_channels,
            "fusable": self.fusable,
            "source_op": self.source_op,
            "reduction": self.reduction,
            "kernel": self.kernel,
            "stride": self.stride,
            "activation": self.activation,
        }


_KIND_OF_OP = {
    "conv": "conv",
    "dwconv": "dwconv",
    "linear": "linear",
    "bn": "eltwise",
    "act": "eltwise",
    "add": "eltwise",
    "pool": "pool",
    "gap": "pool",
    "flatten": "free",
    "dropout": "free",
}


def ops_from_layers(
    layers: Iterable[LayerCost], activations: Mapping[str, str] | None = None
) -> list[OpRecord]:
    """Predictor records from ArchSpec layer costs; ``activations`` maps ``.act`` layer names to
    their function (relu, silu, ...), which decides whether a fusing runtime can fold them."""
    acts = activations or {}
    out = []
    for layer in layers:
        kind = _KIND_OF_OP.get(layer.op)
        if kind is None:
            raise ValueError(f"unknown layer op {layer.op!r} ({layer.name})")
        fusable = layer.op == "bn" or (
            layer.op == "act" and acts.get(layer.name, "relu") in FUSABLE_ACTIVATIONS
        )
        if kind == "conv" and layer.kernel == 1:
            kind = "pwconv"
        out_elems = layer.output_elems
        out.append(
            OpRecord(
                name=layer.name,
                kind=kind,
                macs=layer.macs,
                input_elems=layer.input_elems,
                output_elems=out_elems,
                params=layer.params,
                out_channels=int(layer.output_shape[0]) if layer.output_shape else 1,
                fusable=fusable,
                source_op=layer.op,
                reduction=layer.macs // out_elems if out_elems and layer.macs else 0,
                kernel=layer.kernel if layer.op in ("conv", "dwconv", "pool") else 0,
                stride=layer.stride,
                activation=acts.get(layer.name, "relu") if layer.op == "act" else "",
            )
        )
    return out


def _activation_names(spec: ArchSpec) -> dict[str, str]:
    """Map every ``.act`` layer of ``spec`` to its activation function."""
    out: dict[str, str] = {}
    for layer in layer_costs(spec):
        if layer.op != "act":
            continue
        m = re.match(r"blocks\.(\d+)\.", layer.name)
        if m is None:
            continue
        block = spec.blocks[int(m.group(1))]
        if isinstance(block, (ConvBN, InvertedResidual, Dense)):
            out[layer.name] = block.activation
        elif isinstance(block, (BasicBlock, Bottleneck)):
            out[layer.name] = "relu"
    return out


def ops_from_spec(spec: ArchSpec) -> list[OpRecord]:
    """Predictor records of an ArchSpec, without building anything (a pooling layer's
    ``source_op`` says whether it takes the maximum or the average)."""
    ops = ops_from_layers(layer_costs(spec), _activation_names(spec))
    for i, op in enumerate(ops):
        m = re.match(r"blocks\.(\d+)\.pool$", op.name)
        if m is not None and isinstance(spec.blocks[int(m.group(1))], Pool):
            kind = spec.blocks[int(m.group(1))].kind  # type: ignore[attr-defined]
            ops[i] = dataclasses.replace(op, source_op=f"{kind}pool")
    return ops


# -- kernel units: what a fusing runtime executes as one kernel (with its glue) -------------------

#: unit kinds of the kernel-level model; ``input`` is the conversion of the model's input
UNIT_KINDS = ("input", "conv", "pwconv", "dwconv", "linear", "add", "pool", "gap", "eltwise", "act")
#: ONNX activation ops and the function name a unit records for them
_ONNX_ACTIVATIONS = {
    "Relu": "relu",
    "Clip": "relu6",
    "LeakyRelu": "leaky_relu",
    "HardSwish": "hardswish",
    "HardSigmoid": "hardsigmoid",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Gelu": "gelu",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Mish": "mish",
    "PRelu": "prelu",
    "BatchNormalization": "",
}
_ADD_OPS = ("add", "Add", "Sum")
_AVG_POOLS = ("avgpool", "AveragePool", "QLinearAveragePool")
_GAP_OPS = (
    "gap",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "ReduceMax",
    "QLinearGlobalAveragePool",
)


@dataclass(frozen=True)
class KernelUnit:
    """One kernel of a fusing runtime: a main layer with the batch norm and activations that follow
    it (folded into it, or run right after it as glue), or the conversion of the model's input."""

    name: str  # the main layer's name ("input" for the input conversion)
    kind: str  # one of UNIT_KINDS
    main: OpRecord
    members: tuple[str, ...]  # names of every layer the unit covers
    activations: tuple[
        str, ...
    ] = ()  # activations after the main layer that a fusing runtime cannot fold
    residual: int = (
        0  # elements of the residual add right after it (a runtime may fuse the add into it)
    )
    #: where the unit sits, when that changes the kernel a runtime picks: ``tail`` for the last
    #: pool before the global pool, right after an activation run as its own kernel (ONNX Runtime's
    #: int8 layout keeps such a pool in NCHW and runs a generic, much slower pooling kernel)
    context: str = ""
    #: the layers of each activation in ``activations`` (SiLU from an ONNX graph is two: sigmoid,
    # multiply)
    act_layers: tuple[tuple[str, ...], ...] = ()
    #: (weight elements, layer output elements) of the whole model: what passes through the caches
    #: in a call, between two calls of this layer (evicting its weights when it outgrows them)
    footprint: tuple[int, int] = (0, 0)

    def features(self, precision: str, lanes: int) -> dict[str, float]:
        """The terms of the kernel-level model (see :class:`KernelModel`): MACs (lane-padded when
        the output channels fill whole SIMD registers, a separate term when they do not: runtimes
        switch to other kernels there), output, input and weight elements, window reads, the
        residual add that follows, and the elements each non-folded activation touches."""
        op = self.main
        if self.kind == "act":  # an activation run as a kernel of its own: per call and per element
            fn = self.activations[0] if self.activations else op.activation
            return {f"act1:{fn}": 1.0, f"act:{fn}": op.output_elems / 1e3}
        lanes = max(1, lanes)
        aligned = self.kind not in COMPUTE_KINDS or op.out_channels % lanes == 0
        pad = (
            math.ceil(op.out_channels / lanes) * lanes / max(1, op.out_channels)
            if self.kind in COMPUTE_KINDS
            else 1.0
        )
        blocked = not precision.startswith(
            "int8"
        )  # float kernels block channels by the register width
        cin = op.reduction // max(1, op.kernel) ** 2 if self.kind in ("conv", "pwconv") else 0
        if blocked and cin > lanes and cin % lanes:
            pad *= math.ceil(cin / lanes) * lanes / cin  # input channels padded to whole blocks too
        out = {
            "one": 1.0,
            "mmacs" if aligned else "mmacs_narrow": op.macs * pad / 1e6,
            "kout": op.output_elems / 1e3,
            "kin": op.input_elems / 1e3,
            "kparams": op.params / 1e3,
        }
        if self.kind == "add":
            out["kin"] = 2 * op.output_elems / 1e3  # both operands, however the record counted them
        if self.kind in COMPUTE_KINDS:
            out["kpix"] = (
                op.output_elems / max(1, op.out_channels) / 1e3
            )  # per output position (GEMM rows)
            out["kch"] = (
                op.out_channels / 1e3
            )  # per output channel (GEMM columns: packing, requantization)
        shallow = self.kind in ("conv", "pwconv") and 0 < op.reduction < 8 * max(1, op.kernel) ** 2
        if self.kind in ("conv", "dwconv", "pool") and op.kernel > 1:
            if (
                shallow
            ):  # the im2col rows: each output position's window over the few input channels
                out["kim2col_shallow"] = (
                    op.output_elems / max(1, op.out_channels) * op.reduction / 1e3
                )
            else:
                out["kwindow"] = (
                    op.output_elems * op.kernel * op.kernel / 1e3
                )  # im2col / window reads
        if shallow:
            out["kout_shallow"] = (
                op.output_elems / 1e3
            )  # few input channels (an image): nothing to vectorise over
        if self.kind == "pool" and op.source_op in _AVG_POOLS:
            out = {
                f"{k}_avg": v for k, v in out.items()
            }  # averaging pools run other kernels than max pools
        if self.kind == "pool" and self.context and precision.startswith("int8"):
            out = {
                f"{k}_{self.context}": v for k, v in out.items()
            }  # only int8 layouts treat it apart
        if blocked and self.kind in _NARROW_KINDS and op.out_channels % lanes:
            out = {(k if k.endswith("_narrow") else f"{k}_narrow"): v for k, v in out.items()}
        if self.residual:
            out["kres"] = self.residual / 1e3
        if self.kind == "linear" and any(self.footprint):
            # a classifier head reads its weights once per call: from the cache when the model's
            # footprint leaves them there from the call before, else from memory
            act_b, w_b = bytes_per_element(precision)
            nbytes = self.footprint[0] * w_b + self.footprint[1] * act_b
            out["kparams_cold"] = out["kparams"] * min(1.0, nbytes / last_level_cache_bytes())
        for act in self.activations:
            key = f"act:{act}"
            out[key] = out.get(key, 0.0) + op.output_elems / 1e3
        return out


def _activation_of(op: OpRecord) -> str | None:
    """The function of an activation or batch-norm record, or None when ``op`` is not one."""
    if op.source_op == "act":
        return op.activation or "relu"
    if op.source_op == "bn":
        return ""
    if op.source_op in _ONNX_ACTIVATIONS:
        return _ONNX_ACTIVATIONS[op.source_op]
    return None


def kernel_units(ops: Sequence[OpRecord]) -> list[KernelUnit]:
    """Group ``ops`` into the kernels a fusing runtime (ONNX Runtime) executes, in order.

    Batch norm and ReLU-like activations fold into the preceding convolution, linear layer or
    add; other activations (SiLU, hard-swish, ...) run right after it and are costed with it.
    Shape-only layers (flatten, dropout, reshape) cost nothing and join the preceding unit.
    """
    units: list[dict[str, Any]] = []
    first = next((o for o in ops if o.kind != "free"), None)
    if first is not None:
        image = OpRecord(
            "input",
            "eltwise",
            input_elems=first.input_elems,
            output_elems=first.input_elems,
            source_op="input",
        )
        units.append(
            {
                "name": "input",
                "kind": "input",
                "main": image,
                "members": [],
                "acts": [],
                "act_layers": [],
            }
        )
    for op in ops:
        act = _activation_of(op)
        if op.source_op == "Mul" and units and units[-1]["acts"][-1:] == ["sigmoid"]:
            units[-1]["acts"][-1] = "silu"  # x * sigmoid(x), as ONNX spells SiLU
            units[-1]["members"].append(op.name)
            if units[-1]["act_layers"]:
                units[-1]["act_layers"][-1].append(op.name)
            continue
        if units and (op.kind == "free" or (act is not None and units[-1]["kind"] != "input")):
            units[-1]["members"].append(op.name)
            if act and act not in FUSABLE_ACTIVATIONS:
                units[-1]["acts"].append(act)
                units[-1]["act_layers"].append([op.name])
            continue
        if op.kind == "free":
            continue
        if op.kind in COMPUTE_KINDS:
            kind = op.kind
        elif op.source_op in _ADD_OPS:
            kind = "add"
        elif op.source_op in _GAP_OPS:
            kind = "gap"
        elif op.kind == "pool":
            kind = "pool"
        else:
            kind = "eltwise"
        acts = [act] if act and act not in FUSABLE_ACTIVATIONS else []
        if kind == "add" and units and units[-1]["kind"] in COMPUTE_KINDS:
            units[-1]["residual"] = op.output_elems
        units.append(
            {
                "name": op.name,
                "kind": kind,
                "main": op,
                "members": [op.name],
                "acts": acts,
                "act_layers": [],
            }
        )
    for i, u in enumerate(units):
        if (
            u["kind"] == "pool"
            and 0 < i < len(units) - 1
            and units[i - 1]["acts"]
            and units[i + 1]["kind"] == "gap"
        ):
            u["context"] = "tail"
    footprint = (sum(o.params for o in ops), sum(o.output_elems for o in ops))
    return [
        KernelUnit(
            u["name"],
            u["kind"],
            u["main"],
            tuple(u["members"]),
            tuple(u["acts"]),
            int(u.get("residual", 0)),
            u.get("context", ""),
            tuple(tuple(a) for a in u["act_layers"]),
            footprint,
        )
        for u in units
    ]


def split_activations(
    units: Sequence[KernelUnit], functions: Collection[str] | None = None
) -> list[KernelUnit]:
    """``units`` with every non-folded activation among ``functions`` (all when None) made a unit
    of its own, of kind ``act``, right after its layer's unit.

    ONNX Runtime runs such an activation as a kernel of its own (a fused ``QuickGelu`` for SiLU in
    fp32, a quantized sigmoid and multiply in int8), whose time goes with the elements it touches,
    not with the convolution before it: fitted apart, neither kind's terms take up the other's time.
    Where the runtime fuses an activation into the convolution (hard-swish in fp32), it stays
    with it.
    """
    out: list[KernelUnit] = []
    for u in units:
        if len(u.act_layers) != len(
            u.activations
        ):  # a unit that is itself an activation: nothing to split off
            out.append(u)
            continue
        pairs = list(zip(u.activations, u.act_layers, strict=True))
        apart = [(fn, layers) for fn, layers in pairs if functions is None or fn in functions]
        if not apart:
            out.append(u)
            continue
        names = {n for _fn, layers in apart for n in layers}
        keep = [pair for pair in pairs if pair not in apart]
        out.append(
            dataclasses.replace(
                u,
                members=tuple(m for m in u.members if m not in names),
                activations=tuple(fn for fn, _ in keep),
                act_layers=tuple(layers for _, layers in keep),
            )
        )
        op = u.main
        for fn, layers in apart:
            rec = OpRecord(
                layers[0],
                "eltwise",
                input_elems=op.output_elems,
                output_elems=op.output_elems,
                out_channels=op.out_channels,
                source_op="act",
                activation=fn,
            )
            out.append(KernelUnit(layers[0], "act", rec, layers, (fn,)))
    return out


#: kinds whose every term is fitted apart where a float kernel's channels do not fill whole SIMD
#: registers (ONNX Runtime's blocked fp32 layout runs such pools in plain NCHW after a reorder, and
#: other 1 x 1 convolution kernels); k x k convolutions only get a MAC rate of their own there
_NARROW_KINDS = ("pool", "pwconv")
#: how far (in log space, either way) the shape correction of :class:`KernelModel` may move a
# kernel's time
SHAPE_CLIP = 0.5


#: octaves of the reduction length (4-7, 8-15, ..., 1024-2047) that get a step of their own in
#: :func:`shape_terms`
REDUCTION_OCTAVES = tuple(range(2, 11))


def shape_terms(unit: KernelUnit) -> list[float]:
    """Where a kernel sits in its kind's shape space: a quadratic in the log2 of its GEMM-like
    dimensions, output positions (rows), output channels (columns) and the reduction per output
    value (window and input channels), along which a runtime's efficiency varies smoothly (cache
    fit); and which octave of :data:`REDUCTION_OCTAVES` the reduction falls in, where it steps (a
    GEMM kernel unrolls and packs the reduction in fixed blocks: on this kind of CPU a 1 x 1
    convolution over 16-31 input channels runs faster, and one over 4-7 slower, than a smooth
    curve through its neighbours says)."""
    op = unit.main
    n = max(1, op.out_channels)
    m = max(1.0, op.output_elems / n)
    k = max(1, op.reduction or op.kernel * op.kernel or 1)
    lm, ln, lk = math.log2(m), math.log2(n), math.log2(k)
    octave = int(lk)
    return [
        lm,
        ln,
        lk,
        lm * lm,
        ln * ln,
        lk * lk,
        lm * ln,
        lm * lk,
        ln * lk,
        *(1.0 if octave == o else 0.0 for o in REDUCTION_OCTAVES),
    ]


@dataclass(frozen=True)
class KernelModel:
    """Kernel-level latency terms of one deployment, fitted to per-kernel times from the runtime's
    profiler: a unit of kind ``k`` takes ``sum_j terms[k][j] x feature_j`` microseconds (features:
    :meth:`KernelUnit.features`), and a model
    ``call_us + sum_u (unit_us + T (t_u / T)^(1 + gamma))`` with ``T`` = :data:`GAMMA_REF_US`.

    ``gamma``, ``unit_us`` and ``call_us`` are fitted to end-to-end timings (no common scale: the
    kernel times a calibration fits already add up to each model's end-to-end time): profiled
    kernels run slower than unprofiled calls, and by a larger share the shorter they are (the
    profiler's bookkeeping per node is not the same for every node), which ``gamma`` > 0 and a
    negative ``unit_us`` (a few µs at most) take out; a positive ``unit_us`` is the runtime's time
    between kernels. A unit's time is never below zero. Kinds with enough samples also get a
    correction over the kernel's shape (``shape``, see :func:`shape_terms`). Activations in
    ``split`` are units of their own (:meth:`units`). A unit kind or an activation the calibration
    never saw falls back to the roofline terms.
    """

    terms: dict[str, dict[str, float]]
    call_us: float
    unit_us: float
    samples: dict[str, int] = field(default_factory=dict)
    absorbed: tuple[
        str, ...
    ] = ()  # unit kinds the runtime fuses into a neighbouring kernel (no time of their own)
    gamma: float = 0.0
    #: per kind, a correction of the linear terms over the kernel's shape (:func:`shape_terms`):
    #: ``mean`` and ``std`` standardise the terms, ``coef`` (intercept first) gives the log factor
    shape: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: activations fitted as units of their own (:func:`split_activations`): those the runtime runs
    #: as kernels of their own
    split: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": {k: dict(v) for k, v in self.terms.items()},
            "call_us": self.call_us,
            "unit_us": self.unit_us,
            "gamma": self.gamma,
            "samples": dict(self.samples),
            "absorbed": list(self.absorbed),
            "shape": {k: {a: list(b) for a, b in v.items()} for k, v in self.shape.items()},
            "split_activations": list(self.split),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KernelModel:
        return cls(
            terms={str(k): {str(a): float(b) for a, b in v.items()} for k, v in d["terms"].items()},
            call_us=float(d["call_us"]),
            unit_us=float(d["unit_us"]),
            samples={str(k): int(v) for k, v in (d.get("samples") or {}).items()},
            absorbed=tuple(str(k) for k in d.get("absorbed") or ()),
            gamma=float(d.get("gamma", 0.0)),
            shape={
                str(k): {str(a): [float(x) for x in b] for a, b in v.items()}
                for k, v in (d.get("shape") or {}).items()
            },
            split=tuple(str(a) for a in d.get("split_activations") or ()),
        )

    def units(self, ops: Sequence[OpRecord]) -> list[KernelUnit]:
        """The kernel units of ``ops`` as this model was fitted on them."""
        units = kernel_units(ops)
        return split_activations(units, self.split) if self.split else units

    def covers(self, unit: KernelUnit, features: Mapping[str, float]) -> bool:
        if unit.kind in self.absorbed:
            return True
        terms = self.terms.get(unit.kind)
        return terms is not None and all(k in terms for k in features if features[k])

    def unit_us_of(self, unit: KernelUnit, features: Mapping[str, float]) -> float:
        """Fitted kernel time of ``unit`` (0 for a kind the runtime fuses into its neighbour)."""
        if unit.kind in self.absorbed:
            return 0.0
        terms = self.terms[unit.kind]
        linear = float(sum(terms.get(k, 0.0) * v for k, v in features.items()))
        fix = self.shape.get(unit.kind)
        if not fix:
            return linear
        z = [
            (x - m) / sd
            for x, m, sd in zip(shape_terms(unit), fix["mean"], fix["std"], strict=True)
        ]
        log_factor = fix["coef"][0] + sum(c * v for c, v in zip(fix["coef"][1:], z, strict=True))
        return linear * math.exp(min(SHAPE_CLIP, max(-SHAPE_CLIP, log_factor)))

    def time_us(self, unit: KernelUnit, features: Mapping[str, float]) -> float:
        """The unit's share of a call: size-corrected kernel time plus the runtime's per kernel."""
        if unit.kind in self.absorbed:
            return 0.0
        return max(0.0, self.unit_us + sized(self.unit_us_of(unit, features), self.gamma))


#: the kernel time at which the size-dependent correction of :class:`KernelModel` is neutral
GAMMA_REF_US = 100.0

_Time = TypeVar("_Time", float, "np.ndarray")


def sized(t_us: _Time, gamma: float) -> _Time:
    """``T (t / T)^(1 + gamma)``: a kernel time (non-negative; a float or an array) with the
    size-dependent correction applied."""
    if gamma == 0.0:
        return t_us
    return GAMMA_REF_US * (t_us / GAMMA_REF_US) ** (1.0 + gamma)


@dataclass(frozen=True)
class PredictorParams:
    """The roofline terms of one deployment on one device.

    ``efficiency`` holds a fraction of peak per op type (``conv``, ``dwconv``, ``linear``) and of
    bandwidth for ``memory`` (every layer), ``eltwise`` and ``pool`` (memory-bound layers);
    ``overhead_us`` a fixed cost per layer of each kind; ``call_us`` a fixed cost per inference;
    ``k_half`` the reduction length at which a convolution reaches half its efficiency.
    """

    peak_gops: float
    bandwidth_gbs: float
    lanes: int  # 32-bit SIMD lanes over which output channels are vectorised
    efficiency: dict[str, float]
    overhead_us: dict[str, float]
    call_us: float
    fuses: bool
    k_half: float = 8.0
    basis: str = ""  # where the terms come from, in words
    kernels: KernelModel | None = (
        None  # kernel-level terms of a calibrated host (None: roofline only)
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_gops": self.peak_gops,
            "bandwidth_gbs": self.bandwidth_gbs,
            "lanes": self.lanes,
            "efficiency": dict(self.efficiency),
            "overhead_us": dict(self.overhead_us),
            "call_us": self.call_us,
            "fuses": self.fuses,
            "k_half": self.k_half,
            "basis": self.basis,
            "kernels": self.kernels.to_dict() if self.kernels is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictorParams:
        return cls(
            peak_gops=float(d["peak_gops"]),
            bandwidth_gbs=float(d["bandwidth_gbs"]),
            lanes=int(d["lanes"]),
            efficiency={k: float(v) for k, v in d["efficiency"].items()},
            overhead_us={k: float(v) for k, v in d["overhead_us"].items()},
            call_us=float(d["call_us"]),
            fuses=bool(d["fuses"]),
            k_half=float(d.get("k_half", 8.0)),
            basis=str(d.get("basis", "")),
            kernels=KernelModel.from_dict(d["kernels"]) if d.get("kernels") else None,
        )


@dataclass
class LatencyPrediction:
    """A predicted latency with its per-layer breakdown and the basis of its terms."""

    latency_ms: float
    layers: list[dict[str, Any]]
    compute_bound_layers: int
    memory_bound_layers: int
    params: PredictorParams
    precision: str
    trust: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, with_layers: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "latency_ms": self.latency_ms,
            "precision": self.precision,
            "compute_bound_layers": self.compute_bound_layers,
            "memory_bound_layers": self.memory_bound_layers,
            "params": self.params.to_dict(),
            "trust": self.trust,
        }
        if with_layers:
            d["layers"] = self.layers
        return d


# -- device numbers ------------------------------------------------------------------------------

#: FLOP per cycle per core of fp32 FMA units, by x86 ISA (two FMA ports assumed)
_X86_FP32_FLOP_PER_CYCLE = (("avx512f", 64), ("avx2", 32), ("avx", 16), ("sse4_2", 8))


def _host_clock_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":")[1]) / 1000
    except (OSError, ValueError, IndexError):
        pass
    return None


def roofline_peaks(
    profile: HardwareProfile, precision: str, threads: int | None = None
) -> tuple[float, float, int, str]:
    """Peak rate (GOPS) available to ``threads`` at ``precision``, bandwidth (GB/s), SIMD lanes
    of 32-bit accumulators, and a sentence saying where the numbers come from.

    A simulated profile's numbers are its datasheet figures, scaled to the threads it uses. A
    measured profile without numbers gets nominal ones from this host's ISA and clock; its
    efficiency factors are fitted against them, so they act as units, not claims.
    """
    th = threads or profile.resolved_threads()
    peak = profile.peak(precision)
    simd = profile.simd_bits.value if profile.simd_bits else None
    if peak is not None and profile.memory_bandwidth_gbs is not None:
        share = 1.0
        if profile.device == "cpu" and profile.cores is not None:
            share = min(1.0, th / profile.cores.value)
        lanes = int(simd // 32) if simd else (32 if profile.device in ("gpu", "tpu", "npu") else 4)
        basis = f"peak {peak.value:g} GOPS ({peak.source})" + (
            f" x {share:.3g} of the cores" if share < 1 else ""
        )
        return peak.value * share, profile.memory_bandwidth_gbs.value, max(1, lanes), basis
    if not profile.measured:
        raise ConfigError(
            f"profile {profile.name!r} has no peak_gops.{precision} or memory_bandwidth_gbs to "
            "predict with"
        )
    from workbench._host import host_info

    info = host_info()
    flags = set(info.isa_flags)
    per_cycle = next(
        (f for flag, f in _X86_FP32_FLOP_PER_CYCLE if flag in flags), 16 if "asimd" in flags else 4
    )
    width = 512 if "avx512f" in flags else 256 if "avx2" in flags or "avx" in flags else 128
    clock = _host_clock_ghz() or 2.0
    fp32 = th * clock * per_cycle
    vnni = info.has_vnni or "asimddp" in flags
    rate = {
        "int8-static": 4.0 if vnni else 2.0,
        "int8-dynamic": 4.0 if vnni else 2.0,
        "int8": 4.0 if vnni else 2.0,
        "fp16": 2.0,
        "bf16": 2.0,
    }.get(precision, 1.0)
    bandwidth = 10.0 * th  # nominal: ~10 GB/s a core; fitted efficiency absorbs the real figure
    basis = (
        f"nominal host numbers: {th} threads x {clock:.2f} GHz x {per_cycle} FLOP/cycle x "
        f"{rate:g} ({precision}), {bandwidth:g} GB/s; efficiencies fitted against these"
    )
    return fp32 * rate, bandwidth, width // 32, basis


#: efficiency priors when a profile gives none: fraction of peak (compute) or bandwidth
_DEFAULT_EFFICIENCY = {
    "cpu": {
        "conv": 0.4,
        "pwconv": 0.4,
        "dwconv": 0.1,
        "linear": 0.25,
        "pool": 0.3,
        "eltwise": 0.3,
        "memory": 0.4,
    },
    "gpu": {
        "conv": 0.2,
        "pwconv": 0.2,
        "dwconv": 0.03,
        "linear": 0.05,
        "pool": 0.3,
        "eltwise": 0.3,
        "memory": 0.5,
    },
    "tpu": {
        "conv": 0.3,
        "pwconv": 0.3,
        "dwconv": 0.05,
        "linear": 0.1,
        "pool": 0.3,
        "eltwise": 0.3,
        "memory": 0.6,
    },
    "npu": {
        "conv": 0.3,
        "pwconv": 0.3,
        "dwconv": 0.05,
        "linear": 0.1,
        "pool": 0.3,
        "eltwise": 0.3,
        "memory": 0.6,
    },
    "mcu": {
        "conv": 0.5,
        "pwconv": 0.5,
        "dwconv": 0.3,
        "linear": 0.4,
        "pool": 0.4,
        "eltwise": 0.4,
        "memory": 0.5,
    },
}
_DEFAULT_OVERHEAD_US = {
    "cpu": (30.0, 5.0),
    "gpu": (50.0, 6.0),
    "tpu": (300.0, 20.0),
    "npu": (200.0, 15.0),
    "mcu": (50.0, 15.0),
}


def default_params(
    profile: HardwareProfile, backend: str, precision: str, threads: int | None = None
) -> PredictorParams:
    """The uncalibrated terms of ``profile``: its ``predictor`` section, else device priors."""
    peak, bw, lanes, basis = roofline_peaks(profile, precision, threads)
    prior = dict(_DEFAULT_EFFICIENCY.get(profile.device, _DEFAULT_EFFICIENCY["cpu"]))
    for key, v in profile.predictor.efficiency.items():
        prior[key] = v.value
    if "pwconv" not in profile.predictor.efficiency and "conv" in profile.predictor.efficiency:
        prior["pwconv"] = prior["conv"]  # a 1x1 convolution is a GEMM: at least as efficient
    call_default, layer_default = _DEFAULT_OVERHEAD_US.get(profile.device, (30.0, 5.0))
    call = (
        profile.predictor.call_overhead_us.value
        if profile.predictor.call_overhead_us
        else call_default
    )
    layer = (
        profile.predictor.layer_overhead_us.value
        if profile.predictor.layer_overhead_us
        else layer_default
    )
    overhead = {k: layer for k in (*COMPUTE_KINDS, "pool", "eltwise")}
    terms = (
        "profile's predictor section (estimates)"
        if profile.predictor.efficiency
        else f"default {profile.device} priors (estimates)"
    )
    return PredictorParams(
        peak_gops=peak,
        bandwidth_gbs=bw,
        lanes=lanes,
        efficiency={k: prior[k] for k in EFFICIENCY_KEYS},
        overhead_us=overhead,
        call_us=call,
        fuses=backend in FUSING_BACKENDS,
        basis=f"{basis}; efficiencies and overheads from the {terms}",
    )


# -- prediction ----------------------------------------------------------------------------------


def reduction_factor(op: OpRecord, k_half: float) -> float:
    """``K / (K + K_half)`` for convolutions and linear layers (1 for depthwise: no reduction
    across channels)."""
    if op.kind not in ("conv", "pwconv", "linear") or op.reduction <= 0:
        return 1.0
    return op.reduction / (op.reduction + k_half)


def _layer_time_s(op: OpRecord, p: PredictorParams, act_b: float, w_b: float) -> tuple[float, str]:
    """Seconds for one layer and what bounds it (compute | memory | fused | free)."""
    if op.kind == "free":
        return 0.0, "free"
    if op.fusable and p.fuses:
        return 0.0, "fused"
    bytes_moved = op.input_elems * act_b + op.output_elems * act_b + op.params * w_b
    overhead = p.overhead_us.get(op.kind, 0.0) * 1e-6
    if op.kind in COMPUTE_KINDS:
        lanes = max(1, p.lanes)
        padded = math.ceil(op.out_channels / lanes) * lanes / max(1, op.out_channels)
        eff = p.efficiency[op.kind] * reduction_factor(op, p.k_half)
        compute = 2.0 * op.macs * padded / (p.peak_gops * 1e9 * eff)
        memory = bytes_moved / (p.bandwidth_gbs * 1e9 * p.efficiency["memory"])
        return overhead + max(compute, memory), "compute" if compute >= memory else "memory"
    eff = p.efficiency.get(op.kind, p.efficiency["memory"])
    return overhead + bytes_moved / (p.bandwidth_gbs * 1e9 * eff), "memory"


def predict_ops(
    ops: Sequence[OpRecord], params: PredictorParams, precision: str
) -> LatencyPrediction:
    """Latency of the layers ``ops`` under ``params`` (see the module docstring for the model)."""
    if params.kernels is not None and params.fuses:
        return _predict_kernels(ops, params, params.kernels, precision)
    act_b, w_b = bytes_per_element(precision)
    layers = []
    total = params.call_us * 1e-6
    bound = {"compute": 0, "memory": 0}
    for op in ops:
        t, why = _layer_time_s(op, params, act_b, w_b)
        total += t
        if why in bound:
            bound[why] += 1
        layers.append({"name": op.name, "kind": op.kind, "ms": t * 1e3, "bound": why})
    return LatencyPrediction(
        latency_ms=total * 1e3,
        layers=layers,
        compute_bound_layers=bound["compute"],
        memory_bound_layers=bound["memory"],
        params=params,
        precision=precision,
    )


def _predict_kernels(
    ops: Sequence[OpRecord], params: PredictorParams, km: KernelModel, precision: str
) -> LatencyPrediction:
    """Kernel-level prediction: the sum of the fitted time of every kernel unit, plus the runtime's
    per-kernel and per-call time; units the model does not cover are costed by the roofline."""
    act_b, w_b = bytes_per_element(precision)
    by_name = {o.name: o for o in ops}
    total_us = km.call_us
    layers = []
    bound = {"compute": 0, "memory": 0}
    for unit in km.units(ops):
        feats = unit.features(precision, params.lanes)
        if km.covers(unit, feats):
            t_us = km.time_us(unit, feats)
            why = "fused" if unit.kind in km.absorbed else "kernel model"
        else:
            t_us = km.unit_us
            why = "roofline"
            for name in unit.members or (unit.name,):
                op = by_name.get(name, unit.main)
                s, kind = _layer_time_s(op, params, act_b, w_b)
                t_us += s * 1e6
                if kind in bound:
                    bound[kind] += 1
        t_us = max(t_us, 0.0)
        total_us += t_us
        layers.append(
            {
                "name": unit.name,
                "kind": unit.kind,
                "ms": t_us / 1e3,
                "bound": why,
                "members": list(unit.members),
            }
        )
    return LatencyPrediction(
        latency_ms=total_us / 1e3,
        layers=layers,
        compute_bound_layers=bound["compute"],
        memory_bound_layers=bound["memory"],
        params=params,
        precision=precision,
    )


#: what :func:`predict_latency` predicts: an ArchSpec, predictor records, an ONNX file, a module
PredictorInput: TypeAlias = (
    "ArchSpec | Sequence[OpRecord] | str | os.PathLike[str] | torch.nn.Module"
)


def predict_latency(
    model: PredictorInput,
    profile: HardwareProfile | str,
    backend: str | None = None,
    precision: str | None = None,
    *,
    threads: int | None = None,
    input_shape: Sequence[int] | None = None,
    calibration: Calibration | None = None,
) -> LatencyPrediction:
    """Predict batch-1 latency of ``model`` on ``profile`` for a deployment (default: its recipe).

    ``model`` is an ArchSpec, predictor records, the path of an ONNX file, or a PyTorch module
    (exported to ONNX first; pass ``input_shape`` without the batch axis). On a measured profile
    the given ``calibration``'s fit of this deployment at these threads is used when it has one
    (look it up with :func:`workbench.calibrate.find_calibration`); otherwise, and with no
    calibration, the profile's own terms (estimates) are, and the trust figures say so.
    """
    from workbench.hw._profile import load_profile

    prof = load_profile(profile)
    if backend is None or precision is None:
        if prof.deploy is None:
            raise ConfigError(
                f"profile {prof.name!r} has no deploy recipe; pass backend and precision"
            )
        backend = backend or prof.deploy.backend
        precision = precision or prof.deploy.precision
    ops = _ops_of(model, input_shape)
    th = threads or prof.resolved_threads()
    params = None
    trust: dict[str, Any] = {}
    note = ""
    if calibration is not None and prof.measured:
        if calibration.has(backend, precision, th):
            params = calibration.params_for(backend, precision, th)
            trust = calibration.trust_for(backend, precision, th)
        else:
            fitted = sorted({f"{e.deployment}@{e.intra_op}t" for e in calibration.entries})
            note = (
                f"no calibration of {backend}-{precision} at {th} thread(s) (fitted: "
                f"{', '.join(fitted) or 'none'})"
            )
    if params is None:
        params = default_params(prof, backend, precision, th)
        trust = uncalibrated_trust(prof)
        if note:
            trust["calibration_note"] = note
    pred = predict_ops(ops, params, precision)
    pred.trust = trust
    return pred


def _ops_of(model: PredictorInput, input_shape: Sequence[int] | None) -> list[OpRecord]:
    if isinstance(model, ArchSpec):
        return ops_from_spec(model)
    if isinstance(model, (str, bytes, os.PathLike)):
        from workbench.hw._onnx_cost import ops_from_onnx

        return ops_from_onnx(model)
    if isinstance(model, Sequence):  # cast: mypy narrows a Sequence-and-Module to str here
        return list(cast(Sequence[OpRecord], model))
    import sys
    import tempfile

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        if input_shape is None:
            raise ConfigError(
                "predicting a PyTorch module needs input_shape (without the batch axis), e.g. (3, "
                "224, 224)"
            )
        from workbench.backends import ModelSource
        from workbench.hw._onnx_cost import ops_from_onnx

        with tempfile.TemporaryDirectory(prefix="wb-predict-") as tmp:
            src = ModelSource("torch", model, input_shape, tmp, name="model", onnx_exporter="auto")
            return ops_from_onnx(src.onnx_path())
    raise ConfigError(
        f"cannot predict a {type(model).__name__}: expected an ArchSpec, an ONNX path or an "
        "nn.Module"
    )


def uncalibrated_trust(profile: HardwareProfile) -> dict[str, Any]:
    """Trust figures of a prediction made from datasheet numbers and estimated efficiencies."""
    return {
        "calibrated": False,
        "validated_on_device": False,
        "basis": (
            f"roofline from {profile.name}'s datasheet numbers and estimated efficiency factors "
            f"(sources in {profile.path or 'the profile'}); not validated against measurements of "
            "this device"
        ),
    }
