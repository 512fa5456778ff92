"""Deploy one model every requested way on a measured profile, and measure each artifact.

Per deployment: compile (export, quantize), load, evaluate the artifact's own accuracy on the
test split. Then every artifact that loaded is timed, interleaved, in this process, with the
profile's threads; then its peak memory is taken in the memory worker. A deployment that fails
at any stage becomes a ``failed`` Measurement with the stage and reason; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from workbench._errors import ConfigError, DeploymentError, WorkbenchError
from workbench.backends import (
    Artifact,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
    get_backend,
)
from workbench.bench._latency import MeasureSettings, measure_interleaved
from workbench.bench._measurement import Measurement, now_iso
from workbench.bench._memory import MEMORY_METHOD, MemoryProbe
from workbench.hw import HardwareProfile, host_info

__all__ = ["accuracy_of", "measure_deployments", "profile_threads"]

LATENCY_METHOD = (
    "wall-clock time.perf_counter per call, batch {batch}, after warm-up; variants interleaved in rounds "
    "in one process with the first call of each block untimed; stopped when the median's 95% CI is within "
    "{ci:.0%} or at the time/repeat cap"
)


def profile_threads(profile: HardwareProfile, override: int | None = None) -> Threads:
    return Threads(intra_op=override or profile.resolved_threads(), inter_op=profile.inter_op_threads)


def accuracy_of(runner: Runner, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy of a loaded artifact on ``(x, y)``."""
    correct = 0
    for i in range(0, len(x), batch):
        logits = np.asarray(runner(x[i : i + batch]))
        correct += int((logits.argmax(axis=1) == y[i : i + batch]).sum())
    return correct / max(1, len(x))


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

    Returns the measurements (one per deployment, in order) and the artifacts that compiled.
    """
    if not profile.measured:
        raise ConfigError(f"profile {profile.name!r} is simulated: its latency is predicted, not measured here")
    s = settings or MeasureSettings()
    th = threads or profile_threads(profile)
    ctx = compile_ctx or CompileContext()
    ctx.threads = th
    if not ctx.isa_flags:
        ctx.isa_flags = host_info().isa_flags
    info = host_info()
    stage = on_stage or (lambda _s: None)
    measurements: list[Measurement] = []
    artifacts: dict[str, Artifact] = {}
    runners: dict[str, Runner] = {}
    for dep in deployments:
        m = Measurement(profile=profile.name, framework=source.framework, backend=dep.backend, precision=dep.precision)
        measurements.append(m)
        try:
            backend = get_backend(dep.backend)
            backend.check(dep, source.framework)
        except WorkbenchError as err:
            _fail(m, "config", err)
            continue
        stage(f"compile {dep.name}")
        start = time.perf_counter()
        try:
            artifact = backend.compile(source, dep, ctx)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - failures are data
            _fail(m, "compile", err)
            continue
        m.meta = {**artifact.meta, "compile_s": round(time.perf_counter() - start, 3)}
        m.size_bytes = artifact.size_bytes
        m.artifact_path = str(artifact.path) if artifact.path else None
        artifacts[dep.name] = artifact
        try:
            runner = backend.load(artifact, th)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001
            _fail(m, "load", err)
            continue
        if x_test is not None and y_test is not None:
            stage(f"evaluate {dep.name}")
            try:
                m.accuracy = accuracy_of(runner, x_test, y_test)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001
                _fail(m, "evaluate", err)
                continue
        runners[dep.name] = runner

    if runners:
        stage("measure latency")
        if x_test is not None and len(x_test) >= s.batch_size:
            x = np.ascontiguousarray(x_test[: s.batch_size])
        else:
            x = source.example_input(batch=s.batch_size)
        fns = {name: (lambda r=r: r(x)) for name, r in runners.items()}
        try:
            stats = measure_interleaved(fns, s)
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - a runner that breaks while timed fails alone
            stats = {}
            for name, fn in fns.items():
                try:
                    stats.update(measure_interleaved({name: fn}, s))
                except Exception as err:  # noqa: BLE001
                    _fail(next(m for m in measurements if m.deployment == name), "measure", err)
        for m in measurements:
            if m.deployment in stats:
                m.latency = stats[m.deployment]
        for r in runners.values():
            r.close()
    if memory is not None:
        stage("measure memory")
        for m in measurements:
            if m.ok and m.deployment in artifacts:
                m.peak_memory_bytes, m.memory_note = memory.measure(artifacts[m.deployment], th, batch=s.batch_size)

    interleaved = [m.deployment for m in measurements if m.latency is not None]
    for m in measurements:
        backend_version = _backend_version(m.backend)
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
            "warmup": s.warmup,
            "repeats": m.latency.n if m.latency else 0,
            "settings": s.to_dict(),
            "interleaved_with": [d for d in interleaved if d != m.deployment],
            "latency_method": LATENCY_METHOD.format(batch=s.batch_size, ci=s.target_rel_ci),
            "memory_method": MEMORY_METHOD,
            "accuracy_split": "test",
        }
    return measurements, artifacts


def _backend_version(name: str) -> str:
    try:
        return get_backend(name).version()
    except Exception:  # noqa: BLE001 - an unknown backend already failed its measurement
        return "unknown"

