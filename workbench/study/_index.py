"""A fast, columnar view of a study for plots over many trials.

Each trial stores, beside its full measurements, a compact ``points`` attribute: per
measurement key, the handful of numbers a plot needs. The index reads those (and the trial
numbers, states and architecture summaries) through the study store
(:mod:`workbench.study._store`: a few SQL queries against Optuna's own tables, or the Optuna API
where those tables are not what it expects), so a 10,000-trial study loads in a fraction of a
second instead of the seconds ``study.get_trials()`` takes to rebuild every trial. Trials
written before ``points`` existed are read from their full measurements.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.bench import MeasurementKey
from workbench.study import _store
from workbench.study._metrics import METRICS
from workbench.study._origin import ORIGIN_ATTR, designed_mask
from workbench.study._pareto import non_dominated

__all__ = ["POINTS_ATTR", "POINT_FIELDS", "StudyIndex", "load_index", "points_summary"]

POINTS_ATTR = "points"
#: order of the numbers stored per key in the ``points`` attribute
POINT_FIELDS = (
    "accuracy",
    "latency_p50_ms",
    "latency_p90_ms",
    "size_bytes",
    "peak_memory_bytes",
    "predicted",
    "ok",
)
_SUMMARY_ATTRS = ("arch", "params", "macs", "float_accuracy", "objective_deployment", ORIGIN_ATTR)


def _num(v: Any) -> float | None:
    return (
        float(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        else None
    )


def _short(v: Any) -> float | None:
    """Six significant digits: plenty for plotting, and half the JSON to store and parse."""
    x = _num(v)
    return None if x is None else float(f"{x:.6g}")


def points_summary(measurements: Iterable[Any]) -> dict[str, list[float | None]]:
    """The compact per-key numbers of a trial's measurements (``Measurement`` objects or dicts)."""
    out: dict[str, list[float | None]] = {}
    for m in measurements:
        d = m if isinstance(m, dict) else m.to_dict()
        key = f"{d['profile']}/{d['framework']}/{d['backend']}-{d['precision']}"
        lat = d.get("latency") or {}
        out[key] = [
            _short(d.get("accuracy")),
            _short(lat.get("p50_ms")),
            _short(lat.get("p90_ms")),
            _num(d.get("size_bytes")),
            _num(d.get("peak_memory_bytes")),
            1 if d.get("source") == "predicted" else 0,
            1 if d.get("status", "ok") == "ok" else 0,
        ]
    return out


