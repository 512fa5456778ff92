"""What a check found, as plain dataclasses with a JSON round trip: the verdict of each point
and metric, each front's hypervolume change, and every artifact as this check timed and
evaluated it (what a report or a notebook draws)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError
from workbench._thresholds import Thresholds

__all__ = [
    "CHECK_SCHEMA",
    "CheckResult",
    "FrontCheck",
    "MetricCheck",
    "PointCheck",
    "TimedPoint",
]

#: version of a check result's JSON form (``schema`` field); 2 adds the timed points and timing
CHECK_SCHEMA = 2
METRICS = ("latency", "accuracy", "size", "memory")
OK, REGRESSION, IMPROVEMENT, SKIPPED = "ok", "regression", "improvement", "skipped"
BASELINE, CANDIDATE = "baseline", "candidate"


def _build(cls: type, d: Mapping[str, Any], **nested: Any) -> Any:
    """``cls(**d)`` over the dataclass's own fields; a missing required field is a KeyError."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
    kwargs = {f.name: d[f.name] for f in fields(cls) if f.name in d}
    kwargs.update(nested)
    return cls(**kwargs)


@dataclass
class MetricCheck:
    """One metric of one point: both values, the change, its interval or test, the verdict.

    ``change`` is a fraction of the baseline (latency, size, memory: ``+0.07`` is 7% more) or
    percentage points (accuracy); ``low``/``high`` bound it (latency) and ``p_value`` tests it
    (accuracy, exact McNemar). ``ratio`` (candidate / baseline, with ``ratio_low`` and
    ``ratio_high`` for latency) is the same change as a factor.
    """

    metric: str
    verdict: str
    baseline: float | None = None
    candidate: float | None = None
    change: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    threshold: str = ""
    detail: str = ""
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricCheck:
        out: MetricCheck = _build(cls, d)
        return out


@dataclass
class PointCheck:
    """A baseline point and the candidate point it was compared with."""

    key: str
    baseline_trial: int
    candidate_trial: int | None
    same_architecture: bool
    baseline_arch: str | None = None
    candidate_arch: str | None = None
    metrics: list[MetricCheck] = field(default_factory=list)
    stored_latency_ratio: float | None = None  # candidate / baseline, as each study stored it
    machine_drift: float | None = None  # baseline measured now / baseline as stored
    note: str = ""

    @property
    def name(self) -> str:
        """``trial 3 host-cpu/torch/onnxruntime-fp32``: the baseline point."""
        return f"trial {self.baseline_trial} {self.key}"

    def metric(self, name: str) -> MetricCheck | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PointCheck:
        out: PointCheck = _build(
            cls, d, metrics=[MetricCheck.from_dict(m) for m in d.get("metrics", [])]
        )
        return out


@dataclass
class FrontCheck:
    """One deployment's front, baseline against candidate, both as measured now."""

    key: str
    baseline_hypervolume: float
    candidate_hypervolume: float
    newly_dominated: list[int] = field(default_factory=list)  # candidate trials

    @property
    def hypervolume_change(self) -> float:
        """Relative change of the hypervolume (``-0.02``: 2% less)."""
        if self.baseline_hypervolume <= 0:
            return 0.0 if self.candidate_hypervolume <= 0 else math.inf
        return self.candidate_hypervolume / self.baseline_hypervolume - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hypervolume_change": self.hypervolume_change}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FrontCheck:
        out: FrontCheck = _build(cls, d)
        return out


