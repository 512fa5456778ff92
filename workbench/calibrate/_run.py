"""Calibrating the latency predictor on a measured profile: timing a population on this host.

``calibrate_profile`` times a seeded population of realistic architectures (40 by default:
:data:`DEFAULT_CALIBRATION_MODELS`) on this host, deployment by deployment. For ONNX Runtime it
also runs every model under the runtime's profiler and fits the kernel-level model to the
per-kernel times (:mod:`workbench.calibrate._kernels`: per unit kind, non-negative physical
terms fitted in log space), with the runtime's per-call and per-kernel time fitted to the
end-to-end timings. The roofline's efficiency factors and overheads are fitted to the end-to-end
timings as well (:mod:`workbench.calibrate._fit`): they cost what the kernel level does not
cover, and everything for a runtime without a profiler. The result is a calibration file
(:mod:`workbench.calibrate._store`); its path is reported.

Populations are exported with the TorchScript ONNX exporter by default (several times faster
to export than ``torch.export``); after ONNX Runtime's graph optimisations both exporters'
graphs run the same kernels, and side-by-side timings of the two agree.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench._errors import ConfigError
from workbench._host import host_info
from workbench.arch import ArchSpec, build_torch
from workbench.backends import (
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
    get_backend,
)
from workbench.bench import StableTiming, clock_for, noise_floor, time_rounds
from workbench.calibrate._accuracy import accuracy_figures
from workbench.calibrate._fit import fit_params
from workbench.calibrate._kernels import (
    KernelNode,
    KernelProfile,
    activations_apart,
    attribute_nodes,
    fit_kernel_model,
)
from workbench.calibrate._ort_profiler import ProfiledRuns
from workbench.calibrate._population import calibration_population
from workbench.calibrate._store import merge_and_save, runtime_version
from workbench.hw import (
    Calibration,
    CalibrationEntry,
    HardwareProfile,
    PredictorParams,
    default_params,
    load_profile,
    ops_from_spec,
    predict_ops,
)
from workbench.hw._predict import kernel_units, split_activations

__all__ = ["DEFAULT_CALIBRATION_MODELS", "CalibrationReport", "calibrate_profile"]

#: calibration architectures by default, for about twice the calibration time of twenty, once per
#: machine: on a quiet machine twenty predict as well (97% of 30 held-out models within ±10% with
#: either, int8 and fp32, ``benchmarks/bench_predictor.py --part interleaved``), forty are the
#: margin for one whose timings are noisier
DEFAULT_CALIBRATION_MODELS = 40


def now() -> str:
    """The time now, UTC, to the second (ISO 8601): when a fit or a validation was made."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Compiled:
    """One population model compiled for one deployment, ready to time."""

    spec: ArchSpec
    deployment: str
    fn: Callable[[], object]
    path: Path | None = None  # the deployed file (ONNX for ONNX Runtime), for kernel profiling


def compile_population(
    specs: Sequence[ArchSpec],
    deployments: Sequence[Deployment | str],
    threads: Threads,
    workdir: Path,
    *,
    exporter: str,
    on_progress: Callable[[str], None],
) -> tuple[dict[str, Compiled], list[Runner]]:
    """Export, quantize and load every spec for every deployment (untrained weights: latency does
    not depend on them; static int8 is calibrated on random inputs for the same reason)."""
    rng = np.random.default_rng(0)
    compiled: dict[str, Compiled] = {}
    runners = []
    for i, spec in enumerate(specs):
        on_progress(f"compile {i + 1}/{len(specs)}: {spec.name}")
        model = build_torch(spec, seed=i)
        source = ModelSource(
            "torch",
            model,
            spec.input_shape,
            workdir / f"m{i}",
            name="model",
            onnx_exporter=exporter,
        )
        calib = [rng.standard_normal((1, *spec.input_shape)).astype(np.float32) for _ in range(4)]
        ctx = CompileContext(calibration=calib, threads=threads, isa_flags=host_info().isa_flags)
        x = rng.standard_normal((1, *spec.input_shape)).astype(np.float32)
        for dep in deployments:
            d = Deployment.parse(dep)
            backend = get_backend(d.backend)
            artifact = backend.compile(source, d, ctx)
            runner = backend.load(artifact, threads)
            runners.append(runner)
            compiled[f"{spec.hash}|{d.name}"] = Compiled(
                spec, d.name, functools.partial(runner, x), artifact.path
            )
    return compiled, runners


