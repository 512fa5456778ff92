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
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._imports import require

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["ProfiledRuns", "ProfilerTrace", "profile_ort_nodes"]


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


def _session(
    ort: ModuleType, path: str | os.PathLike[str], threads: int, profile_prefix: str | None
) -> onnxruntime.InferenceSession:
    """A session set up as the ONNX Runtime backend sets up its own, with the profiler on when
    ``profile_prefix`` is given."""
    so = ort.SessionOptions()
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _parse(
    trace: list[dict[str, Any]], kept: Sequence[int], n_runs: int, warmup: int, ort_version: str
) -> ProfilerTrace:
    """Node medians over the runs numbered ``kept`` (of ``n_runs`` in the trace; when the trace
    holds another number of runs, every run after the first ``warmup``)."""
    run_events = sorted(
        (e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    timed = [run_events[i] for i in kept] if len(run_events) == n_runs else run_events[warmup:]
    per_node: dict[str, list[float]] = {}
    op_type: dict[str, str] = {}
    offset: dict[str, float] = {}
    if timed:
        windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in timed)
        starts = np.array([w[0] for w in windows], dtype=np.float64)
        ends = np.array([w[1] for w in windows], dtype=np.float64)
        for e in trace:
            if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
                continue
            run = int(np.searchsorted(starts, e["ts"], side="right")) - 1
            if run < 0 or e["ts"] > ends[run]:
                continue  # not a kernel, or one of an untimed run's
            node = e["name"][: -len("_kernel_time")]
            per_node.setdefault(node, []).append(float(e["dur"]))
            op_type[node] = str(e.get("args", {}).get("op_name", "?"))
            offset.setdefault(node, e["ts"] - starts[run])  # offset into its run: execution order
    order = sorted(per_node, key=lambda n: offset[n])
    return ProfilerTrace(
        names=order,
        op_types=[op_type[n] for n in order],
        median_us=[float(np.median(per_node[n])) for n in order],
        runs=len(timed),
        warmup=min(warmup, len(run_events)),
        run_median_ms=float(np.median([e["dur"] for e in timed])) / 1000 if timed else float("nan"),
        ort_version=ort_version,
    )


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
) -> ProfilerTrace:
    """Profile the ONNX model at ``path`` on a random input of ``(1, *input_shape)``."""
    ort = require("onnxruntime", extra="onnx", purpose=purpose)
    with tempfile.TemporaryDirectory(prefix="wb-ortprof-") as tmp:
        session = _session(ort, path, threads, str(Path(tmp) / "ort"))
        name = session.get_inputs()[0].name
        x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
        done = 0
        start = time.perf_counter()
        while done < warmup + runs:
            session.run(None, {name: x})
            done += 1
            if done >= warmup + min_runs and time.perf_counter() - start > max_seconds:
                break
        trace = json.loads(Path(session.end_profiling()).read_text())
    return _parse(trace, range(warmup, done), done, warmup, str(ort.__version__))


class ProfiledRuns:
    """A model under ONNX Runtime's profiler, run a few times at each visit between other work.

    Meant as a companion of :func:`workbench.bench.time_rounds`: visited right after the
    same model's timed calls in every round, its kernel times come from the same minutes, at the
    same machine speed, as the model's end-to-end median (a shared machine's speed changes from
    one minute to the next, and not by the same share for every kernel). The first run of each
    visit follows other sessions' runs (its caches hold their data) and is left out, and the first
    visit only warms the session up.
    """

    WARMUP = 3

    def __init__(
        self,
        path: str | os.PathLike[str],
        input_shape: Sequence[int],
        *,
        threads: int = 1,
        runs_per_visit: int = 2,
        max_runs: int = 100,
        seed: int = 0,
        purpose: str = "per-kernel profiling",
    ) -> None:
        self._ort = require("onnxruntime", extra="onnx", purpose=purpose)
        self._tmp = tempfile.TemporaryDirectory(prefix="wb-ortprof-")
        self._session = _session(self._ort, path, threads, str(Path(self._tmp.name) / "ort"))
        self._name = self._session.get_inputs()[0].name
        self._x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
        self.runs_per_visit = runs_per_visit
        self.max_runs = max_runs
        self._kept: list[int] = []
        self._n = 0

    def __call__(self) -> None:
        if len(self._kept) >= self.max_runs:
            return
        if self._n == 0:  # the first visit warms the new session up (allocations, first-run setup)
            for _ in range(self.WARMUP):
                self._session.run(None, {self._name: self._x})
            self._n = self.WARMUP
            return
        for i in range(1 + self.runs_per_visit):
            self._session.run(None, {self._name: self._x})
            if i:
                self._kept.append(self._n)
            self._n += 1

    def trace(self) -> ProfilerTrace:
        """End profiling; the kept runs' node medians (the session cannot profile again)."""
        try:
            events = json.loads(Path(self._session.end_profiling()).read_text())
        finally:
            self.close()
        return _parse(events, self._kept, self._n, 0, str(self._ort.__version__))

    def close(self) -> None:
        """Drop the session and its trace folder (also when the timing was cut short)."""
        self._session = None
        self._tmp.cleanup()
