"""Measured per-operator latency of an ONNX artifact, from ONNX Runtime's own profiler.

The artifact is loaded with profiling on and run on this host at batch 1 with the given
threads; after warm-up runs, each operator's kernel time is taken from the profiler's trace
for every timed run and summarised by its median. Operators are those ONNX Runtime executes
after its graph optimisations (a convolution with its batch norm and activation fused shows as
one ``Conv``), listed in execution order.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench._imports import require

__all__ = ["OperatorProfile", "profile_onnx_operators"]


@dataclass
class OperatorProfile:
    """Median kernel time per operator over ``runs`` profiled runs (measured on this host)."""

    names: list[str]
    op_types: list[str]
    median_us: list[float]
    runs: int
    warmup: int
    threads: int
    run_median_ms: float  # median wall time of a whole run, as the profiler saw it
    host: str
    ort_version: str
    notes: list[str] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return float(sum(self.median_us)) / 1000

    def breakdown(self) -> dict[str, Any]:
        """The form :func:`workbench.report.layer_breakdown_info` takes for a measured series."""
        return {
            "names": [f"{t} {n}" for n, t in zip(self.names, self.op_types)],
            "values_ms": [v / 1000 for v in self.median_us],
            "label": f"latency per operator (measured, ONNX Runtime profiler, median of {self.runs} runs)",
            "note": self.describe(),
        }

    def describe(self) -> str:
        return (
            f"measured on this host ({self.host}) with ONNX Runtime {self.ort_version}'s profiler, {self.threads} "
            f"thread(s), batch 1: median kernel time per operator over {self.runs} runs after {self.warmup} warm-up runs. "
            f"Operators sum to {self.total_ms:.4g} ms of a {self.run_median_ms:.4g} ms run (the rest is session overhead)."
        )


def profile_onnx_operators(
    path: str | os.PathLike[str],
    input_shape: tuple[int, ...],
    *,
    threads: int = 1,
    warmup: int = 5,
    runs: int = 30,
    max_seconds: float = 2.0,
    seed: int = 0,
) -> OperatorProfile:
    """Profile the ONNX model at ``path`` on this host (see the module docstring)."""
    ort = require("onnxruntime", extra="onnx", purpose="per-operator profiling")
    from workbench.hw import host_info

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    with tempfile.TemporaryDirectory(prefix="wb-opprof-") as tmp:
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
        done = 0
        start = time.perf_counter()
        while done < warmup + runs:
            session.run(None, {inp.name: x})
            done += 1
            if done >= warmup + 3 and time.perf_counter() - start > max_seconds:
                break
        trace = json.loads(Path(session.end_profiling()).read_text())
    runs_ev = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    timed = runs_ev[warmup:] if len(runs_ev) > warmup else runs_ev
    starts = np.array([e["ts"] for e in timed], dtype=np.float64)
    per_node: dict[str, list[float]] = {}
    op_type: dict[str, str] = {}
    first_ts: dict[str, float] = {}
    for e in trace:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or not len(starts):
            continue
        if e["ts"] < starts[0]:
            continue  # a warm-up run
        name = e["name"][: -len("_kernel_time")]
        per_node.setdefault(name, []).append(float(e["dur"]))
        op_type[name] = str(e.get("args", {}).get("op_name", "?"))
        run = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        first_ts.setdefault(name, e["ts"] - starts[run])  # offset into its run: execution order
    names = sorted(per_node, key=lambda n: first_ts[n])
    info = host_info()
    notes = []
    if len(timed) < runs:
        notes.append(f"stopped after {len(timed)} timed runs (time cap {max_seconds:g} s)")
    return OperatorProfile(
        names=names,
        op_types=[op_type[n] for n in names],
        median_us=[float(np.median(per_node[n])) for n in names],
        runs=len(timed),
        warmup=min(warmup, len(runs_ev)),
        threads=threads,
        run_median_ms=float(np.median([e["dur"] for e in timed])) / 1000 if timed else float("nan"),
        host=info.cpu_model,
        ort_version=ort.__version__,
        notes=notes,
    )
