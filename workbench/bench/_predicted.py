"""Deploy a model for a device that is not here: the real file, its real accuracy, predicted speed.

For a simulated profile every deployment still produces the artifact the device would run (its
recipe: an ONNX file for a GPU, a full-integer TFLite file for a microcontroller), built with
the device's ISA choices, and that very artifact is evaluated on this host for its accuracy.
Only what needs the device is predicted: latency (the roofline predictor, with its trust
figures) and peak memory (the footprint estimate). Every such number is labelled ``predicted``
and carries, in its meta, how it was obtained and how far to trust it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench._errors import WorkbenchError
from workbench.arch import ArchSpec
from workbench.backends import (
    Artifact,
    CompileContext,
    Deployment,
    ModelSource,
    Threads,
    accuracy_of,
    get_backend,
)
from workbench.bench._deploy import _backend_version, _fail, _fed_context
from workbench.bench._latency import LatencyStats
from workbench.bench._measurement import Measurement, now_iso
from workbench.hw import Calibration, HardwareProfile, host_info

__all__ = ["PREDICTION_METHOD", "predict_deployments", "predicted_latency_stats"]

PREDICTION_METHOD = (
    "roofline per layer (compute: 2 x MACs over the precision's peak x per-op efficiency; memory: "
    "bytes over bandwidth x efficiency; the larger, plus a per-layer overhead), summed with a "
    "per-call overhead"
)


def predicted_latency_stats(latency_ms: float, trust: dict[str, Any]) -> LatencyStats:
    """A prediction as LatencyStats: every percentile the prediction, ``n = 0`` (no samples), and
    the interval widened by the median error measured on held-out models when that is known."""
    err = trust.get("median_abs_error")
    lo, hi = (
        (latency_ms * (1 - err), latency_ms * (1 + err))
        if isinstance(err, (int, float))
        else (latency_ms, latency_ms)
    )
    return LatencyStats(
        p50_ms=latency_ms,
        p90_ms=latency_ms,
        p99_ms=latency_ms,
        mean_ms=latency_ms,
        std_ms=0.0,
        min_ms=latency_ms,
        n=0,
        ci95_low_ms=lo,
        ci95_high_ms=hi,
    )


def predict_deployments(
    source: ModelSource,
    deployments: Sequence[Deployment],
    profile: HardwareProfile,
    *,
    spec: ArchSpec | None = None,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    compile_ctx: CompileContext | None = None,
    eval_threads: Threads | None = None,
    on_stage: Callable[[str], None] | None = None,
    calibration: Calibration | None = None,
) -> tuple[list[Measurement], dict[str, Artifact]]:
    """Build each deployment's artifact, evaluate its accuracy here, predict its latency there.

    ``spec`` gives the per-layer cost and the memory estimate; without it the exported ONNX
    graph's cost is used (a user's own model) and peak memory is not estimated. ``calibration``
    is the profile's calibration on this host, if any
    (:func:`workbench.calibrate.find_calibration`).
    """
    from workbench.hw._footprint import estimate_footprint
    from workbench.hw._onnx_cost import ops_from_onnx
    from workbench.hw._predict import ops_from_spec, predict_latency

    ctx = compile_ctx or CompileContext()
    th = eval_threads or Threads(intra_op=1, inter_op=1)
    ctx.threads = th
    ctx.isa_flags = tuple(profile.isa_flags) or host_info().isa_flags
    ctx = _fed_context(ctx, source)  # calibration and validation data in the model's own layout
    if x_test is not None:
        x_test = source.feed(x_test)
    info = host_info()
    stage = on_stage or (lambda _s: None)
    measurements: list[Measurement] = []
    artifacts: dict[str, Artifact] = {}
    for dep in deployments:
        m = Measurement(
            profile=profile.name,
            framework=source.framework,
            backend=dep.backend,
            precision=dep.precision,
            source="predicted",
        )
        measurements.append(m)
        try:
            backend = get_backend(dep.backend)
            backend.check(dep, source.framework)
        except WorkbenchError as err:
            _fail(m, "config", err)
            continue
        stage(f"compile {dep.name} for {profile.name}")
        start = time.perf_counter()
        try:
            artifact = backend.compile(source, dep, ctx)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - a deployment that does not compile is a result
            _fail(m, "compile", err)
            continue
        m.meta = {**artifact.meta, "compile_s": round(time.perf_counter() - start, 3)}
        m.size_bytes = artifact.size_bytes
        m.artifact_path = str(artifact.path) if artifact.path else None
        artifacts[dep.name] = artifact
        recipe = profile.deploy is not None and (
            profile.deploy.backend,
            profile.deploy.precision,
        ) == (dep.backend, dep.precision)
        if recipe:
            m.meta["recipe"] = profile.deploy.to_dict()  # type: ignore[union-attr]
        if x_test is not None and y_test is not None:
            stage(f"evaluate {dep.name} for {profile.name}")
            try:
                runner = backend.load(artifact, th)
                m.accuracy = accuracy_of(runner, x_test, y_test)
                runner.close()
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - recorded on the measurement
                _fail(m, "evaluate", err)
                continue
            m.meta["accuracy_note"] = (
                f"accuracy of this artifact, run on this host ({info.cpu_model}) with "
                f"{dep.backend} {_backend_version(dep.backend)} on the test split; the device "
                "runs the same file"
            )
        stage(f"predict {dep.name} on {profile.name}")
        try:
            ops = ops_from_spec(spec) if spec is not None else ops_from_onnx(source.onnx_path())
            pred = predict_latency(
                ops, profile, dep.backend, dep.precision, calibration=calibration
            )
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - recorded on the measurement
            _fail(m, "predict", err)
            continue
        m.latency = predicted_latency_stats(pred.latency_ms, pred.trust)
        slowest = sorted(pred.layers, key=lambda layer: -layer["ms"])[:5]
        m.meta["prediction"] = {
            **pred.to_dict(),
            "slowest_layers": slowest,
            "cost_from": "ArchSpec" if spec is not None else "ONNX graph",
        }
        m.meta["trust"] = pred.trust
        if spec is not None:
            fp = estimate_footprint(spec, profile, dep.precision)
            m.peak_memory_bytes = fp.peak_ram_bytes
            m.memory_note = "predicted: " + fp.notes["peak_ram_bytes"]
            m.meta["footprint"] = fp.to_dict()
        else:
            m.memory_note = "not estimated: the footprint estimate needs an ArchSpec"
        m.receipt = {
            "predicted_at": now_iso(),
            "latency_source": "predicted",
            "latency_method": PREDICTION_METHOD,
            "predictor_basis": pred.params.basis,
            "profile_file": profile.path,
            "profile_sources": profile.sources(),
            "backend": dep.backend,
            "backend_version": _backend_version(dep.backend),
            "precision": dep.precision,
            "threads": {"device": profile.threads, "accuracy_evaluation_here": th.to_dict()},
            "input_shape": [1, *source.input_shape],
            "accuracy_evaluated_on": {
                "cpu_model": info.cpu_model,
                "isa": info.isa_summary,
                "versions": info.versions,
            },
            "int8_isa_flags": list(ctx.isa_flags),
            "accuracy_split": "test",
        }
    return measurements, artifacts
