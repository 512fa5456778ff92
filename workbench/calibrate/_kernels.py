"""Kernel-level calibration: per-kernel times from ONNX Runtime's profiler, fitted per kernel kind.

Each calibration model also runs in a second session with ONNX Runtime's profiler on, a few runs
right after its timed calls in every round of the calibration's timing (so its kernel times and
its end-to-end median see the machine at the same speed: a shared machine's speed changes from
minute to minute, by up to a third here, and not by the same share for every kernel); the trace
gives the kernel time of every node the runtime executes after its graph optimisations. Nodes are
attributed to the predictor's kernel units (:func:`workbench.hw._predict.kernel_units`) by the
module path in their names (``/blocks.3/dw/conv/Conv`` is the unit of ``blocks.3.dw.conv``);
nodes the optimiser created without a path (a layout transpose, the quantize/dequantize pair
around an activation int8 cannot run, the pieces of an inlined hard-swish) belong to the unit
they follow, and nodes before the first unit to the input's conversion. A unit kind that never
gets a node of its own (ONNX Runtime's fp32 layout fuses a residual add into the convolution
before it) is recorded as fused. Twenty models give hundreds of per-unit samples.

The profiler itself slows a run down, by a share that differs from model to model (up to
about twice as slow for deep int8 models of small kernels, a few percent for most), so each
model's kernel times are brought to its end-to-end time before fitting: the profile says how a
model's time divides among its kernels, the end-to-end timing how long it is. Part of the
slowdown comes per profiled node (the profiler's bookkeeping), part in proportion to a kernel's
time, in shares no single model's timings can tell apart; each kernel's time is therefore the
geometric mean of the two readings, an equal deduction per node and a deduction in proportion,
brought back to the end-to-end time (``blend``). Either reading alone is far off for some
kernels when the slowdown is of the other kind; the blend is about half as far off, and nearer
than either when the slowdown is of both kinds. Choosing one of the two by cross-validation over
the calibration models picked the per-node one in 10 of 14 fits (seven calibration sessions, fp32
and int8), yet the blend's fits put more held-out int8 models within 10% (85% against 77% on
average; fp32 alike, 89%).

Each unit kind gets a linear model in non-negative terms, fitted in log space (relative error)
from a start by non-negative least squares: a fixed cost; MACs, padded to whole SIMD registers
of output channels, with a separate rate where the channels do not fill them (runtimes switch
kernels there); output, input and weight elements; window reads of a k x k convolution or pool;
output positions and output channels (per-row and per-column costs of the GEMM behind a
convolution); output elements of a convolution over few input channels (an image), and its
im2col rows in place of window reads (each output position's window over those few channels: a
7 x 7 stem reads five times what a 3 x 3 one does, whatever its output channels); the residual
add that follows; the elements of each activation the runtime cannot fold; and, for a classifier
head, its weights again in the share of the model's footprint (weights and layer outputs of a
call) beyond the last-level cache: a head reads each weight once per call, from the cache when
the rest of the call left it there, else from memory (a 1000-class head over 1280 features took
0.6x its fitted time in a 4 MB model, 1.5x in a 40 MB one). Averaging and max pools
get separate terms. An activation the runtime runs as a kernel of its own (:func:`activations_apart`
tells from the profiles which do) is a unit of its own, kind ``act``, with a time per call and per
element. Float kernels block channels by the register width: input channels count padded to whole
registers, and 1 x 1 convolutions and pools whose channels do not fill them get terms of their
own. Every term has a physical reading (time per MAC, per element written or read), so the fit
cannot invent a negative cost. A kind with enough samples then gets a ridge-regularised
correction of those terms over the kernel's shape: a quadratic in the log of its output positions,
output channels and reduction length (cache fit varies smoothly over that space in ways the linear
terms cannot follow), and a step per octave of the reduction length (GEMM kernels unroll and pack
the reduction in fixed blocks; without the steps, a calibration's own fit put 1 x 1 convolutions
over 16-31 input channels a fifth too long and those over 4-7 a quarter too short). Finally the
per-call and per-kernel time outside the fitted kernels and a size exponent are fitted to the
models' end-to-end timings (no common scale: the kernel times already add up to each model's
end-to-end time); the per-kernel time may go a few µs below zero, where the profiler's
inflation of short kernels outlasts the per-node deduction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from workbench.hw._predict import KernelModel, KernelUnit, shape_terms, sized

__all__ = [
    "CORRECTIONS",
    "KernelNode",
    "KernelProfile",
    "activations_apart",
    "attribute_nodes",
    "fit_kernel_model",
]

#: one calibration model: its kernel units, the profiled µs of each, its end-to-end ms, and
#: optionally the number of profiled nodes of each unit and its unprofiled end-to-end ms
Sample: TypeAlias = (
    tuple[Sequence[KernelUnit], Sequence[float], float]
    | tuple[Sequence[KernelUnit], Sequence[float], float, Sequence[int]]
    | tuple[Sequence[KernelUnit], Sequence[float], float, Sequence[int], float | None]
)

#: weight of the pull of the size exponent ``gamma`` towards 0, and its bounds
_GAMMA_PRIOR = 0.05
_GAMMA_MAX = 0.3
#: kernel time (µs) below which a kernel's profiled time counts for less in its kind's fit
_SHORT_US = 3.0
#: the least share of its profiled time a kernel keeps when the per-node slowdown is taken out
_FLOOR = 0.05
#: how far below zero the per-kernel term of the end-to-end fit may go (µs): the profiler inflates
#: kernels of a few µs by more than a model's runtime spends between kernels, and what is left of
#: that after the per-node deduction shows as a negative time per kernel
_UNIT_MIN = 3.0
#: ridge penalty of the shape correction (standardised terms), per sample; kinds with fewer samples
#: than ``_SHAPE_MIN`` get none
_SHAPE_RIDGE = 0.1
_SHAPE_MIN = 30


@dataclass(frozen=True)
class KernelNode:
    """One node ONNX Runtime executed, with its median kernel time over the profiled runs."""

    name: str
    op_type: str
    median_us: float


@dataclass(frozen=True)
class KernelProfile:
    """The nodes of one profiled model, and its median time without the profiler taken in the same
    minutes (so both saw the machine at the same speed)."""

    nodes: list[KernelNode]
    plain_ms: float | None = None


def _lookup(units: Sequence[KernelUnit]) -> dict[str, int]:
    """Module paths that name a unit: every layer it covers (``blocks.3.dw.conv``), and a residual
    add's block (ONNX names the add ``/blocks.3/Add``)."""
    out: dict[str, int] = {}
    for i, u in enumerate(units):
        for name in (u.name, *u.members):
            out.setdefault(name, i)
            if name.endswith(".add"):
                out.setdefault(name[: -len(".add")], i)
    return out


