"""Feasibility of a candidate on each budgeted profile: before training, and after measuring.

Before training (the weights do not matter for latency, memory or size): a simulated profile's
figures are predicted from the ArchSpec; a measured profile's are measured by deploying the
untrained model with the profile's recipe (export, quantize, time, and peak memory when a
memory budget asks for it). After training, the trial's own measurements of the recipe are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.arch import ArchSpec
from workbench.backends import CompileContext, Deployment
from workbench.bench import Measurement, MeasureSettings, MemoryProbe, measure_deployments
from workbench.hw import HardwareProfile
from workbench.study._constraints import (
    Budget,
    ConstraintValue,
    TargetFigures,
    evaluate_constraints,
)
from workbench.study._targets import model_source

if TYPE_CHECKING:
    from workbench.hw import LatencyPrediction

__all__ = [
    "final_figures",
    "footprint_figures",
    "predict_recipe_latency",
    "prefilter_figures",
    "recipe_of",
]


def recipe_of(profile: HardwareProfile, deployments: Sequence[Deployment]) -> Deployment:
    """The deployment budgets apply to: the profile's recipe (else its first deployment)."""
    if profile.deploy is not None:
        return Deployment(profile.deploy.backend, profile.deploy.precision)
    return deployments[0]


def predict_recipe_latency(
    spec: ArchSpec, profile: HardwareProfile, backend: str | None, precision: str | None
) -> LatencyPrediction:
    """The latency a study predicts for ``spec`` on ``profile`` with ``backend``/``precision``
    (default: the profile's recipe), with the profile's calibration for this host if any."""
    from workbench.calibrate import find_calibration
    from workbench.hw._predict import predict_latency

    return predict_latency(spec, profile, backend, precision, calibration=find_calibration(profile))


def footprint_figures(
    spec: ArchSpec, profile: HardwareProfile, precision: str, fig: TargetFigures
) -> None:
    """Fill what ``fig`` lacks (and a microcontroller's arena and flash) from the footprint
    estimate of ``spec``; each figure filled says in ``fig.notes`` that it is predicted."""
    from workbench.hw._footprint import estimate_footprint

    fp = estimate_footprint(spec, profile, precision)
    if profile.device == "mcu":
        fig.arena_bytes = fp.arena["total"] if fp.arena else None
        fig.notes["arena_bytes"] = "predicted: " + fp.notes.get("arena", "")
        if (
            fig.size_bytes is not None and fp.flash_bytes is not None
        ):  # the real file plus the runtime's code
            fig.flash_bytes = fig.size_bytes + (fp.flash_bytes - fp.model_file_bytes)
            fig.notes["flash_bytes"] = "model file (measured size) + runtime code (estimate)"
        else:
            fig.flash_bytes = fp.flash_bytes
            fig.notes["flash_bytes"] = "predicted: " + fp.notes.get("flash_bytes", "")
    if fig.memory_bytes is None:
        fig.memory_bytes = fp.peak_ram_bytes
        fig.notes["memory_bytes"] = "predicted: " + fp.notes["peak_ram_bytes"]
    if fig.size_bytes is None:
        fig.size_bytes = fp.model_file_bytes
        fig.notes["size_bytes"] = "predicted: " + fp.notes["model_file_bytes"]


