"""Budgets per hardware profile, feasibility checks, and how rejected candidates are stored.

A study config may set budgets per profile::

    constraints:
      host-cpu: {latency_ms: 2.0, memory_mb: 64}
      cortex-m7: {latency_ms: 500}          # the device's SRAM and flash limits apply by themselves

Budgets apply to the profile's deployment recipe: the file that would be shipped to it. A
device's own limits (a microcontroller's SRAM for the tensor arena and flash for model and
runtime, any device's RAM) are budgets too, without being written down.

Latency, memory and size do not depend on trained weights, so a candidate is checked *before*
it is trained: on a measured profile by deploying and timing the untrained model, on a
simulated one by prediction. An infeasible candidate is never trained; its trial is stored as
COMPLETE with its constraint values set (``trial.set_constraint``; each value is
``figure / budget - 1``, feasible when <= 0), placeholder objective values, and the reason in
its ``rejected`` user attribute. COMPLETE, because that is the only state both NSGA-II (its
population holds complete trials only) and TPE (complete and pruned) learn from; constraint
values, because both samplers rank an infeasible trial behind every feasible one by its total
violation, whatever its objective values, and ``study.best_trials`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench._schema import Float, Reader
from workbench.hw import HardwareProfile

__all__ = [
    "BUDGET_FIELDS",
    "Budget",
    "ConstraintValue",
    "TargetFigures",
    "budgets_for",
    "evaluate_constraints",
    "placeholder_values",
    "read_constraints",
    "set_trial_constraints",
]

#: budget key -> (metric, multiplier to the metric's base unit: ms or bytes)
BUDGET_FIELDS: dict[str, tuple[str, float]] = {
    "latency_ms": ("latency_ms", 1.0),
    "memory_kb": ("memory_bytes", 1024.0),
    "memory_mb": ("memory_bytes", 1024.0**2),
    "size_kb": ("size_bytes", 1024.0),
    "size_mb": ("size_bytes", 1024.0**2),
}
_UNITS = {
    "latency_ms": "ms",
    "memory_bytes": "B",
    "size_bytes": "B",
    "arena_bytes": "B",
    "flash_bytes": "B",
}


@dataclass(frozen=True)
class Budget:
    """Upper limits on one profile's recipe deployment; ``device`` ones come from the profile."""

    profile: str
    latency_ms: float | None = None
    memory_bytes: float | None = None
    size_bytes: float | None = None
    arena_bytes: float | None = None  # microcontroller SRAM (tensor arena)
    flash_bytes: float | None = None  # microcontroller flash (model + runtime code)
    from_device: tuple[str, ...] = ()  # which limits come from the profile's own numbers

    def limits(self) -> dict[str, float]:
        out = {}
        for metric in ("latency_ms", "memory_bytes", "size_bytes", "arena_bytes", "flash_bytes"):
            v = getattr(self, metric)
            if v is not None:
                out[metric] = float(v)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, **self.limits(), "from_device": list(self.from_device)}


def read_constraints(r: Reader, profiles: Sequence[HardwareProfile]) -> dict[str, Budget]:
    """The ``constraints`` section: ``{profile: {latency_ms, memory_kb|memory_mb, size_kb|size_mb}}``."""
    names = [p.name for p in profiles]
    out: dict[str, Budget] = {}
    for key in list(r.data):
        if key not in names:
            raise r.error(
                f"not one of the study's hardware profiles ({', '.join(names)})", str(key)
            )
        sub = r.section(str(key))
        values: dict[str, float] = {}
        for fld, (metric, scale) in BUDGET_FIELDS.items():
            if sub.has(fld):
                if metric in values:
                    raise sub.error(f"give {metric.split('_')[0]} once (in kb or in mb)", fld)
                values[metric] = sub.get(fld, Float(min=0.0, min_exclusive=True)) * scale
        sub.finish(extra_known=tuple(BUDGET_FIELDS))
        if not values:
            raise sub.error(f"expected at least one of: {', '.join(BUDGET_FIELDS)}")
        out[str(key)] = Budget(profile=str(key), **values)  # type: ignore[arg-type]  # float fields by name
    r.finish()
    return out


def budgets_for(profile: HardwareProfile, configured: Budget | None) -> Budget | None:
    """The configured budget of ``profile`` combined with its device's own limits.

    Microcontrollers: the tensor arena must fit the SRAM and model plus runtime the flash.
    Simulated devices with a RAM figure: peak memory must fit it (the tighter of the two
    when a memory budget is configured too).
    """
    vals = configured.limits() if configured else {}
    device: list[str] = []
    if not profile.measured:
        if profile.device == "mcu" and profile.sram_kb is not None:
            vals["arena_bytes"] = profile.sram_kb.value * 1024
            device.append("arena_bytes")
        if profile.device == "mcu" and profile.flash_kb is not None:
            vals["flash_bytes"] = profile.flash_kb.value * 1024
            device.append("flash_bytes")
        if profile.device != "mcu" and profile.ram_mb is not None:
            ram = profile.ram_mb.value * 1024**2
            if "memory_bytes" not in vals or ram < vals["memory_bytes"]:
                vals["memory_bytes"] = ram
                device.append("memory_bytes")
    if not vals:
        return None
    return Budget(profile=profile.name, from_device=tuple(device), **vals)