def attribute_nodes(
    units: Sequence[KernelUnit], nodes: Sequence[KernelNode]
) -> tuple[list[float], dict[str, Any]]:
    """Kernel time (µs) of each unit: nodes named after one of its layers, and the unnamed nodes
    that follow them; nodes before the first named one belong to the input's conversion (unit 0).

    Returns the times and a summary: units with no named node, and the share of time attributed by
    name rather than by position.
    """
    lookup = _lookup(units)
    times = [0.0] * len(units)
    counts = [0] * len(units)
    named_us = 0.0
    current = 0
    seen: set[int] = set()
    for node in nodes:
        parts = [p for p in node.name.strip("/").split("/") if p]
        hit = None
        for n in range(len(parts) - 1, 0, -1):  # the last part is the op's own name
            hit = lookup.get(".".join(parts[:n]))
            if hit is not None:
                break
        if hit is not None:
            current = hit
            seen.add(hit)
            named_us += node.median_us
        times[current] += node.median_us
        counts[current] += 1
    total = sum(times)
    missing = [u.name for i, u in enumerate(units) if i not in seen and u.kind != "input"]
    return times, {
        "units": len(units),
        "unnamed_units": missing,
        "named_share": named_us / total if total else 0.0,
        "kernel_us": total,
        "nodes": counts,
    }