def time_population(
    compiled: Mapping[str, Compiled],
    threads: Threads,
    *,
    max_time_s: float,
    target_rel_ci: float,
    on_progress: Callable[[str], None],
    profile: Sequence[str] = (),
) -> tuple[dict[str, StableTiming], dict[str, KernelProfile]]:
    """Stable medians of every model of ``compiled``, and the kernel profiles of those of
    ``profile`` that run on ONNX Runtime (others are left out), taken in the same rounds: each
    profiled model runs under the profiler right after its timed calls, so its kernel times and
    its end-to-end median see the machine at the same speed."""
    wanted = set(profile)
    companions = {
        k: ProfiledRuns(c.path, c.spec.input_shape, threads=threads.intra_op)
        for k, c in compiled.items()
        if k in wanted
        and c.deployment.startswith("onnxruntime-")
        and c.path is not None
        and str(c.path).endswith(".onnx")
    }
    what = "timing and kernel profiles" if companions else "timing"
    try:
        timings = time_rounds(
            {k: c.fn for k, c in compiled.items()},
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            clock=clock_for(threads.intra_op, threads.inter_op),
            companions=companions,
            on_round=lambda r, u: on_progress(
                f"{what}: round {r}, {u} of {len(compiled)} medians not yet stable"
            ),
        )
        kernels = {}
        for k, comp in companions.items():
            t = comp.trace()
            nodes = [
                KernelNode(n, op, us)
                for n, op, us in zip(t.names, t.op_types, t.median_us, strict=True)
            ]
            kernels[k] = KernelProfile(nodes, timings[k].p50_ms)
    finally:
        for comp in companions.values():
            comp.close()
    return timings, kernels


def _fit_kernels(
    params: PredictorParams, models: Sequence[tuple[ArchSpec, KernelProfile, float]], precision: str
) -> tuple[PredictorParams, dict[str, Any]]:
    """``params`` with a kernel-level model fitted to ``(spec, kernel profile, end-to-end ms)``."""
    all_units = [kernel_units(ops_from_spec(spec)) for spec, _prof, _ms in models]
    apart = activations_apart(
        [
            (split_activations(units), prof.nodes)
            for units, (_s, prof, _ms) in zip(all_units, models, strict=True)
        ]
    )
    samples = []
    unnamed = 0
    named_share = []
    for (_spec, prof, ms), whole in zip(models, all_units, strict=True):
        units = split_activations(whole, apart)
        times, info = attribute_nodes(units, prof.nodes)
        unnamed += len(info["unnamed_units"])
        named_share.append(info["named_share"])
        samples.append((units, times, ms, info["nodes"], prof.plain_ms))
    km, report = fit_kernel_model(samples, precision, params.lanes, split_activations=apart)
    report["units"] = sum(len(s[0]) for s in samples)
    report["units_without_a_node"] = unnamed
    report["time_attributed_by_name"] = float(np.mean(named_share)) if named_share else 0.0
    basis = params.basis + "; kernel-level terms fitted to the runtime profiler's per-kernel times"
    return dataclasses.replace(params, kernels=km, basis=basis), report


def clock_note(threads: Threads) -> str:
    """What the clock :func:`workbench.bench.clock_for` picks at ``threads`` measures."""
    if clock_for(threads.intra_op, threads.inter_op) == "thread-cpu":
        return (
            "per-call CPU time of the calling thread (the runtime runs on it alone): the latency "
            "on a core of its own, with time taken by other processes left out; wall-clock "
            "medians are kept beside"
        )
    return (
        "wall-clock per call, calls preempted by another process left out (all calls when nearly "
        "every one was)"
    )


def resolve_deployments(
    profile: HardwareProfile, deployments: Sequence[str] | None
) -> list[Deployment]:
    """``deployments`` parsed and checked against ``profile``; default: its recipe and
    onnxruntime-fp32."""
    if deployments:
        deps = [Deployment.parse(d) for d in deployments]
    else:
        deps = []
        if profile.deploy is not None:
            deps.append(Deployment(profile.deploy.backend, profile.deploy.precision))
        if profile.supports("onnxruntime", "fp32") and all(
            d.name != "onnxruntime-fp32" for d in deps
        ):
            deps.append(Deployment("onnxruntime", "fp32"))
    for d in deps:
        if not profile.supports(d.backend, d.precision):
            raise ConfigError(
                f"profile {profile.name!r} does not support {d.name}; it lists backends "
                f"{', '.join(profile.backends)} and precisions {', '.join(profile.precisions)}"
            )
        get_backend(d.backend).check(d, "torch")
    return deps


def profile_for_measuring(profile: HardwareProfile | str) -> HardwareProfile:
    """``profile`` loaded; a simulated one is refused (there is no device here to time)."""
    prof = load_profile(profile)
    if not prof.measured:
        raise ConfigError(
            f"profile {prof.name!r} is simulated: there is no device here to measure it on; "
            "calibrate a measured profile"
        )
    return prof


