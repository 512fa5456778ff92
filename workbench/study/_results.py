"""Read a study back from its Optuna storage: trials, measurements, Pareto fronts per deployment.

Everything is rebuilt from what the storage holds (trial user attributes), so a study opened
in another process, by the widgets, the server or plain Optuna, shows the same figures.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.bench import Measurement, MeasurementKey
from workbench.study._metrics import get_metric
from workbench.study._pareto import hypervolume, knee_point, non_dominated, reference_point

__all__ = ["Front", "StudyResults", "TrialRecord", "load_results"]

MEASURE_PREFIX = "measure:"


@dataclass
class TrialRecord:
    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    duration_s: float | None

    @property
    def spec(self) -> dict[str, Any] | None:
        return self.user_attrs.get("spec")

    @property
    def failure(self) -> dict[str, Any] | None:
        return self.user_attrs.get("failure")

    @property
    def rejected(self) -> dict[str, Any] | None:
        """Why the candidate was rejected before training (a budget broken), or None."""
        return self.user_attrs.get("rejected")

    @property
    def feasible(self) -> bool:
        """False when any budget of the study is broken (before or after training)."""
        return self.user_attrs.get("feasible", True) is not False

    def feasible_on(self, profile: str) -> bool:
        """True unless one of ``profile``'s budgets is broken by this trial."""
        if self.rejected is not None:
            return False
        cons = self.user_attrs.get("constraints") or {}
        return all(
            float(v.get("violation", 0.0)) <= 0.0
            for k, v in cons.items()
            if k.split(":", 1)[0] == profile
        )

    def measurements(self) -> list[Measurement]:
        return [
            Measurement.from_dict(v)
            for k, v in sorted(self.user_attrs.items())
            if k.startswith(MEASURE_PREFIX)
        ]


@dataclass
class Front:
    """The non-dominated points of one deployment (or of the study's objectives)."""

    key: str
    x: str
    y: str
    trials: list[int]  # trial numbers on the front, sorted by x
    points: list[tuple[float, float]]
    hypervolume: float
    reference: tuple[float, float]
    knee: int | None  # trial number of the knee point

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "x": self.x,
            "y": self.y,
            "trials": self.trials,
            "points": [list(p) for p in self.points],
            "hypervolume": self.hypervolume,
            "reference": list(self.reference),
            "knee_trial": self.knee,
        }