@dataclass
class TargetFigures:
    """What is known of one profile's recipe deployment of a candidate, and how it was known."""

    profile: str
    deployment: str
    source: str  # measured | predicted
    latency_ms: float | None = None
    memory_bytes: float | None = None
    size_bytes: float | None = None
    arena_bytes: float | None = None
    flash_bytes: float | None = None
    notes: dict[str, str] = field(default_factory=dict)
    stage: str = "prefilter"  # prefilter (untrained) | final (trained artifact)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "deployment": self.deployment,
            "source": self.source,
            "stage": self.stage,
            "latency_ms": self.latency_ms,
            "memory_bytes": self.memory_bytes,
            "size_bytes": self.size_bytes,
            "arena_bytes": self.arena_bytes,
            "flash_bytes": self.flash_bytes,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ConstraintValue:
    """One budget check: ``value / limit - 1`` (feasible when <= 0), with what it compared."""

    key: str  # profile:metric
    value: float | None  # the figure (None: could not be obtained, counted as violated)
    limit: float
    source: str  # measured | predicted
    from_device: bool = False

    @property
    def violation(self) -> float:
        if self.value is None:
            return 1.0
        return self.value / self.limit - 1.0

    @property
    def ok(self) -> bool:
        return self.violation <= 0.0

    def reason(self) -> str:
        profile, metric = self.key.split(":", 1)
        unit = _UNITS.get(metric, "")
        whose = "device limit" if self.from_device else "budget"
        if self.value is None:
            return f"{profile}: {metric} unknown ({whose} {_fmt(self.limit, unit)})"
        digits = 4
        while _fmt(self.value, unit, digits) == _fmt(self.limit, unit, digits) and digits < 12:
            digits += 2  # show the figure as precisely as it takes to see it is over
        return f"{profile}: {metric} {_fmt(self.value, unit, digits)} ({self.source}) > {whose} {_fmt(self.limit, unit, digits)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "limit": self.limit,
            "violation": self.violation,
            "source": self.source,
            "from_device": self.from_device,
        }


def _fmt(v: float, unit: str, digits: int = 4) -> str:
    if unit == "B":
        for u, s in (("MiB", 2**20), ("KiB", 2**10)):
            if v >= s:
                return f"{v / s:.{digits}g} {u}"
        return f"{v:.0f} B"
    return f"{v:.{digits}g} {unit}"


def evaluate_constraints(figures: TargetFigures, budget: Budget) -> list[ConstraintValue]:
    """Compare ``figures`` with ``budget``: one value per limit, in a fixed order."""
    out = []
    for metric, limit in budget.limits().items():
        value = getattr(figures, metric)
        out.append(
            ConstraintValue(
                f"{budget.profile}:{metric}",
                value,
                limit,
                figures.source,
                metric in budget.from_device,
            )
        )
    return out


def set_trial_constraints(trial: Any, values: Sequence[ConstraintValue]) -> None:
    """Store constraint values where the samplers read them (``trial.set_constraint``, Optuna 5),
    and as the ``constraints`` user attribute (Optuna 4's ``constraints_func`` reads that)."""
    trial.set_user_attr("constraints", {v.key: v.to_dict() for v in values})
    setter = getattr(trial, "set_constraint", None)
    if setter is not None:
        for v in values:
            setter(v.key, float(v.violation))


def constraints_from_attrs(trial: Any) -> list[float]:
    """``constraints_func`` for Optuna versions without ``Trial.set_constraint``."""
    data = trial.user_attrs.get("constraints") or {}
    return [float(v["violation"]) for _, v in sorted(data.items())]


def placeholder_values(
    objectives: Sequence[str], figures: Mapping[str, TargetFigures], objective_profile: str
) -> tuple[float, ...]:
    """Objective values of a rejected (untrained) candidate.

    Accuracy is 0 (never trained: no accuracy exists); latency, size and memory are the
    objective profile's pre-filter figures when known. The samplers rank infeasible trials by
    their constraint violation alone, and the results leave rejected trials out of every front.
    """
    f = figures.get(objective_profile)
    out = []
    for o in objectives:
        if o == "accuracy":
            out.append(0.0)
        elif o == "latency":
            out.append(float(f.latency_ms) if f and f.latency_ms is not None else 0.0)
        elif o == "size":
            out.append(float(f.size_bytes) if f and f.size_bytes is not None else 0.0)
        else:
            out.append(float(f.memory_bytes) if f and f.memory_bytes is not None else 0.0)
    return tuple(out)