def prefilter_figures(
    spec: ArchSpec,
    profile: HardwareProfile,
    deployment: Deployment,
    *,
    budget: Budget | None,
    build: Callable[[], object],
    workdir: Path,
    calibration: list[np.ndarray],
    settings: MeasureSettings,
    memory: MemoryProbe | None,
    framework: str = "torch",
    onnx_exporter: str = "dynamo",
    on_stage: Callable[[str], None] | None = None,
) -> TargetFigures:
    """The candidate's figures on ``profile`` before training (see the module docstring).

    ``build`` returns the untrained ``framework`` model (only called for measured profiles).
    """
    fig = TargetFigures(
        profile.name, deployment.name, "predicted" if not profile.measured else "measured"
    )
    if not profile.measured:
        pred = predict_recipe_latency(spec, profile, deployment.backend, deployment.precision)
        fig.latency_ms = pred.latency_ms
        fig.notes["latency_ms"] = "predicted: " + pred.params.basis
        if budget is not None and (budget.size_bytes is not None or budget.flash_bytes is not None):
            size = _recipe_file_size(
                spec, profile, deployment, build, framework, workdir, calibration, onnx_exporter
            )
            if size is not None:
                fig.size_bytes = float(size)
                fig.notes["size_bytes"] = (
                    "the untrained model's recipe file, built here (weights do not change its size)"
                )
        footprint_figures(spec, profile, deployment.precision, fig)
        return fig
    source = model_source(
        framework, build(), spec, workdir, name="untrained", onnx_exporter=onnx_exporter
    )
    wants_memory = budget is not None and budget.memory_bytes is not None
    ms, _ = measure_deployments(
        source,
        [deployment],
        profile,
        compile_ctx=CompileContext(calibration=calibration),
        settings=settings,
        memory=memory if wants_memory else None,
        on_stage=on_stage,
    )
    m = ms[0]
    if not m.ok:
        fig.notes["error"] = f"{m.stage}: {m.error}"
        return fig
    fig.latency_ms = m.latency.p50_ms if m.latency else None
    fig.size_bytes = float(m.size_bytes) if m.size_bytes is not None else None
    fig.memory_bytes = float(m.peak_memory_bytes) if m.peak_memory_bytes is not None else None
    fig.notes["latency_ms"] = (
        f"measured on the untrained model: p50 of {m.latency.n if m.latency else 0} calls "
        "(weights do not change latency)"
    )
    if profile.device == "mcu":
        footprint_figures(spec, profile, deployment.precision, fig)
    return fig


def _recipe_file_size(
    spec: ArchSpec,
    profile: HardwareProfile,
    deployment: Deployment,
    build: Callable[[], object],
    framework: str,
    workdir: Path,
    calibration: list[np.ndarray],
    onnx_exporter: str,
) -> int | None:
    """Bytes of the recipe's file for the untrained model, when its backend is installed here."""
    from workbench.backends import Threads, backend_names, get_backend
    from workbench.hw import host_info

    if deployment.backend not in backend_names():
        return None
    backend = get_backend(deployment.backend)
    if not backend.available():
        return None
    source = model_source(
        framework, build(), spec, workdir, name="untrained", onnx_exporter=onnx_exporter
    )
    ctx = CompileContext(
        calibration=[source.feed(b) for b in calibration[:16]],
        threads=Threads(1, 1),
        isa_flags=tuple(profile.isa_flags) or host_info().isa_flags,
    )
    try:
        return backend.compile(source, deployment, ctx).size_bytes
    except Exception:  # noqa: BLE001 - the estimate stands in, and says so
        return None


def final_figures(
    spec: ArchSpec | None,
    profile: HardwareProfile,
    deployment: Deployment,
    measurements: Sequence[Measurement],
) -> TargetFigures:
    """The trained candidate's figures on ``profile``, from its measurement of ``deployment``."""
    m = next(
        (x for x in measurements if x.profile == profile.name and x.deployment == deployment.name),
        None,
    )
    fig = TargetFigures(profile.name, deployment.name, m.source if m else "measured", stage="final")
    if m is None or not m.ok:
        fig.notes["error"] = f"{m.stage}: {m.error}" if m else "not measured"
        return fig
    fig.latency_ms = m.latency.p50_ms if m.latency else None
    fig.size_bytes = float(m.size_bytes) if m.size_bytes is not None else None
    fig.memory_bytes = float(m.peak_memory_bytes) if m.peak_memory_bytes is not None else None
    if spec is not None and profile.device == "mcu":
        footprint_figures(spec, profile, deployment.precision, fig)
    return fig


def check(figures: TargetFigures, budget: Budget) -> tuple[list[ConstraintValue], list[str]]:
    """Constraint values and the reasons of those violated."""
    values = evaluate_constraints(figures, budget)
    return values, [v.reason() for v in values if not v.ok]