@dataclass
class CalibrationReport:
    """What :func:`calibrate_profile` fitted, where it stored it, how long it took."""

    calibration: Calibration
    path: Path
    entries: list[CalibrationEntry]
    seconds: float
    notes: list[str] = field(default_factory=list)


def fit_entry(
    prof: HardwareProfile,
    d: Deployment,
    th: Threads,
    compiled: Mapping[str, Compiled],
    timings: Mapping[str, StableTiming],
    kernels: Mapping[str, KernelProfile],
    *,
    created: str,
    seed: int,
    exporter: str,
) -> CalibrationEntry:
    """The calibration entry of deployment ``d``, fitted on each model of ``compiled`` timed."""
    base = default_params(prof, d.backend, d.precision, th.intra_op)
    keys = [k for k, c in compiled.items() if c.deployment == d.name]
    samples = [(ops_from_spec(compiled[k].spec), timings[k].p50_ms) for k in keys]
    basis = (
        f"fitted on {len(samples)} architectures timed on this host ({created}); nominal peaks: "
        f"{base.basis.split(';')[0]}"
    )
    params, fit = fit_params(samples, base, d.precision, basis=basis)
    fit = {"roofline": fit, "models": fit["models"]}
    if all(k in kernels for k in keys) and base.fuses:
        params, kfit = _fit_kernels(
            params, [(compiled[k].spec, kernels[k], timings[k].p50_ms) for k in keys], d.precision
        )
        fit["kernels"] = kfit
        fit["method"] = (
            "kernel level: per-kernel times of every calibration model from the runtime's "
            "profiler, taken in the same interleaved rounds as the end-to-end timings, attributed "
            "to the predictor's kernel units by node name and brought to the model's end-to-end "
            "time (the profiler's slowdown taken out as the geometric mean of a deduction per "
            "node and one in proportion); per unit kind, non-negative terms fitted in log space "
            "on MACs, output positions and channels, output, input and weight elements, window "
            "reads, residual adds, non-folded activations (an activation the runtime runs as a "
            "kernel of its own fitted apart) and a head's weights read from memory as the model "
            "outgrows the cache, with a ridge-regularised correction over the kernel's shape and "
            "the octave of its reduction length; per-call and per-kernel runtime time and a size "
            "exponent fitted to end-to-end timings; roofline terms (fitted end to end) for unit "
            "kinds the calibration did not exercise"
        )
    else:
        fit["method"] = fit["roofline"]["method"]
    fit["noise_floor"] = noise_floor({k: timings[k] for k in keys})
    fit["seed"] = seed
    fit["exporter"] = exporter
    fit["weights"] = (
        "untrained (latency does not depend on weights); static int8 calibrated on random inputs"
    )
    fit["clock"] = clock_note(th)
    rows: list[dict[str, Any]] = []
    for k in keys:
        c = compiled[k]
        pred = predict_ops(ops_from_spec(c.spec), params, d.precision).latency_ms
        rows.append(
            {
                "name": c.spec.name,
                "hash": c.spec.hash,
                "measured_ms": timings[k].p50_ms,
                "predicted_ms": pred,
                "timing": timings[k].to_dict(),
                "spec": c.spec.to_dict(),
            }
        )
    figs = accuracy_figures([r["predicted_ms"] for r in rows], [r["measured_ms"] for r in rows])
    fit.update(
        within_10pct=figs["within_10pct"],
        median_abs_error=figs["median_abs_error"],
        spearman=figs["spearman"],
    )
    return CalibrationEntry(
        deployment=d.name,
        backend=d.backend,
        precision=d.precision,
        intra_op=th.intra_op,
        inter_op=th.inter_op,
        runtime_version=runtime_version(d.backend),
        params=params,
        fit=fit,
        models=rows,
        created=created,
    )


def calibrate_profile(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    models: int = DEFAULT_CALIBRATION_MODELS,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> CalibrationReport:
    """Fit ``profile``'s predictor terms on this host from ``models`` timed architectures."""
    prof = profile_for_measuring(profile)
    if not 3 <= models <= 200:
        raise ConfigError(f"models: expected an integer in [3, 200], got {models}")
    progress = on_progress or (lambda _s: None)
    deps = resolve_deployments(prof, deployments)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    specs = calibration_population(models, seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-calibrate-") as tmp:
        compiled, runners = compile_population(
            specs, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        timings, kernels = time_population(
            compiled,
            th,
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            on_progress=progress,
            profile=list(compiled),
        )
        for r in runners:
            r.close()
    created = now()
    entries = [
        fit_entry(
            prof, d, th, compiled, timings, kernels, created=created, seed=seed, exporter=exporter
        )
        for d in deps
    ]
    cal, path, notes = merge_and_save(prof, entries)
    return CalibrationReport(cal, path, entries, time.perf_counter() - start, notes)