@dataclass
class TimedPoint:
    """One artifact as this check timed and evaluated it, beside the others: where a front end
    draws it. Latency is the median of this check's interleaved samples with its
    distribution-free 95% interval; accuracy is on the baseline's test split with its Wilson 95%
    interval. ``verdict`` is the worst verdict of the compared points it belongs to
    (regression, then improvement, else ok) and ``findings`` says which ones, in words."""

    role: str  # baseline | candidate
    trial: int
    key: str
    arch: str | None
    latency_p50_ms: float
    latency_low_ms: float
    latency_high_ms: float
    latency_n: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    n_test: int
    size_bytes: int | None = None
    peak_memory_bytes: int | None = None
    verdict: str = OK
    findings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``baseline:3:host-cpu/torch/onnxruntime-fp32``."""
        return f"{self.role}:{self.trial}:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimedPoint:
        out: TimedPoint = _build(cls, d)
        return out


@dataclass
class CheckResult:
    """What a check found: one :class:`PointCheck` per baseline point, a front per key, every
    artifact as timed in this check (:class:`TimedPoint`) and how it was timed (``timing``:
    method, timer settings, host). ``path`` is where the result was saved, if it was."""

    baseline: str  # the baseline's folder
    baseline_study: str
    candidate_study: str
    thresholds: Thresholds
    points: list[PointCheck] = field(default_factory=list)
    fronts: list[FrontCheck] = field(default_factory=list)
    timed: list[TimedPoint] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    path: Path | None = None

    def _with(self, verdict: str) -> list[tuple[PointCheck, MetricCheck]]:
        return [(p, m) for p in self.points for m in p.metrics if m.verdict == verdict]

    @property
    def regressions(self) -> list[tuple[PointCheck, MetricCheck]]:
        return self._with(REGRESSION)

    @property
    def improvements(self) -> list[tuple[PointCheck, MetricCheck]]:
        return self._with(IMPROVEMENT)

    @property
    def passed(self) -> bool:
        return not self.regressions

    def summary(self) -> str:
        """One line: regressions (point and metric) or a pass."""
        if self.regressions:
            items = "; ".join(f"{p.name} {m.metric} {m.detail}" for p, m in self.regressions)
            return f"FAIL: {len(self.regressions)} regression(s): {items}"
        better = f", {len(self.improvements)} improvement(s)" if self.improvements else ""
        return f"PASS: {len(self.points)} point(s), no regression{better}"

    def mark_timed(self) -> None:
        """Give each timed point the verdicts of the compared points it belongs to."""
        by_label = {t.label: t for t in self.timed}
        for p in self.points:
            sides = [by_label.get(f"{BASELINE}:{p.baseline_trial}:{p.key}")]
            if p.candidate_trial is not None:
                sides.append(by_label.get(f"{CANDIDATE}:{p.candidate_trial}:{p.key}"))
            for m in p.metrics:
                if m.verdict not in (REGRESSION, IMPROVEMENT):
                    continue
                for t in (t for t in sides if t is not None):
                    t.findings.append(f"{p.name} {m.metric} {m.verdict}: {m.detail}")
                    if m.verdict == REGRESSION or t.verdict == OK:
                        t.verdict = m.verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "passed": self.passed,
            "summary": self.summary(),
            "baseline": self.baseline,
            "baseline_study": self.baseline_study,
            "candidate_study": self.candidate_study,
            "thresholds": self.thresholds.to_dict(),
            "points": [p.to_dict() for p in self.points],
            "fronts": [f.to_dict() for f in self.fronts],
            "timed": [t.to_dict() for t in self.timed],
            "timing": self.timing,
            "regressions": [{"point": p.name, "metric": m.metric} for p, m in self.regressions],
            "improvements": [{"point": p.name, "metric": m.metric} for p, m in self.improvements],
            "notes": self.notes,
            "wall_s": self.wall_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "check result") -> CheckResult:
        """The result :meth:`to_dict` wrote; a ConfigError of one line naming ``source`` and the
        field when ``d`` is not one."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(d).__name__}")
        if d.get("schema") != CHECK_SCHEMA:
            raise ConfigError(
                f"{source}: check result schema {d.get('schema')!r}; this version reads schema "
                f"{CHECK_SCHEMA} (run the check again)"
            )
        part = "thresholds"
        try:
            th = d["thresholds"]
            thresholds = Thresholds(
                latency=th["latency"],
                accuracy=th["accuracy"],
                size=th["size"],
                memory=th["memory"],
                alpha=float(th["alpha"]),
            )
            lists: dict[str, Any] = {}
            for part, make in (
                ("points", PointCheck.from_dict),
                ("fronts", FrontCheck.from_dict),
                ("timed", TimedPoint.from_dict),
            ):
                lists[part] = [make(item) for item in d[part]]
            part = "result"
            return cls(
                baseline=str(d["baseline"]),
                baseline_study=str(d["baseline_study"]),
                candidate_study=str(d["candidate_study"]),
                thresholds=thresholds,
                timing=dict(d["timing"]),
                notes=[str(n) for n in d.get("notes", [])],
                wall_s=float(d.get("wall_s", 0.0)),
                **lists,
            )
        except KeyError as err:
            raise ConfigError(f"{source}: {part}: missing field {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source}: {part}: {str(err).splitlines()[0]}") from None
