"""Deploy one model every requested way on a measured profile, and measure each artifact.

Per deployment: compile (export, quantize), load, evaluate the artifact's own accuracy on the
test split. Then every artifact that loaded is timed, interleaved, in this process, with the
profile's threads; then its peak memory is taken in the memory worker. A deployment that fails
at any stage becomes a ``failed`` Measurement with the stage and reason; the others go on.

Several models of the same spec (a PyTorch and a Keras build) can be deployed in one run with
:func:`measure_jobs`: all their artifacts are then timed interleaved together, so ratios across
frameworks are measured side by side. Data (channels-first images) is fed to each model in its
own layout (:meth:`ModelSource.feed`): calibration, validation and test batches alike.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench._errors import ConfigError, DeploymentError, WorkbenchError
from workbench.backends import (
    Artifact,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
    accuracy_of,
    get_backend,
)
from workbench.bench._latency import MeasureSettings, measure_interleaved
from workbench.bench._measurement import Measurement, MeasurementKey, now_iso
from workbench.bench._memory import MEMORY_METHOD, MemoryProbe
from workbench.hw import HardwareProfile, host_info

__all__ = ["DeployJob", "measure_deployments", "measure_jobs", "profile_threads"]

LATENCY_METHOD = (
    "wall-clock time.perf_counter per call, batch {batch}, after warm-up; variants interleaved in "
    "rounds in one process with the first call of each block untimed; stopped when the median's "
    "95% CI is within {ci:.0%} or at the time/repeat cap"
)


def profile_threads(profile: HardwareProfile, override: int | None = None) -> Threads:
    return Threads(
        intra_op=override or profile.resolved_threads(), inter_op=profile.inter_op_threads
    )


def _fail(m: Measurement, stage: str, err: BaseException) -> Measurement:
    m.status = "failed"
    m.stage = stage
    if isinstance(err, DeploymentError):
        m.stage = err.stage
        m.error = str(err)
    else:
        text = str(err).strip().splitlines()
        m.error = f"{type(err).__name__}: {text[0][:400] if text else ''}"
    return m


@dataclass
class DeployJob:
    """One model to deploy: its source, the deployments it gets, and what compiling may use."""

    source: ModelSource
    deployments: Sequence[Deployment]
    compile_ctx: CompileContext | None = None


def measure_deployments(
    source: ModelSource,
    deployments: Sequence[Deployment],
    profile: HardwareProfile,
    *,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    compile_ctx: CompileContext | None = None,
    settings: MeasureSettings | None = None,
    memory: MemoryProbe | None = None,
    threads: Threads | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[list[Measurement], dict[str, Artifact]]:
    """Compile, evaluate and time ``source`` for each deployment on a measured ``profile``.

    Returns the measurements (one per deployment, in order) and the artifacts that compiled,
    by deployment name.
    """
    ms, artifacts = measure_jobs(
        [DeployJob(source, deployments, compile_ctx)],
        profile,
        x_test=x_test,
        y_test=y_test,
        settings=settings,
        memory=memory,
        threads=threads,
        on_stage=on_stage,
    )
    # artifacts are keyed "framework/deployment"; callers key them by deployment
    return ms, {MeasurementKey.parse_variant(key)[1]: art for key, art in artifacts.items()}


def _fed_context(ctx: CompileContext, source: ModelSource) -> CompileContext:
    """The compile context with its calibration and validation data in the model's layout."""
    if source.layout == "channels_first":
        return ctx
    return dataclasses.replace(
        ctx,
        calibration=[source.feed(b) for b in ctx.calibration],
        x_val=source.feed(ctx.x_val) if ctx.x_val is not None else None,
    )


