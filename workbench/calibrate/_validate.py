"""How far to trust the calibrated predictor: held-out validation on this host.

``validate_profile`` measures, on a held-out population never used for fitting, the share of
predictions within ±10% of measurement, the median absolute error and the rank correlation
(Spearman), as nn-Meter reports them, next to the noise floor of the measurements themselves.
The figures are stored in the calibration file and travel with every prediction made with it.
``interleaved_accuracy`` times calibration and held-out models in one session, so the machine's
drift between sessions stays out of the figures.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench._errors import ConfigError
from workbench.arch import ArchSpec
from workbench.backends import Threads
from workbench.bench import StableTiming, noise_floor
from workbench.calibrate._accuracy import accuracy_figures
from workbench.calibrate._population import calibration_population, heldout_population
from workbench.calibrate._run import (
    DEFAULT_CALIBRATION_MODELS,
    Compiled,
    clock_note,
    compile_population,
    fit_entry,
    now,
    profile_for_measuring,
    resolve_deployments,
    time_population,
)
from workbench.calibrate._store import calibration_status, save_calibration
from workbench.hw import HardwareProfile, PredictorParams, ops_from_spec, predict_ops

__all__ = ["AccuracyReport", "interleaved_accuracy", "validate_profile"]

_ANCHORS = 5  # calibration models re-timed by validate_profile to measure drift since calibration


@dataclass
class AccuracyReport:
    """How far the calibrated predictor can be trusted, per deployment, on held-out models."""

    profile: str
    threads: int
    results: dict[str, dict[str, Any]]  # deployment -> figures
    path: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "threads": self.threads,
            "results": self.results,
            "calibration_file": str(self.path),
            "seconds": self.seconds,
        }


def _prediction_rows(
    compiled: Mapping[str, Compiled],
    keys: Sequence[str],
    timings: Mapping[str, StableTiming],
    params: PredictorParams,
    precision: str,
) -> list[dict[str, Any]]:
    """Predicted beside measured latency of each model of ``keys``."""
    rows = []
    for k in keys:
        c = compiled[k]
        pred = predict_ops(ops_from_spec(c.spec), params, precision).latency_ms
        rows.append(
            {
                "name": c.spec.name,
                "hash": c.spec.hash,
                "family": c.spec.family,
                "measured_ms": timings[k].p50_ms,
                "predicted_ms": pred,
                "error": pred / timings[k].p50_ms - 1.0,
                "timing": timings[k].to_dict(),
            }
        )
    return rows


def _heldout_figures(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], timings: Mapping[str, StableTiming]
) -> dict[str, Any]:
    """nn-Meter's figures of ``rows``, their count, their timings' noise floor and their range."""
    return {
        **accuracy_figures([r["predicted_ms"] for r in rows], [r["measured_ms"] for r in rows]),
        "models": len(rows),
        "noise_floor": noise_floor({k: timings[k] for k in keys}),
        "latency_range_ms": [
            min(r["measured_ms"] for r in rows),
            max(r["measured_ms"] for r in rows),
        ],
    }


def interleaved_accuracy(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    calibration: int = DEFAULT_CALIBRATION_MODELS,
    heldout: int = 30,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The predictor's accuracy with the machine's drift between sessions kept out of it.

    :func:`calibrate_profile` and :func:`validate_profile` time in two sessions, and a shared
    machine can run some percent faster or slower in the second: their figures hold that drift
    and the predictor's error together. Here the calibration and held-out models are timed
    interleaved in one session; the fit is made exactly as :func:`calibrate_profile` makes it, on
    the calibration models only (the held-out ones are neither profiled nor fitted), and then
    predicts the held-out ones. Nothing is stored. Returns per deployment the held-out figures
    (as :func:`accuracy_figures`), their noise floor, the in-sample figures and the rows.
    """
    prof = profile_for_measuring(profile)
    if not 3 <= calibration <= 200 or not 3 <= heldout <= 500:
        raise ConfigError(
            f"calibration and heldout: expected 3-200 and 3-500 models, got {calibration} and "
            f"{heldout}"
        )
    progress = on_progress or (lambda _s: None)
    deps = resolve_deployments(prof, deployments)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    cal = calibration_population(calibration, seed=seed)
    held = heldout_population(heldout, seed=seed, calibration=cal)
    fitted = {s.hash for s in cal}
    with tempfile.TemporaryDirectory(prefix="wb-accuracy-") as tmp:
        compiled, runners = compile_population(
            cal + held, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        cal_compiled = {k: c for k, c in compiled.items() if c.spec.hash in fitted}
        timings, kernels = time_population(
            compiled,
            th,
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            on_progress=progress,
            profile=list(cal_compiled),
        )
        for r in runners:
            r.close()
    created = now()
    out: dict[str, dict[str, Any]] = {}
    for d in deps:
        e = fit_entry(
            prof,
            d,
            th,
            cal_compiled,
            timings,
            kernels,
            created=created,
            seed=seed,
            exporter=exporter,
        )
        keys = [
            k for k, c in compiled.items() if c.deployment == d.name and c.spec.hash not in fitted
        ]
        rows = _prediction_rows(compiled, keys, timings, e.params, d.precision)
        out[d.name] = {
            **_heldout_figures(rows, keys, timings),
            "calibration_models": len(e.models),
            "in_sample": {k: e.fit[k] for k in ("within_10pct", "median_abs_error", "spearman")},
            "threads": th.intra_op,
            "method": (
                "calibration and held-out models timed interleaved in one session; fitted on the "
                "calibration models only"
            ),
            "rows": rows,
        }
    return out


def validate_profile(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    models: int = 30,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> AccuracyReport:
    """Measure the calibrated predictor on ``models`` held-out architectures; store the figures."""
    prof = profile_for_measuring(profile)
    if not 3 <= models <= 500:
        raise ConfigError(f"models: expected an integer in [3, 500], got {models}")
    progress = on_progress or (lambda _s: None)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    cal, note = calibration_status(prof)
    deps = resolve_deployments(prof, deployments)
    entries = []
    for d in deps:
        e = cal.entry(d.backend, d.precision, th.intra_op, th.inter_op) if cal else None
        if e is None:
            raise ConfigError(
                f"{prof.name} has no calibration of {d.name} at {th.intra_op} thread(s) on this "
                f"host ({note}); run: workbench profiles calibrate {prof.name}"
                + (f" --threads {th.intra_op}" if threads else "")
            )
        entries.append(e)
    assert cal is not None
    used = {
        m["hash"] for e in entries for m in e.models
    }  # never validate on a model the fit has seen
    specs = heldout_population(models, seed=seed, exclude=used)
    # a few calibration models are timed again beside the held-out ones: how much faster or slower
    # the machine is now than when it was calibrated (load on a shared machine drifts)
    anchor_rows = [m for m in entries[0].models if m.get("spec")][
        :: max(1, len(entries[0].models) // _ANCHORS)
    ][:_ANCHORS]
    anchors = [ArchSpec.from_dict(m["spec"]) for m in anchor_rows]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-validate-") as tmp:
        compiled, runners = compile_population(
            specs, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        anchor_compiled, anchor_runners = compile_population(
            anchors,
            [entries[0].deployment],
            th,
            Path(tmp) / "anchors",
            exporter=exporter,
            on_progress=progress,
        )
        everything = {**compiled, **{f"anchor|{k}": v for k, v in anchor_compiled.items()}}
        timings, _ = time_population(
            everything, th, max_time_s=max_time_s, target_rel_ci=target_rel_ci, on_progress=progress
        )
        for r in runners + anchor_runners:
            r.close()
    then = {m["hash"]: m["measured_ms"] for m in anchor_rows}
    ratios = [
        timings[f"anchor|{k}"].p50_ms / then[c.spec.hash]
        for k, c in anchor_compiled.items()
        if c.spec.hash in then
    ]
    ratio = float(np.median(ratios)) if ratios else math.nan
    drift = {
        "models": len(ratios),
        "deployment": entries[0].deployment,
        "median_ratio_now_to_calibration": ratio,
        "about": (
            "calibration models timed again in this run: latency now / latency when calibrated "
            "(1.0 = no drift)"
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    measured_at = now()
    for d, e in zip(deps, entries, strict=True):
        keys = [k for k, c in compiled.items() if c.deployment == d.name]
        rows = _prediction_rows(compiled, keys, timings, e.params, d.precision)
        adjusted = (
            accuracy_figures(
                [r["predicted_ms"] * ratio for r in rows], [r["measured_ms"] for r in rows]
            )
            if math.isfinite(ratio)
            else None
        )
        e.accuracy = {
            **_heldout_figures(rows, keys, timings),
            # the same predictions scaled by the drift the anchors measured: what is left of the
            # error
            # when the machine's change of speed since calibration is taken out (a separate figure,
            # never the headline one)
            "drift_adjusted": adjusted,
            "calibration_id": e.id,
            "measured_at": measured_at,
            "seed": seed,
            "threads": th.intra_op,
            "drift_since_calibration": drift,
            "clock": clock_note(th),
            "method": (
                "held-out architectures (disjoint from the calibration set) timed interleaved in "
                "rounds until each median's 95% CI is within the target or the time cap; noise "
                "floor = disagreement of the first- and second-half medians of the same run"
            ),
            "rows": rows,
        }
        results[d.name] = {k: v for k, v in e.accuracy.items() if k != "rows"} | {"rows": rows}
    path = save_calibration(cal)
    return AccuracyReport(prof.name, th.intra_op, results, path, time.perf_counter() - start)