@dataclass
class StudyResults:
    study_name: str
    directions: list[str]
    metric_names: list[str]
    trials: list[TrialRecord]
    study_attrs: dict[str, Any] = field(default_factory=dict)

    # -- tables -----------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One row per (trial, measurement); trials without measurements get one row."""
        out = []
        for t in self.trials:
            base = {
                "trial": t.number,
                "state": t.state,
                "arch": t.user_attrs.get("arch", ""),
                "arch_hash": t.user_attrs.get("arch_hash", ""),
                "params": t.user_attrs.get("params"),
                "macs": t.user_attrs.get("macs"),
                "float_accuracy": t.user_attrs.get("float_accuracy"),
                "objective_deployment": t.user_attrs.get("objective_deployment"),
                "trial_failure": (t.failure or {}).get("reason"),
                "rejected": "; ".join((t.rejected or {}).get("reasons", [])) or None,
                "feasible": t.feasible,
            }
            ms = t.measurements()
            if not ms:
                out.append({**base, "key": None})
                continue
            per_framework = t.user_attrs.get("frameworks") or {}
            for m in ms:
                lat = m.latency
                # each artifact is compared with the float model of its own framework
                float_acc = (per_framework.get(m.framework) or {}).get(
                    "float_accuracy", base["float_accuracy"]
                )
                out.append(
                    {
                        **base,
                        "float_accuracy": float_acc,
                        "key": m.key,
                        "profile": m.profile,
                        "framework": m.framework,
                        "deployment": m.deployment,
                        "backend": m.backend,
                        "precision": m.precision,
                        "source": m.source,
                        "status": m.status,
                        "accuracy": m.accuracy,
                        "accuracy_drop": (float_acc - m.accuracy)
                        if (m.accuracy is not None and float_acc is not None)
                        else None,
                        "latency_p50_ms": lat.p50_ms if lat else None,
                        "latency_p90_ms": lat.p90_ms if lat else None,
                        "latency_p99_ms": lat.p99_ms if lat else None,
                        "latency_mean_ms": lat.mean_ms if lat else None,
                        "latency_std_ms": lat.std_ms if lat else None,
                        "latency_cv": lat.cv if lat else None,
                        "latency_n": lat.n if lat else None,
                        "size_bytes": m.size_bytes,
                        "peak_memory_bytes": m.peak_memory_bytes,
                        "int8_scheme": (m.meta.get("int8_scheme") or {}).get("label"),
                        "feasible_on_profile": t.feasible_on(m.profile),
                        "trust": _trust_text(m) if m.source == "predicted" else None,
                        "error": m.error,
                        "stage": m.stage,
                    }
                )
        return out

    def keys(self) -> list[str]:
        """Every measurement key ``profile/framework/deployment`` present, in first-seen order."""
        seen: dict[str, None] = {}
        for t in self.trials:
            for k in t.user_attrs:
                if k.startswith(MEASURE_PREFIX):
                    seen.setdefault(k[len(MEASURE_PREFIX) :], None)
        return list(seen)

    def profiles(self) -> list[str]:
        return list(dict.fromkeys(MeasurementKey.parse(k).profile for k in self.keys()))

    def completed(self) -> list[TrialRecord]:
        """Trials that were trained and evaluated (rejected candidates are COMPLETE in Optuna
        but not here)."""
        return [t for t in self.trials if t.state == "COMPLETE" and t.rejected is None]

    def rejected(self) -> list[TrialRecord]:
        """Candidates rejected before training because they broke a budget."""
        return [t for t in self.trials if t.rejected is not None]

    def failed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "FAIL"]

    # -- fronts -----------------------------------------------------------------------------
    def points(
        self, key: str, x: str = "latency", y: str = "accuracy"
    ) -> tuple[list[int], np.ndarray]:
        """Trial numbers and (x, y) values of every successful measurement for ``key``."""
        fx, fy = get_metric(x).field, get_metric(y).field
        nums, pts = [], []
        for row in self.rows():
            # a front holds what fits: a point breaking a budget of its profile is left out
            if (
                row.get("key") != key
                or row.get("status") != "ok"
                or row.get("feasible_on_profile") is False
            ):
                continue
            vx, vy = row.get(fx), row.get(fy)
            if vx is None or vy is None or not (math.isfinite(vx) and math.isfinite(vy)):
                continue
            nums.append(row["trial"])
            pts.append((float(vx), float(vy)))
        return nums, np.asarray(pts, dtype=np.float64).reshape(-1, 2)

    def front(
        self,
        key: str,
        x: str = "latency",
        y: str = "accuracy",
        reference: Sequence[float] | None = None,
    ) -> Front:
        """Pareto front of deployment ``key`` on objectives ``x`` and ``y`` (e.g. latency vs
        accuracy)."""
        dirs = [get_metric(x).direction, get_metric(y).direction]
        nums, pts = self.points(key, x, y)
        if reference is None:
            reference = tuple(self.common_reference(x, y))
        if len(pts) == 0:
            return Front(key, x, y, [], [], 0.0, tuple(reference), None)  # type: ignore[arg-type]
        mask = non_dominated(pts, dirs)
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(pts[idx, 0], kind="stable")]
        knee = knee_point(pts, dirs)
        return Front(
            key=key,
            x=x,
            y=y,
            trials=[nums[i] for i in idx],
            points=[(float(pts[i, 0]), float(pts[i, 1])) for i in idx],
            hypervolume=hypervolume(pts, reference, dirs),
            reference=(float(reference[0]), float(reference[1])),
            knee=nums[knee] if knee is not None else None,
        )

    def common_reference(
        self, x: str = "latency", y: str = "accuracy", keys: Iterable[str] | None = None
    ) -> np.ndarray:
        """One reference point for every deployment's front, so their hypervolumes compare."""
        allpts = [self.points(k, x, y)[1] for k in (keys or self.keys())]
        stacked = np.concatenate([p for p in allpts if len(p)] or [np.zeros((0, 2))])
        return reference_point(stacked, [get_metric(x).direction, get_metric(y).direction])

    def fronts(
        self, x: str = "latency", y: str = "accuracy", profile: str | None = None
    ) -> dict[str, Front]:
        keys = [k for k in self.keys() if profile is None or k.startswith(profile + "/")]
        ref = self.common_reference(x, y, keys)
        return {k: self.front(k, x, y, reference=tuple(ref)) for k in keys}

    def objective_front(self) -> list[int]:
        """Trial numbers on the Pareto front of the study's own objective values (as Optuna sees
        them: feasible trials only)."""
        done = [t for t in self.completed() if t.values is not None and t.feasible]
        if not done:
            return []
        pts = np.asarray([t.values for t in done], dtype=np.float64)
        mask = non_dominated(pts, self.directions)
        return sorted(done[i].number for i in np.flatnonzero(mask))

    # -- export -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        fronts = self.fronts()
        return {
            "study": self.study_name,
            "directions": self.directions,
            "metric_names": self.metric_names,
            "n_trials": len(self.trials),
            "n_complete": len(self.completed()),
            "n_rejected": len(self.rejected()),
            "n_failed": len(self.failed()),
            "objective_front": self.objective_front(),
            "fronts": {k: f.to_dict() for k, f in fronts.items()},
            "study_attrs": {k: v for k, v in self.study_attrs.items() if k != "config"},
            "config": self.study_attrs.get("config"),
            "trials": [
                {
                    "number": t.number,
                    "state": t.state,
                    "values": t.values,
                    "params": t.params,
                    "duration_s": t.duration_s,
                    "user_attrs": t.user_attrs,
                }
                for t in self.trials
            ],
        }

    def to_csv(self) -> str:
        rows = self.rows()
        cols: dict[str, None] = {}
        for r in rows:
            for k in r:
                cols.setdefault(k, None)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(cols))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        return buf.getvalue()


