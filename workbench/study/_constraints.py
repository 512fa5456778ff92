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
from typing import TYPE_CHECKING, Any

from workbench._schema import Float, Reader
from workbench.hw import HardwareProfile
from workbench.study._metrics import LIMITS, format_value

if TYPE_CHECKING:
    import optuna

__all__ = [
    "BUDGET_FIELDS",
    "Budget",
    "ConstraintValue",
    "TargetFigures",
    "budgets_for",
    "combine_budgets",
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
#: the metrics a budget may bound, in the order they are checked (the metric registry's LIMITS)
LIMIT_METRICS = tuple(LIMITS)


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
    #: (metric, where its bound came from), e.g. ("arena_bytes", "cortex-m7.sram_kb (datasheet)")
    sources: tuple[tuple[str, str], ...] = ()

    def limits(self) -> dict[str, float]:
        out = {}
        for metric in LIMIT_METRICS:
            v = getattr(self, metric)
            if v is not None:
                out[metric] = float(v)
        return out

    def source_of(self, metric: str) -> str:
        """Where the bound on ``metric`` came from (a profile field, the config, a caller)."""
        own = dict(self.sources).get(metric)
        if own:
            return own
        return f"{self.profile} device limit" if metric in self.from_device else "budget"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, **self.limits(), "from_device": list(self.from_device)}


def read_constraints(r: Reader, profiles: Sequence[HardwareProfile]) -> dict[str, Budget]:
    """The ``constraints`` section:
    ``{profile: {latency_ms, memory_kb|memory_mb, size_kb|size_mb}}``."""
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
        where = tuple((m, f"study config (constraints.{key})") for m in values)
        out[str(key)] = Budget(str(key), sources=where, **values)  # type: ignore[arg-type]
    r.finish()
    return out


def combine_budgets(profile: str, *budgets: Budget | None) -> Budget | None:
    """One budget of ``profile`` from several: per metric the tightest bound (the first on a
    tie), with where it came from; None when none bounds anything."""
    vals: dict[str, float] = {}
    device: set[str] = set()
    sources: dict[str, str] = {}
    for b in budgets:
        if b is None:
            continue
        for metric, limit in b.limits().items():
            if metric not in vals or limit < vals[metric]:
                vals[metric] = limit
                sources[metric] = b.source_of(metric)
                device.discard(metric)
                if metric in b.from_device:
                    device.add(metric)
    if not vals:
        return None
    return Budget(
        profile,
        from_device=tuple(m for m in LIMIT_METRICS if m in device),
        sources=tuple((m, sources[m]) for m in LIMIT_METRICS if m in vals),
        **vals,
    )


def budgets_for(profile: HardwareProfile, configured: Budget | None) -> Budget | None:
    """The configured budget of ``profile`` combined with its device's own limits.

    Microcontrollers: the tensor arena must fit the SRAM and model plus runtime the flash (a
    microcontroller that names no SRAM block: its peak memory, the arena, must fit its RAM).
    Simulated devices with a RAM figure: peak memory must fit it (the tighter of the two
    when a memory budget is configured too); with a flash figure, the model file must fit it.
    """
    return combine_budgets(profile.name, configured, device_budget(profile))


def device_budget(profile: HardwareProfile) -> Budget | None:
    """The limits ``profile``'s own numbers set (see :func:`budgets_for`); None when none."""
    vals: dict[str, float] = {}
    sources: list[tuple[str, str]] = []

    def limit(metric: str, attr: str, scale: float) -> None:
        sourced = getattr(profile, attr)
        vals[metric] = sourced.value * scale
        basis = f" ({sourced.source})" if sourced.source else ""
        sources.append((metric, f"{profile.name}.{attr}{basis}"))

    if not profile.measured:
        mcu = profile.device == "mcu"
        if mcu and profile.sram_kb is not None:
            limit("arena_bytes", "sram_kb", 1024)
        if mcu and profile.flash_kb is not None:
            limit("flash_bytes", "flash_kb", 1024)
        if (not mcu or profile.sram_kb is None) and profile.ram_mb is not None:
            limit("memory_bytes", "ram_mb", 1024**2)
        if not mcu and profile.flash_kb is not None:
            limit("size_bytes", "flash_kb", 1024)
    if not vals:
        return None
    return Budget(
        profile.name,
        from_device=tuple(vals),
        sources=tuple(sources),
        **vals,
    )


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
        unit = LIMITS[metric].unit
        whose = "device limit" if self.from_device else "budget"
        if self.value is None:
            return f"{profile}: {metric} unknown ({whose} {format_value(self.limit, unit)})"
        digits = 4
        while (
            format_value(self.value, unit, digits) == format_value(self.limit, unit, digits)
            and digits < 12
        ):
            digits += 2  # show the figure as precisely as it takes to see it is over
        value, limit = (
            format_value(self.value, unit, digits),
            format_value(self.limit, unit, digits),
        )
        return f"{profile}: {metric} {value} ({self.source}) > {whose} {limit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "limit": self.limit,
            "violation": self.violation,
            "source": self.source,
            "from_device": self.from_device,
        }


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


def set_trial_constraints(trial: optuna.trial.Trial, values: Sequence[ConstraintValue]) -> None:
    """Store constraint values where the samplers read them (``trial.set_constraint``, Optuna 5),
    and as the ``constraints`` user attribute (Optuna 4's ``constraints_func`` reads that)."""
    trial.set_user_attr("constraints", {v.key: v.to_dict() for v in values})
    setter = getattr(trial, "set_constraint", None)
    if setter is not None:
        for v in values:
            setter(v.key, float(v.violation))


def constraints_from_attrs(trial: optuna.trial.FrozenTrial) -> list[float]:
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
