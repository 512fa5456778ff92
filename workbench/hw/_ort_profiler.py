"""Per-node kernel times of an ONNX model from ONNX Runtime's own profiler, on this host.

The session is set up as the ONNX Runtime backend sets up its own (sequential execution, all
graph optimisations, the given intra-op threads, one inter-op thread), with the profiler on.
The model runs ``warmup`` times, then up to ``runs`` more (at least ``min_runs`` when the time cap
of ``max_seconds`` cuts it short); the trace's ``*_kernel_time`` events of the timed runs give
each node's median, and the nodes come back in execution order (their offset into a run).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench._imports import require

__all__ = ["ProfilerTrace", "profile_ort_nodes"]


@dataclass
class ProfilerTrace:
    """Median kernel time (µs) per executed node, in execution order, and the runs behind them."""

    names: list[str]
    op_types: list[str]
    median_us: list[float]
    runs: int  # timed runs
    warmup: int  # warm-up runs actually done
    run_median_ms: float  # median of the whole runs, as the profiler timed them
    ort_version: str
    #: median wall time of the same model in a session without the profiler, run alternately with
    #: the profiled one (so both see the machine at the same speed); None when not asked for
    plain_median_ms: float | None = None


def profile_ort_nodes(
    path: str | os.PathLike[str],
    input_shape: Sequence[int],
    *,
    threads: int = 1,
    warmup: int = 5,
    runs: int = 30,
    min_runs: int = 3,
    max_seconds: float = 2.0,
    seed: int = 0,
    purpose: str = "per-operator profiling",
    plain: bool = False,
) -> ProfilerTrace:
    """Profile the ONNX model at ``path`` on a random input of ``(1, *input_shape)``; with
    ``plain``, also time it in a session without the profiler, run for run alternately."""
    ort = require("onnxruntime", extra="onnx", purpose=purpose)
    with tempfile.TemporaryDirectory(prefix="wb-ortprof-") as tmp:
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        unprofiled = None
        if plain:
            so.enable_profiling = False
            unprofiled = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
        done = 0
        plain_s: list[float] = []
        start = time.perf_counter()
        while done < warmup + runs:
            if unprofiled is not None:
                t0 = time.perf_counter()
                unprofiled.run(None, {name: x})
                if done >= warmup:
                    plain_s.append(time.perf_counter() - t0)
            session.run(None, {name: x})
            done += 1
            if done >= warmup + min_runs and time.perf_counter() - start > max_seconds:
                break
        trace = json.loads(Path(session.end_profiling()).read_text())
    run_events = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    timed = run_events[warmup:] if len(run_events) > warmup else run_events
    per_node: dict[str, list[float]] = {}
    op_type: dict[str, str] = {}
    offset: dict[str, float] = {}
    if timed:
        starts = np.array([e["ts"] for e in timed], dtype=np.float64)
        for e in trace:
            if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or e["ts"] < starts[0]:
                continue  # not a kernel, or a warm-up run's
            node = e["name"][: -len("_kernel_time")]
            per_node.setdefault(node, []).append(float(e["dur"]))
            op_type[node] = str(e.get("args", {}).get("op_name", "?"))
            run = int(np.searchsorted(starts, e["ts"], side="right")) - 1
            offset.setdefault(node, e["ts"] - starts[run])  # offset into its run: execution order
    order = sorted(per_node, key=lambda n: offset[n])
    return ProfilerTrace(
        names=order,
        op_types=[op_type[n] for n in order],
        median_us=[float(np.median(per_node[n])) for n in order],
        runs=len(timed),
        warmup=min(warmup, len(run_events)),
        run_median_ms=float(np.median([e["dur"] for e in timed])) / 1000 if timed else float("nan"),
        ort_version=str(ort.__version__),
        plain_median_ms=float(np.median(plain_s)) * 1000 if plain_s else None,
    )
