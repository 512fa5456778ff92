"""Roofline latency prediction: per-layer cost x the device's numbers x per-op efficiency.

Each layer's time is the larger of its compute time (operations over the peak rate of the
deployment's precision, times an efficiency factor of its op type) and its memory time (bytes
moved over the memory bandwidth, times a bandwidth efficiency), plus a fixed per-layer
overhead; a model's latency is the sum over its layers plus a per-call overhead::

    t = call + sum_l [ overhead(op_l) + max(ops_l / (peak * eff(op_l)), bytes_l / (bw * eff_mem)) ]

Convolutions vectorise their output channels across SIMD lanes of 32-bit accumulators (MLAS,
XNNPACK and CMSIS-NN all do), so a layer whose channel count is not a multiple of the lane
count pays for the padding lanes too. A short reduction (the multiply-accumulates behind one
output value, ``C_in/groups x k x k``) leaves the FMA pipelines underfed: a convolution's or
linear layer's efficiency is scaled by ``K / (K + K_half)``, one more term of the fit. Runtimes that fold batch norm and ReLU-like activations
into the preceding convolution (ONNX Runtime, LiteRT, TensorRT) do not pay for those layers.

The terms come from the profile (datasheet peaks, estimated efficiencies, each with its source)
or, for a measured profile, from a calibration fitted to measurements of this host; the
calibration's trust figures (share of held-out predictions within 10%, median error, noise
floor) travel with every prediction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench._errors import ConfigError
from workbench.arch import (
    ArchSpec,
    BasicBlock,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    LayerCost,
    layer_costs,
)
from workbench.hw._profile import EFFICIENCY_KEYS, HardwareProfile

__all__ = [
    "COMPUTE_KINDS",
    "LatencyPrediction",
    "OpRecord",
    "PredictorParams",
    "bytes_per_element",
    "default_params",
    "ops_from_layers",
    "ops_from_spec",
    "predict_latency",
    "predict_ops",
    "roofline_peaks",
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
    if precision == "int8-static":
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "macs": self.macs, "input_elems": self.input_elems,
            "output_elems": self.output_elems, "params": self.params, "out_channels": self.out_channels,
            "fusable": self.fusable, "source_op": self.source_op, "reduction": self.reduction,
        }


_KIND_OF_OP = {
    "conv": "conv", "dwconv": "dwconv", "linear": "linear", "bn": "eltwise", "act": "eltwise", "add": "eltwise",
    "pool": "pool", "gap": "pool", "flatten": "free", "dropout": "free",
}


def ops_from_layers(layers: Iterable[LayerCost], activations: Mapping[str, str] | None = None) -> list[OpRecord]:
    """Predictor records from ArchSpec layer costs; ``activations`` maps ``.act`` layer names to
    their function (relu, silu, ...), which decides whether a fusing runtime can fold them."""
    acts = activations or {}
    out = []
    for layer in layers:
        kind = _KIND_OF_OP.get(layer.op)
        if kind is None:
            raise ValueError(f"unknown layer op {layer.op!r} ({layer.name})")
        fusable = layer.op == "bn" or (layer.op == "act" and acts.get(layer.name, "relu") in FUSABLE_ACTIVATIONS)
        if kind == "conv" and layer.kernel == 1:
            kind = "pwconv"
        out_elems = layer.output_elems
        out.append(
            OpRecord(
                name=layer.name, kind=kind, macs=layer.macs, input_elems=layer.input_elems,
                output_elems=out_elems, params=layer.params,
                out_channels=int(layer.output_shape[0]) if layer.output_shape else 1,
                fusable=fusable, source_op=layer.op,
                reduction=layer.macs // out_elems if out_elems and layer.macs else 0,
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
    """Predictor records of an ArchSpec, without building anything."""
    return ops_from_layers(layer_costs(spec), _activation_names(spec))


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_gops": self.peak_gops, "bandwidth_gbs": self.bandwidth_gbs, "lanes": self.lanes,
            "efficiency": dict(self.efficiency), "overhead_us": dict(self.overhead_us), "call_us": self.call_us,
            "fuses": self.fuses, "k_half": self.k_half, "basis": self.basis,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictorParams:
        return cls(
            peak_gops=float(d["peak_gops"]), bandwidth_gbs=float(d["bandwidth_gbs"]), lanes=int(d["lanes"]),
            efficiency={k: float(v) for k, v in d["efficiency"].items()},
            overhead_us={k: float(v) for k, v in d["overhead_us"].items()},
            call_us=float(d["call_us"]), fuses=bool(d["fuses"]), k_half=float(d.get("k_half", 8.0)),
            basis=str(d.get("basis", "")),
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


def roofline_peaks(profile: HardwareProfile, precision: str, threads: int | None = None) -> tuple[float, float, int, str]:
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
        basis = f"peak {peak.value:g} GOPS ({peak.source})" + (f" x {share:.3g} of the cores" if share < 1 else "")
        return peak.value * share, profile.memory_bandwidth_gbs.value, max(1, lanes), basis
    if not profile.measured:
        raise ConfigError(f"profile {profile.name!r} has no peak_gops.{precision} or memory_bandwidth_gbs to predict with")
    from workbench.hw._host import host_info

    info = host_info()
    flags = set(info.isa_flags)
    per_cycle = next((f for flag, f in _X86_FP32_FLOP_PER_CYCLE if flag in flags), 16 if "asimd" in flags else 4)
    width = 512 if "avx512f" in flags else 256 if "avx2" in flags or "avx" in flags else 128
    clock = _host_clock_ghz() or 2.0
    fp32 = th * clock * per_cycle
    vnni = info.has_vnni or "asimddp" in flags
    rate = {"int8-static": 4.0 if vnni else 2.0, "int8-dynamic": 4.0 if vnni else 2.0, "fp16": 2.0, "bf16": 2.0}.get(precision, 1.0)
    bandwidth = 10.0 * th  # nominal: ~10 GB/s a core; fitted efficiency absorbs the real figure
    basis = (
        f"nominal host numbers: {th} threads x {clock:.2f} GHz x {per_cycle} FLOP/cycle x {rate:g} "
        f"({precision}), {bandwidth:g} GB/s; efficiencies fitted against these"
    )
    return fp32 * rate, bandwidth, width // 32, basis


#: efficiency priors when a profile gives none: fraction of peak (compute) or bandwidth
_DEFAULT_EFFICIENCY = {
    "cpu": {"conv": 0.4, "pwconv": 0.4, "dwconv": 0.1, "linear": 0.25, "pool": 0.3, "eltwise": 0.3, "memory": 0.4},
    "gpu": {"conv": 0.2, "pwconv": 0.2, "dwconv": 0.03, "linear": 0.05, "pool": 0.3, "eltwise": 0.3, "memory": 0.5},
    "tpu": {"conv": 0.3, "pwconv": 0.3, "dwconv": 0.05, "linear": 0.1, "pool": 0.3, "eltwise": 0.3, "memory": 0.6},
    "npu": {"conv": 0.3, "pwconv": 0.3, "dwconv": 0.05, "linear": 0.1, "pool": 0.3, "eltwise": 0.3, "memory": 0.6},
    "mcu": {"conv": 0.5, "pwconv": 0.5, "dwconv": 0.3, "linear": 0.4, "pool": 0.4, "eltwise": 0.4, "memory": 0.5},
}
_DEFAULT_OVERHEAD_US = {"cpu": (30.0, 5.0), "gpu": (50.0, 6.0), "tpu": (300.0, 20.0), "npu": (200.0, 15.0), "mcu": (50.0, 15.0)}


def default_params(profile: HardwareProfile, backend: str, precision: str, threads: int | None = None) -> PredictorParams:
    """The uncalibrated terms of ``profile``: its ``predictor`` section, else device-class priors."""
    peak, bw, lanes, basis = roofline_peaks(profile, precision, threads)
    prior = dict(_DEFAULT_EFFICIENCY.get(profile.device, _DEFAULT_EFFICIENCY["cpu"]))
    for key, v in profile.predictor.efficiency.items():
        prior[key] = v.value
    if "pwconv" not in profile.predictor.efficiency and "conv" in profile.predictor.efficiency:
        prior["pwconv"] = prior["conv"]  # a 1x1 convolution is a GEMM: at least as efficient
    call_default, layer_default = _DEFAULT_OVERHEAD_US.get(profile.device, (30.0, 5.0))
    call = profile.predictor.call_overhead_us.value if profile.predictor.call_overhead_us else call_default
    layer = profile.predictor.layer_overhead_us.value if profile.predictor.layer_overhead_us else layer_default
    overhead = {k: layer for k in (*COMPUTE_KINDS, "pool", "eltwise")}
    terms = "profile's predictor section (estimates)" if profile.predictor.efficiency else f"default {profile.device} priors (estimates)"
    return PredictorParams(
        peak_gops=peak, bandwidth_gbs=bw, lanes=lanes, efficiency={k: prior[k] for k in EFFICIENCY_KEYS},
        overhead_us=overhead, call_us=call, fuses=backend in FUSING_BACKENDS,
        basis=f"{basis}; efficiencies and overheads from the {terms}",
    )


# -- prediction ----------------------------------------------------------------------------------


def reduction_factor(op: OpRecord, k_half: float) -> float:
    """``K / (K + K_half)`` for convolutions and linear layers (1 for depthwise: no reduction across channels)."""
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


def predict_ops(ops: Sequence[OpRecord], params: PredictorParams, precision: str) -> LatencyPrediction:
    """Latency of the layers ``ops`` under ``params`` (see the module docstring for the model)."""
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
        latency_ms=total * 1e3, layers=layers, compute_bound_layers=bound["compute"],
        memory_bound_layers=bound["memory"], params=params, precision=precision,
    )


def predict_latency(
    model: Any,
    profile: HardwareProfile | str,
    backend: str | None = None,
    precision: str | None = None,
    *,
    threads: int | None = None,
    input_shape: Sequence[int] | None = None,
    calibration: Any = None,
    use_calibration: bool = True,
) -> LatencyPrediction:
    """Predict batch-1 latency of ``model`` on ``profile`` for a deployment (default: its recipe).

    ``model`` is an ArchSpec, predictor records, the path of an ONNX file, or a PyTorch module
    (exported to ONNX first; pass ``input_shape`` without the batch axis). On a measured profile
    the calibration fitted on this host for these threads is used when one exists and is fresh;
    otherwise the profile's own terms (estimates) are, and the trust figures say so.
    """
    from workbench.hw._profile import load_profile

    prof = load_profile(profile)
    if backend is None or precision is None:
        if prof.deploy is None:
            raise ConfigError(f"profile {prof.name!r} has no deploy recipe; pass backend and precision")
        backend = backend or prof.deploy.backend
        precision = precision or prof.deploy.precision
    ops = _ops_of(model, input_shape)
    th = threads or prof.resolved_threads()
    params = None
    trust: dict[str, Any] = {}
    note = ""
    if use_calibration and prof.measured:
        from workbench.hw._calibrate import calibration_status

        cal, note = (calibration, "given") if calibration is not None else calibration_status(prof)
        if cal is not None and cal.has(backend, precision, th):
            params = cal.params_for(backend, precision, th)
            trust = cal.trust_for(backend, precision, th)
        elif cal is not None:
            fitted = sorted({f"{e.deployment}@{e.intra_op}t" for e in cal.entries})
            note = f"no calibration of {backend}-{precision} at {th} thread(s) (fitted: {', '.join(fitted) or 'none'})"
    if params is None:
        params = default_params(prof, backend, precision, th)
        trust = uncalibrated_trust(prof)
        if note:
            trust["calibration_note"] = note
    pred = predict_ops(ops, params, precision)
    pred.trust = trust
    return pred


def _ops_of(model: Any, input_shape: Sequence[int] | None) -> list[OpRecord]:
    if isinstance(model, ArchSpec):
        return ops_from_spec(model)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        from workbench.hw._onnx_cost import ops_from_onnx

        return ops_from_onnx(model)
    if isinstance(model, Sequence):
        return list(model)
    import sys
    import tempfile

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        if input_shape is None:
            raise ConfigError("predicting a PyTorch module needs input_shape (without the batch axis), e.g. (3, 224, 224)")
        from workbench.backends import ModelSource
        from workbench.hw._onnx_cost import ops_from_onnx

        with tempfile.TemporaryDirectory(prefix="wb-predict-") as tmp:
            src = ModelSource("torch", model, input_shape, tmp, name="model", onnx_exporter="auto")
            return ops_from_onnx(src.onnx_path())
    raise ConfigError(f"cannot predict a {type(model).__name__}: expected an ArchSpec, an ONNX path or an nn.Module")


def uncalibrated_trust(profile: HardwareProfile) -> dict[str, Any]:
    """Trust figures of a prediction made from datasheet numbers and estimated efficiencies."""
    return {
        "calibrated": False,
        "validated_on_device": False,
        "basis": (
            f"roofline from {profile.name}'s datasheet numbers and estimated efficiency factors (sources in "
            f"{profile.path or 'the profile'}); not validated against measurements of this device"
        ),
    }