def measure_jobs(
    jobs: Sequence[DeployJob],
    profile: HardwareProfile,
    *,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    settings: MeasureSettings | None = None,
    memory: MemoryProbe | None = None,
    threads: Threads | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[list[Measurement], dict[str, Artifact]]:
    """:func:`measure_deployments` for several models (one per framework), timed together.

    Returns the measurements in job and deployment order, and the artifacts that compiled by
    ``framework/deployment``.
    """
    if not profile.measured:
        raise ConfigError(
            f"profile {profile.name!r} is simulated: its latency is predicted, not measured here"
        )
    frameworks = [j.source.framework for j in jobs]
    if len(set(frameworks)) != len(frameworks):
        raise ConfigError(f"one model per framework in a run, got frameworks {frameworks}")
    s = settings or MeasureSettings()
    th = threads or profile_threads(profile)
    info = host_info()
    stage = on_stage or (lambda _s: None)
    multi = len(jobs) > 1
    measurements: list[Measurement] = []
    artifacts: dict[str, Artifact] = {}
    runners: dict[str, Runner] = {}  # by measurement label
    inputs: dict[str, np.ndarray] = {}  # the timed batch, per framework
    label_of: dict[int, str] = {}
    source_of: dict[int, ModelSource] = {}
    for job in jobs:
        source = job.source
        fw = source.framework
        ctx = job.compile_ctx or CompileContext()
        ctx.threads = th
        if not ctx.isa_flags:
            ctx.isa_flags = info.isa_flags
        fed_ctx = _fed_context(ctx, source)
        x_fed = source.feed(x_test) if x_test is not None else None
        if x_fed is not None and len(x_fed) >= s.batch_size:
            inputs[fw] = np.ascontiguousarray(x_fed[: s.batch_size])
        else:
            inputs[fw] = source.example_input(batch=s.batch_size)
        for dep in job.deployments:
            m = Measurement(
                profile=profile.name, framework=fw, backend=dep.backend, precision=dep.precision
            )
            label = f"{fw}/{dep.name}" if multi else dep.name
            measurements.append(m)
            label_of[id(m)] = label
            source_of[id(m)] = source
            try:
                backend = get_backend(dep.backend)
                backend.check(dep, fw)
            except WorkbenchError as err:
                _fail(m, "config", err)
                continue
            stage(f"compile {label}")
            start = time.perf_counter()
            try:
                artifact = backend.compile(source, dep, fed_ctx)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - failures are data
                _fail(m, "compile", err)
                continue
            m.meta = {**artifact.meta, "compile_s": round(time.perf_counter() - start, 3)}
            m.size_bytes = artifact.size_bytes
            m.artifact_path = str(artifact.path) if artifact.path else None
            artifacts[f"{fw}/{dep.name}"] = artifact
            try:
                runner = backend.load(artifact, th)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001
                _fail(m, "load", err)
                continue
            m.meta.update(getattr(runner, "meta", None) or {})
            if x_fed is not None and y_test is not None:
                stage(f"evaluate {label}")
                try:
                    m.accuracy = accuracy_of(runner, x_fed, y_test)
                except KeyboardInterrupt:
                    raise
                except Exception as err:  # noqa: BLE001
                    _fail(m, "evaluate", err)
                    runner.close()
                    continue
            runners[label] = runner

    if runners:
        stage("measure latency")
        by_label = {label_of[id(m)]: m for m in measurements}
        fns = {label: _bound(r, inputs[by_label[label].framework]) for label, r in runners.items()}
        try:
            stats = measure_interleaved(fns, s)
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - a runner that breaks while timed fails alone
            stats = {}
            for label, fn in fns.items():
                try:
                    stats.update(measure_interleaved({label: fn}, s))
                except Exception as err:  # noqa: BLE001
                    _fail(by_label[label], "measure", err)
        for m in measurements:
            if label_of[id(m)] in stats:
                m.latency = stats[label_of[id(m)]]
        for r in runners.values():
            r.close()
    if memory is not None:
        stage("measure memory")
        for m in measurements:
            art = artifacts.get(f"{m.framework}/{m.deployment}")
            if m.ok and art is not None:
                m.peak_memory_bytes, m.memory_note = memory.measure(art, th, batch=s.batch_size)

    interleaved = [label_of[id(m)] for m in measurements if m.latency is not None]
    for m in measurements:
        backend_version = _backend_version(m.backend)
        source = source_of[id(m)]
        footprint = _footprint(m.backend, m.framework)
        if footprint is not None:
            m.meta["runtime_footprint"] = footprint
        m.receipt = {
            "measured_at": now_iso(),
            "host": {
                "cpu_model": info.cpu_model,
                "machine": info.machine,
                "isa": info.isa_summary,
                "isa_flags": list(info.isa_flags),
                "physical_cores": info.physical_cores,
                "available_cpus": info.available_cpus,
                "os": info.os,
                "python": info.python,
            },
            "versions": info.versions,
            "backend": m.backend,
            "backend_version": backend_version,
            "precision": m.precision,
            "threads": th.to_dict(),
            "input_shape": [s.batch_size, *source.input_shape],
            "input_layout": source.input_layout,
            "warmup": s.warmup,
            "repeats": m.latency.n if m.latency else 0,
            "settings": s.to_dict(),
            "interleaved_with": [d for d in interleaved if d != label_of[id(m)]],
            "latency_method": LATENCY_METHOD.format(batch=s.batch_size, ci=s.target_rel_ci),
            "memory_method": MEMORY_METHOD,
            "accuracy_split": "test",
        }
        if m.meta.get("framework_threads"):
            m.receipt["framework_threads"] = m.meta["framework_threads"]
    return measurements, artifacts


def _bound(runner: Runner, x: np.ndarray) -> Callable[[], object]:
    """``runner`` called on ``x``, as the zero-argument callable the latency loop times."""
    return lambda: runner(x)


def _footprint(backend: str, framework: str) -> dict[str, Any] | None:
    try:
        from workbench.backends._footprint import runtime_footprint

        return runtime_footprint(get_backend(backend), framework)
    except Exception:  # noqa: BLE001 - an unknown backend already failed its measurement
        return None


def _backend_version(name: str) -> str:
    try:
        return get_backend(name).version()
    except Exception:  # noqa: BLE001 - an unknown backend already failed its measurement
        return "unknown"