def _trust_text(m: Measurement) -> str:
    """One line saying how far a predicted latency can be trusted (shown beside it everywhere)."""
    return trust_text(m.meta.get("trust") or {})


def trust_text(t: dict[str, Any]) -> str:
    """Trust figures of a prediction in one line: held-out accuracy and noise floor, or why
    there are none."""
    if not t:
        return "predicted; no trust figures recorded"
    if t.get("validated_on_device"):
        return (
            f"predicted; on {t.get('heldout_models')} held-out models "
            f"{100 * t['within_10pct']:.0f}% within ±10%, "
            f"median error {100 * t['median_abs_error']:.1f}%, Spearman "
            f"{t.get('spearman', float('nan')):.3f}, "
            f"noise floor {100 * t.get('noise_floor', float('nan')):.1f}% (calibrated "
            f"{str(t.get('calibrated_at', ''))[:10]})"
        )
    if t.get("calibrated"):
        return (
            f"predicted; calibrated {str(t.get('calibrated_at', ''))[:10]} on "
            f"{t.get('calibration_models')} models, not yet validated on held-out models"
        )
    return (
        "predicted from datasheet numbers and estimated efficiencies; not validated on this device"
    )


def load_results(study: Any) -> StudyResults:
    """Read an ``optuna.Study`` into :class:`StudyResults`."""
    trials = []
    for t in study.get_trials(deepcopy=False):
        dur = t.duration.total_seconds() if t.duration is not None else None
        trials.append(
            TrialRecord(
                t.number,
                t.state.name,
                list(t.values) if t.values is not None else None,
                dict(t.params),
                dict(t.user_attrs),
                dur,
            )
        )
    try:
        names = list(study.metric_names) if study.metric_names else []
    except Exception:  # noqa: BLE001 - older storages
        names = []
    dirs = [d.name.lower() for d in study.directions]
    return StudyResults(study.study_name, dirs, names, trials, dict(study.user_attrs))
