"""Measured per-operator latency of an ONNX artifact, from ONNX Runtime's own profiler.

The artifact is loaded with profiling on and run on this host at batch 1 with the given
threads; after warm-up runs, each operator's kernel time is taken from the profiler's trace
for every timed run and summarised by its median. Operators are those ONNX Runtime executes
after its graph optimisations (a convolution with its batch norm and activation fused shows as
one ``Conv``), listed in execution order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
            "label": "latency per operator (measured, ONNX Runtime profiler, "
            f"median of {self.runs} runs)",
            "note": self.describe(),
        }

    def describe(self) -> str:
        return (
            f"measured on this host ({self.host}) with ONNX Runtime {self.ort_version}'s profiler, "
            f"{self.threads} "
            f"thread(s), batch 1: median kernel time per operator over {self.runs} runs after "
            f"{self.warmup} warm-up runs. "
            f"Operators sum to {self.total_ms:.4g} ms of a {self.run_median_ms:.4g} ms run (the "
            "rest is session overhead)."
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
    from workbench.calibrate._ort_profiler import profile_ort_nodes
    from workbench.hw import host_info

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    t = profile_ort_nodes(
        path,
        input_shape,
        threads=threads,
        warmup=warmup,
        runs=runs,
        min_runs=3,
        max_seconds=max_seconds,
        seed=seed,
    )
    info = host_info()
    notes = []
    if t.runs < runs:
        notes.append(f"stopped after {t.runs} timed runs (time cap {max_seconds:g} s)")
    return OperatorProfile(
        names=t.names,
        op_types=t.op_types,
        median_us=t.median_us,
        runs=t.runs,
        warmup=t.warmup,
        threads=threads,
        run_median_ms=t.run_median_ms,
        host=info.cpu_model,
        ort_version=t.ort_version,
        notes=notes,
    )