@dataclass
class StudyIndex:
    """Columns over a study's trials: one row per trial, one table of numbers per measurement
    key."""

    study_name: str
    directions: list[str]
    metric_names: list[str]
    numbers: np.ndarray  # trial numbers (int)
    states: np.ndarray  # object array of state names
    values: np.ndarray  # (n, n_objectives) objective values; NaN where none
    arch: list[str]
    params: np.ndarray
    macs: np.ndarray
    float_accuracy: np.ndarray
    objective_key: list[str | None]
    tables: dict[str, dict[str, np.ndarray]] = field(
        default_factory=dict
    )  # key -> field -> (n,) float, NaN = absent
    origin: list[str | None] = field(default_factory=list)  # the trials' origin attribute

    def designed(self) -> np.ndarray:
        """Bool per row: trials added by hand (see :func:`~workbench.study.trial_origin`)."""
        return designed_mask(self.origin) if self.origin else np.zeros(len(self), dtype=bool)

    def __len__(self) -> int:
        return len(self.numbers)

    def keys(self) -> list[str]:
        return list(self.tables)

    def profiles(self) -> list[str]:
        return list(dict.fromkeys(MeasurementKey.parse(k).profile for k in self.tables))

    def frameworks(self) -> list[str]:
        return list(dict.fromkeys(MeasurementKey.parse(k).framework for k in self.tables))

    def deployments(self) -> list[str]:
        return list(dict.fromkeys(MeasurementKey.parse(k).deployment for k in self.tables))

    def column(self, key: str, metric: str) -> np.ndarray:
        """Values of ``metric`` (an axis name such as ``latency`` or a field) for ``key``; NaN
        where absent."""
        m = METRICS.get(metric)
        fieldname = m.field if m is not None else metric
        if fieldname in ("params", "macs"):
            return getattr(self, fieldname).astype(float)
        return self.tables[key][fieldname]

    def points(
        self, key: str, x: str = "latency", y: str = "accuracy"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows with both values present and status ok: (row indices, x values, y values,
        predicted flags)."""
        xs, ys = self.column(key, x), self.column(key, y)
        ok = self.tables[key]["ok"] > 0
        mask = ok & np.isfinite(xs) & np.isfinite(ys)
        rows = np.flatnonzero(mask)
        return rows, xs[rows], ys[rows], self.tables[key]["predicted"][rows] > 0

    def front_mask(
        self, key: str, x: str = "latency", y: str = "accuracy"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row indices with points, boolean Pareto mask over those rows)."""
        rows, xs, ys, _ = self.points(key, x, y)
        dirs = [_direction(x), _direction(y)]
        if len(rows) == 0:
            return rows, np.zeros(0, dtype=bool)
        return rows, non_dominated(np.column_stack([xs, ys]), dirs)

    def row_of(self, number: int) -> int:
        hits = np.flatnonzero(self.numbers == number)
        if not len(hits):
            raise KeyError(f"no trial {number} in study {self.study_name!r}")
        return int(hits[0])


def _direction(metric: str) -> str:
    m = METRICS.get(metric)
    return m.direction if m is not None else "minimize"


def load_index(storage: Any, study_name: str, *, lean: bool = False) -> StudyIndex:
    """Build the index of ``study_name`` from a storage URL or an Optuna storage object.

    ``lean``: only what a Pareto plot reads (trial numbers, states, the per-key point tables
    and each trial's objective deployment; architectures, parameter counts and objective values
    are left empty), about half the time on a large study. A study whose trials predate the
    compact ``points`` attribute gets the full index instead.
    """
    import optuna

    st = storage
    if isinstance(storage, str):
        from workbench.study._storage import open_storage

        st = open_storage(storage, heartbeat=False)
    study = optuna.load_study(study_name=study_name, storage=st)
    directions = [d.name.lower() for d in study.directions]
    try:
        names = list(study.metric_names or [])
    except Exception:  # noqa: BLE001
        names = []
    if lean:
        lean_index = _lean(st, study._study_id, study_name, directions, names)
        if lean_index is not None:
            return lean_index
    rows = [
        _Row(
            r.number,
            r.state,
            r.values,
            r.attrs
            if POINTS_ATTR in r.attrs
            else {**r.attrs, POINTS_ATTR: points_summary(r.measures)},
        )
        for r in _store.index_rows(
            st, study._study_id, len(directions), (POINTS_ATTR, *_SUMMARY_ATTRS)
        )
    ]
    return _assemble(study_name, directions, names, rows)


@dataclass
class _Row:
    number: int
    state: str
    values: list[float]
    attrs: dict[str, Any]


def _lean(
    storage: Any, study_id: int, name: str, directions: list[str], metric_names: list[str]
) -> StudyIndex | None:
    rows, legacy = _store.points_rows(
        storage, study_id, (POINTS_ATTR, "objective_deployment", ORIGIN_ATTR)
    )
    if legacy:
        return None
    n = len(rows)
    tables = _tables([r[2] for r in rows])
    empty = np.full(n, np.nan)
    return StudyIndex(
        study_name=name,
        directions=directions,
        metric_names=metric_names,
        numbers=np.array([r[0] for r in rows], dtype=np.int64),
        states=np.array([r[1] for r in rows], dtype=object),
        values=np.full((n, len(directions)), np.nan),
        arch=[""] * n,
        params=empty,
        macs=empty.copy(),
        float_accuracy=empty.copy(),
        objective_key=[r[3] for r in rows],
        tables=tables,
        origin=[r[4] for r in rows],
    )


def _tables(points: Sequence[dict[str, Any] | None]) -> dict[str, dict[str, np.ndarray]]:
    """Per measurement key, per point field, one column over the trials (NaN = absent)."""
    n = len(points)
    keys = list(dict.fromkeys(k for d in points if d for k in d))
    width = len(POINT_FIELDS)
    absent = [None] * (width - 2) + [0, 0]  # no measurement: no numbers, not predicted, not ok
    tables: dict[str, dict[str, np.ndarray]] = {}
    for k in keys:
        block = np.array([(d or {}).get(k, absent) for d in points], dtype=np.float64).reshape(
            n, width
        )  # None becomes NaN
        tables[k] = {f: block[:, j] for j, f in enumerate(POINT_FIELDS)}
    return tables


def _assemble(
    name: str, directions: list[str], metric_names: list[str], rows: Sequence[_Row]
) -> StudyIndex:
    n = len(rows)
    tables = _tables([r.attrs.get(POINTS_ATTR) for r in rows])

    def col(attr: str) -> np.ndarray:
        return np.array([r.attrs.get(attr) for r in rows], dtype=np.float64) if n else np.zeros(0)

    return StudyIndex(
        study_name=name,
        directions=directions,
        metric_names=metric_names,
        numbers=np.array([r.number for r in rows], dtype=np.int64),
        states=np.array([r.state for r in rows], dtype=object),
        values=np.array([r.values for r in rows], dtype=np.float64).reshape(n, len(directions)),
        arch=[str(r.attrs.get("arch", "")) for r in rows],
        params=col("params"),
        macs=col("macs"),
        float_accuracy=col("float_accuracy"),
        objective_key=[r.attrs.get("objective_deployment") for r in rows],
        tables=tables,
        origin=[r.attrs.get(ORIGIN_ATTR) for r in rows],
    )