def _fit_terms(
    rows: Sequence[Mapping[str, float]], y: np.ndarray
) -> tuple[dict[str, float], float]:
    """Non-negative terms with ``sum_j term_j x row_j ~ y`` in log space (relative error, symmetric
    in over- and under-prediction; kernels of a few µs weigh less), started from non-negative
    least squares on relative error.
    Returns the terms and the median relative error in-sample."""
    from scipy.optimize import least_squares, nnls

    keys = sorted({k for r in rows for k, v in r.items() if v})
    a = np.asarray([[r.get(k, 0.0) for k in keys] for r in rows], dtype=float)
    w = 1.0 / np.maximum(y, 1e-3)
    scale = np.maximum(np.abs(a * w[:, None]).max(axis=0), 1e-12)  # column scaling for conditioning
    coef, _ = nnls(a * w[:, None] / scale, np.ones_like(y), maxiter=50 * len(keys) + 500)
    coef = coef / scale
    floor = (
        1e-6 * np.median(y) / np.maximum(a.mean(axis=0), 1e-12)
    )  # a term at the floor contributes ~nothing
    theta0 = np.log(np.maximum(coef, floor))
    ly = np.log(np.maximum(y, 1e-3))

    # the profiler times kernels in whole microseconds: a kernel of a few µs has a large relative
    # error, so its residual counts for less (about the inverse of that noise)
    wt = np.sqrt(y / (y + _SHORT_US))

    def residuals(theta: np.ndarray) -> np.ndarray:
        return wt * (np.log(np.maximum(a @ np.exp(theta), 1e-9)) - ly)

    res = least_squares(residuals, theta0, max_nfev=200 * len(keys))
    coef = np.exp(res.x)
    coef[coef <= floor * 1.0001] = 0.0
    pred = a @ coef
    return {k: float(c) for k, c in zip(keys, coef, strict=True)}, float(
        np.median(np.abs(pred / y - 1.0))
    )


