"""Kernel-level calibration: per-kernel times from ONNX Runtime's profiler, fitted per kernel kind.

Each calibration model is run once more with ONNX Runtime's profiler on; the trace gives the
kernel time of every node the runtime executes after its graph optimisations. Nodes are
attributed to the predictor's kernel units (:func:`workbench.hw._predict.kernel_units`) by the
module path in their names (``/blocks.3/dw/conv/Conv`` is the unit of ``blocks.3.dw.conv``);
nodes the optimiser created without a path (a layout transpose, the quantize/dequantize pair
around an activation int8 cannot run, the pieces of an inlined hard-swish) belong to the unit
they follow, and nodes before the first unit to the input's conversion. Twenty models give
hundreds of per-unit samples.

Each unit kind gets a linear model in non-negative terms, fitted by non-negative least squares
weighted by relative error: a fixed cost, MACs (lane-padded), output, input and weight elements,
window reads of a k x k convolution or pool, and the elements of each activation the runtime
cannot fold. Every term has a physical reading (time per MAC, per element written or read), so
the fit cannot invent a negative cost and extrapolates like the roofline does. Finally the
per-call and per-kernel time the runtime spends outside kernels, and the ratio of plain to
profiled kernel time, are fitted to the models' end-to-end timings.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench._imports import require
from workbench.hw._predict import KernelModel, KernelUnit

__all__ = ["KernelNode", "attribute_nodes", "fit_kernel_model", "profile_kernels"]

#: weight of the model-level (end-to-end) fit's pull of the plain/profiled ratio towards 1 (log space)
_SCALE_PRIOR = 0.02


@dataclass(frozen=True)
class KernelNode:
    """One node ONNX Runtime executed, with its median kernel time over the profiled runs."""

    name: str
    op_type: str
    median_us: float


def profile_kernels(
    path: str | os.PathLike[str],
    input_shape: Sequence[int],
    *,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 20,
    max_seconds: float = 1.5,
    seed: int = 0,
) -> list[KernelNode]:
    """Median kernel time of every node of the ONNX model at ``path``, in execution order.

    The session is set up as the ONNX Runtime backend sets up its own (sequential execution, all
    graph optimisations, ``threads`` intra-op threads), with the profiler on.
    """
    ort = require("onnxruntime", extra="onnx", purpose="per-kernel profiling")
    with tempfile.TemporaryDirectory(prefix="wb-kernels-") as tmp:
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
        done = 0
        start = time.perf_counter()
        while done < warmup + runs:
            session.run(None, {name: x})
            done += 1
            if done >= warmup + 5 and time.perf_counter() - start > max_seconds:
                break
        trace = json.loads(Path(session.end_profiling()).read_text())
    run_events = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    timed = run_events[warmup:] if len(run_events) > warmup else run_events
    if not timed:
        return []
    starts = np.array([e["ts"] for e in timed], dtype=np.float64)
    per_node: dict[str, list[float]] = {}
    op_type: dict[str, str] = {}
    offset: dict[str, float] = {}
    for e in trace:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or e["ts"] < starts[0]:
            continue
        node = e["name"][: -len("_kernel_time")]
        per_node.setdefault(node, []).append(float(e["dur"]))
        op_type[node] = str(e.get("args", {}).get("op_name", "?"))
        run = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        offset.setdefault(node, e["ts"] - starts[run])
    order = sorted(per_node, key=lambda n: offset[n])
    return [KernelNode(n, op_type[n], float(np.median(per_node[n]))) for n in order]


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


def attribute_nodes(units: Sequence[KernelUnit], nodes: Sequence[KernelNode]) -> tuple[list[float], dict[str, Any]]:
    """Kernel time (µs) of each unit: nodes named after one of its layers, and the unnamed nodes
    that follow them; nodes before the first named one belong to the input's conversion (unit 0).

    Returns the times and a summary: units with no named node, and the share of time attributed by
    name rather than by position.
    """
    lookup = _lookup(units)
    times = [0.0] * len(units)
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
    total = sum(times)
    missing = [u.name for i, u in enumerate(units) if i not in seen and u.kind != "input"]
    return times, {"units": len(units), "unnamed_units": missing, "named_share": named_us / total if total else 0.0,
                   "kernel_us": total}


def _nnls_fit(rows: Sequence[Mapping[str, float]], y: np.ndarray) -> tuple[dict[str, float], float]:
    """Non-negative least squares of ``y`` on the union of the rows' features, each row weighted
    by 1/y (relative error); returns the terms and the median relative error in-sample."""
    from scipy.optimize import nnls

    keys = sorted({k for r in rows for k, v in r.items() if v})
    a = np.asarray([[r.get(k, 0.0) for k in keys] for r in rows], dtype=float)
    w = 1.0 / np.maximum(y, 1e-3)
    scale = np.maximum(np.abs(a * w[:, None]).max(axis=0), 1e-12)  # column scaling for conditioning
    coef, _ = nnls(a * w[:, None] / scale, np.ones_like(y), maxiter=50 * len(keys) + 500)
    coef = coef / scale
    pred = a @ coef
    return {k: float(c) for k, c in zip(keys, coef, strict=True)}, float(np.median(np.abs(pred / y - 1.0)))


def fit_kernel_model(
    samples: Sequence[tuple[Sequence[KernelUnit], Sequence[float], float]],
    precision: str,
    lanes: int,
    *,
    min_samples: int = 4,
) -> tuple[KernelModel, dict[str, Any]]:
    """Fit a :class:`KernelModel` to ``(units, kernel µs per unit, end-to-end ms)`` per model.

    Unit kinds with fewer than ``min_samples`` samples are left out (the roofline covers them).
    """
    from scipy.optimize import least_squares

    by_kind: dict[str, tuple[list[dict[str, float]], list[float]]] = {}
    zeros: dict[str, int] = {}
    for units, times, _ms in samples:
        for u, t in zip(units, times, strict=True):
            if t <= 0:  # no node of its own: fused into a neighbour
                zeros[u.kind] = zeros.get(u.kind, 0) + 1
                continue
            rows, ys = by_kind.setdefault(u.kind, ([], []))
            rows.append(u.features(precision, lanes))
            ys.append(t)
    terms: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    kind_err: dict[str, float] = {}
    absorbed = tuple(sorted(k for k, n in zeros.items() if n > len(by_kind.get(k, ((), ()))[1])))
    for kind, (rows, ys) in sorted(by_kind.items()):
        if len(ys) < min_samples or kind in absorbed:
            continue
        terms[kind], kind_err[kind] = _nnls_fit(rows, np.asarray(ys, dtype=float))
        counts[kind] = len(ys)
    partial = KernelModel(terms, call_us=0.0, unit_us=0.0, scale=1.0, samples=counts, absorbed=absorbed)
    # model level: end-to-end = call + n_units x unit + scale x sum of predicted kernel times
    sums, n_units, e2e, measured_sums = [], [], [], []
    for units, times, ms in samples:
        s = 0.0
        n = 0
        for u in units:
            f = u.features(precision, lanes)
            if u.kind not in absorbed:
                n += 1
                s += partial.unit_us_of(u, f) if partial.covers(u, f) else 0.0
        sums.append(s)
        n_units.append(n)
        e2e.append(ms * 1e3)
        measured_sums.append(sum(times))
    s_arr, n_arr, y_arr = np.asarray(sums), np.asarray(n_units, dtype=float), np.asarray(e2e)
    gap = np.maximum(y_arr - np.asarray(measured_sums), 0.0)  # time outside kernels, as measured
    gap_fit = np.linalg.lstsq(np.column_stack([np.ones_like(n_arr), n_arr]), gap, rcond=None)[0]
    call0, unit0 = max(float(gap_fit[0]), 1.0), max(float(gap_fit[1]), 0.01)

    def residuals(theta: np.ndarray) -> np.ndarray:
        call, unit, scale = np.exp(theta)
        pred = call + unit * n_arr + scale * s_arr
        return np.concatenate([np.log(pred / y_arr), [_SCALE_PRIOR * theta[2]]])

    theta0 = np.log([call0, unit0, 1.0])
    res = least_squares(residuals, theta0, bounds=(np.log([1e-2, 1e-3, 0.2]), np.log([1e6, 1e4, 5.0])))
    call, unit, scale = (float(v) for v in np.exp(res.x))
    model = KernelModel(terms, call_us=call, unit_us=unit, scale=scale, samples=counts, absorbed=absorbed)
    rel = (call + unit * n_arr + scale * s_arr) / y_arr - 1.0
    report = {
        "kernel_samples": counts,
        "fused_kinds": list(absorbed),
        "kernel_median_abs_error": kind_err,
        "outside_kernels_us": {"per_call": call0, "per_unit": unit0},
        "in_sample_within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "in_sample_median_abs_error": float(np.median(np.abs(rel))),
    }
    return model, report