def _fit_shape(
    terms: Mapping[str, float],
    rows: Sequence[Mapping[str, float]],
    units: Sequence[KernelUnit],
    y: np.ndarray,
) -> dict[str, list[float]]:
    """Ridge regression of the log ratio of measured to linear-term time on the kernels'
    standardised shape terms (:func:`workbench.hw._predict.shape_terms`), weighted as the terms'
    fit is."""
    linear = np.asarray([sum(terms.get(k, 0.0) * v for k, v in r.items()) for r in rows])
    r = np.log(np.maximum(y, 1e-3) / np.maximum(linear, 1e-6))
    x = np.asarray([shape_terms(u) for u in units], dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = np.column_stack([np.ones(len(y)), (x - mean) / std])
    wt = y / (y + _SHORT_US)
    pen = _SHAPE_RIDGE * len(y) * np.eye(z.shape[1])
    pen[0, 0] = 0.0  # the intercept is free
    coef = np.linalg.solve(z.T @ (z * wt[:, None]) + pen, z.T @ (wt * r))
    return {"mean": mean.tolist(), "std": std.tolist(), "coef": coef.tolist()}


def _unprofiled(
    times: Sequence[float],
    ms: float,
    nodes: Sequence[int] | None,
    plain_ms: float | None = None,
    correction: str = "per-node",
) -> list[float]:
    """Kernel times of one model with the profiler's slowdown taken out, so they add up to the
    model's end-to-end time ``ms``, by ``correction`` (one of :data:`CORRECTIONS`): ``per-node``, an
    equal share per node (the profiler's bookkeeping is per node), measured against ``plain_ms``
    when given (the model timed without the profiler in the same minutes as the profiled runs: the
    machine's speed then is the same in both) and the rest in proportion; ``proportional``, in
    proportion to the times; ``blend``, the geometric mean of the two per kernel. Without node
    counts, in proportion."""
    total = sum(times)
    if total <= 0:
        return list(times)
    scaled = [t * ms * 1e3 / total for t in times]
    if nodes is None or correction == "proportional":
        return scaled
    ref = plain_ms if plain_ms is not None else ms
    delta = (total - ref * 1e3) / max(1, sum(nodes))
    out = [max(t - delta * n, _FLOOR * t) for t, n in zip(times, nodes, strict=True)]
    if correction == "blend":
        out = [math.sqrt(a * b) for a, b in zip(out, scaled, strict=True)]
    r = ms * 1e3 / max(sum(out), 1e-9)  # what the floor or the blend kept back
    return [t * r for t in out]


def activations_apart(
    profiled: Sequence[tuple[Sequence[KernelUnit], Sequence[KernelNode]]],
) -> tuple[str, ...]:
    """The activation functions the runtime runs as kernels of their own, from ``(units with every
    activation split off, nodes)`` of profiled models: those whose activation units got a node of
    their own more often than not (the rest are fused into the layer before them)."""
    seen: dict[str, list[int]] = {}
    for units, nodes in profiled:
        times, _ = attribute_nodes(units, nodes)
        for u, t in zip(units, times, strict=True):
            if u.kind == "act":
                seen.setdefault(u.activations[0], [0, 0])[t > 0] += 1
    return tuple(sorted(fn for fn, (fused, apart) in seen.items() if apart > fused))


#: ways to take the profiler's slowdown out of a model's kernel times (see :func:`_unprofiled`)
CORRECTIONS = ("blend", "per-node", "proportional")


def fit_kernel_model(
    samples: Sequence[Sample],
    precision: str,
    lanes: int,
    *,
    min_samples: int = 4,
    correction: str = "blend",
    split_activations: Sequence[str] = (),
) -> tuple[KernelModel, dict[str, Any]]:
    """Fit a :class:`KernelModel` to
    ``(units, kernel µs per unit, end-to-end ms[, nodes per unit])`` per model.

    Unit kinds with fewer than ``min_samples`` samples are left out (the roofline covers them).
    ``correction`` (one of :data:`CORRECTIONS`) says how the profiler's slowdown is taken out of
    each model's kernel times; samples without node counts are corrected in proportion.
    """
    if correction not in CORRECTIONS:
        raise ValueError(
            f"unknown profiler correction {correction!r}: one of {', '.join(CORRECTIONS)}"
        )
    if not all(len(s) > 3 for s in samples):
        correction = "proportional"
    model, report = _fit_once(samples, precision, lanes, min_samples, correction, split_activations)
    report["profiler_correction"] = correction
    return model, report


def _fit_once(
    samples: Sequence[Sample],
    precision: str,
    lanes: int,
    min_samples: int,
    correction: str,
    split: Sequence[str] = (),
) -> tuple[KernelModel, dict[str, Any]]:
    from scipy.optimize import least_squares

    by_kind: dict[str, tuple[list[dict[str, float]], list[float]]] = {}
    units_of: dict[str, list[KernelUnit]] = {}
    zeros: dict[str, int] = {}
    for sample in samples:
        units, times, ms = sample[0], sample[1], sample[2]
        plain = sample[4] if len(sample) > 4 else None
        times = _unprofiled(times, ms, sample[3] if len(sample) > 3 else None, plain, correction)
        for u, t in zip(units, times, strict=True):
            if t <= 0:  # no node of its own: fused into a neighbour
                zeros[u.kind] = zeros.get(u.kind, 0) + 1
                continue
            rows, ys = by_kind.setdefault(u.kind, ([], []))
            rows.append(u.features(precision, lanes))
            ys.append(t)
            units_of.setdefault(u.kind, []).append(u)
    terms: dict[str, dict[str, float]] = {}
    shape: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    kind_err: dict[str, float] = {}
    absorbed = tuple(sorted(k for k, n in zeros.items() if n > len(by_kind.get(k, ((), ()))[1])))
    for kind, (rows, ys) in sorted(by_kind.items()):
        if len(ys) < min_samples or kind in absorbed:
            continue
        terms[kind], kind_err[kind] = _fit_terms(rows, np.asarray(ys, dtype=float))
        counts[kind] = len(ys)
        if (
            len(ys) >= _SHAPE_MIN and kind != "act"
        ):  # an activation's time goes with its elements alone
            shape[kind] = _fit_shape(terms[kind], rows, units_of[kind], np.asarray(ys, dtype=float))
    partial = KernelModel(
        terms,
        call_us=0.0,
        unit_us=0.0,
        samples=counts,
        absorbed=absorbed,
        shape=shape,
        split=tuple(split),
    )
    # model level: end-to-end = call + n_units x unit + sum of size-corrected kernel times. The
    # kernel times were brought to each model's end-to-end time from the same timing rounds, so
    # there is no common scale left to fit: one fitted to twenty models only learns which kernels
    # they happen to hold (held-out models came out a few percent high with one)
    kernel_times, n_units, e2e, measured_sums = [], [], [], []
    for units, times, ms, *_nodes in samples:
        ts = []
        n = 0
        for u in units:
            f = u.features(precision, lanes)
            if u.kind not in absorbed:
                n += 1
                if partial.covers(u, f):
                    ts.append(partial.unit_us_of(u, f))
        kernel_times.append(np.asarray(ts, dtype=float))
        n_units.append(n)
        e2e.append(ms * 1e3)
        measured_sums.append(sum(times))
    n_arr, y_arr = np.asarray(n_units, dtype=float), np.asarray(e2e)
    gap = np.maximum(y_arr - np.asarray(measured_sums), 0.0)  # time outside kernels, as measured
    gap_fit = np.linalg.lstsq(np.column_stack([np.ones_like(n_arr), n_arr]), gap, rcond=None)[0]
    call0, unit0 = max(float(gap_fit[0]), 1.0), max(float(gap_fit[1]), 0.01)

    def preds(theta: np.ndarray) -> np.ndarray:
        call, unit, gamma = math.exp(theta[0]), theta[1], theta[2]
        return np.asarray(
            [
                call + float(np.sum(np.maximum(unit + sized(t, gamma), 0.0))) + unit * (n - len(t))
                for t, n in zip(kernel_times, n_units, strict=True)
            ]
        )

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = np.maximum(preds(theta), 1e-3)
        return np.concatenate([np.log(pred / y_arr), [_GAMMA_PRIOR * theta[2]]])

    lo = [math.log(1e-2), -_UNIT_MIN, -_GAMMA_MAX]
    hi = [math.log(1e6), 1e4, _GAMMA_MAX]
    theta0 = np.clip(np.array([math.log(call0), unit0, 0.0]), lo, hi)
    res = least_squares(residuals, theta0, bounds=(lo, hi))
    call = math.exp(res.x[0])
    unit = float(res.x[1])
    gamma = float(res.x[2])
    model = KernelModel(
        terms,
        call_us=call,
        unit_us=unit,
        samples=counts,
        absorbed=absorbed,
        gamma=gamma,
        shape=shape,
        split=tuple(split),
    )
    rel = preds(res.x) / y_arr - 1.0
    report = {
        "kernel_samples": counts,
        "fused_kinds": list(absorbed),
        "kernel_median_abs_error": kind_err,
        "outside_kernels_us": {"per_call": call0, "per_unit": unit0},
        "size_exponent_gamma": gamma,
        "in_sample_within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "in_sample_median_abs_error": float(np.median(np.abs(rel))),
    }
    return model, report
