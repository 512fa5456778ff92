"""The metric registry: every figure a study plots, constrains or sorts by, in one table.

A row names the field a metric reads (a column of :meth:`StudyResults.rows` and of the
:class:`StudyIndex` tables), whether smaller or larger is better, the unit it is stored in and
the unit a plot shows it in. Results files, the server and the static report keep the stored
unit (bytes, ms); the notebook explorer shows the display unit (KiB, MiB, millions of MACs).
A new metric is one row here.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench._errors import UnknownNameError

__all__ = [
    "LIMITS",
    "METRICS",
    "Metric",
    "format_value",
    "get_metric",
    "metric_for_field",
    "metric_names",
]


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One metric: its name, the field it reads, its direction, units and labels."""

    name: str
    field: str  # the row / index column holding the stored value
    direction: str  # maximize | minimize
    label: str  # what it is, without a unit: "size on disk"
    unit: str = ""  # unit of the stored value: "bytes", "ms", "" for counts and ratios
    display_unit: str = ""  # unit a plot shows: "KiB"
    scale: float = 1.0  # display value = stored value * scale
    display_label: str = ""  # the plot title where it is not "label (display_unit)"

    @property
    def title(self) -> str:
        """Axis title in display units: ``size on disk (KiB)``."""
        if self.display_label:
            return self.display_label
        return f"{self.label} ({self.display_unit})" if self.display_unit else self.label

    @property
    def stored_title(self) -> str:
        """Axis title in stored units: ``size on disk (bytes)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def bound_op(self) -> str:
        """How a budget on this metric reads: ``>=`` for a maximised one, else ``<=``."""
        return ">=" if self.direction == "maximize" else "<="


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="accuracy",
            field="accuracy",
            direction="maximize",
            label="accuracy (test split, of the artifact)",
        ),
        Metric(
            name="latency",
            field="latency_p50_ms",
            direction="minimize",
            label="latency p50",
            unit="ms",
            display_unit="ms",
        ),
        Metric(
            name="latency_p90",
            field="latency_p90_ms",
            direction="minimize",
            label="latency p90",
            unit="ms",
            display_unit="ms",
        ),
        Metric(
            name="size",
            field="size_bytes",
            direction="minimize",
            label="size on disk",
            unit="bytes",
            display_unit="KiB",
            scale=1 / 1024,
        ),
        Metric(
            name="memory",
            field="peak_memory_bytes",
            direction="minimize",
            label="peak memory",
            unit="bytes",
            display_unit="MiB",
            scale=1 / 2**20,
        ),
        Metric(name="params", field="params", direction="minimize", label="parameters"),
        Metric(
            name="macs",
            field="macs",
            direction="minimize",
            label="MACs",
            display_unit="M",
            scale=1e-6,
            display_label="MACs (millions)",
        ),
    )
}
_BY_FIELD = {m.field: m for m in METRICS.values()}

#: the figures a budget bounds (a study's constraints, a profile's own limits, the designer's
#: budgets), by the name of the field of a target's figures they read, in the order checked
LIMITS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="latency_ms",
            field="latency_ms",
            direction="minimize",
            label="latency",
            unit="ms",
            display_unit="ms",
        ),
        Metric(
            name="memory_bytes",
            field="memory_bytes",
            direction="minimize",
            label="memory",
            unit="bytes",
            display_unit="MiB",
            scale=1 / 2**20,
        ),
        Metric(
            name="size_bytes",
            field="size_bytes",
            direction="minimize",
            label="size",
            unit="bytes",
            display_unit="KiB",
            scale=1 / 1024,
        ),
        Metric(
            name="arena_bytes",
            field="arena_bytes",
            direction="minimize",
            label="tensor arena",
            unit="bytes",
            display_unit="KiB",
            scale=1 / 1024,
        ),
        Metric(
            name="flash_bytes",
            field="flash_bytes",
            direction="minimize",
            label="flash",
            unit="bytes",
            display_unit="KiB",
            scale=1 / 1024,
        ),
    )
}


def format_value(value: float, unit: str, digits: int = 4) -> str:
    """``value`` in a stored ``unit`` as text; bytes in the largest of MiB, KiB, B it reaches."""
    if unit == "bytes":
        for name, size in (("MiB", 2**20), ("KiB", 2**10)):
            if value >= size:
                return f"{value / size:.{digits}g} {name}"
        return f"{value:.0f} B"
    return f"{value:.{digits}g} {unit}".rstrip()


def metric_names() -> list[str]:
    """Every registered metric name, in registry order."""
    return list(METRICS)


def get_metric(name: str) -> Metric:
    """The metric called ``name``; an unknown name raises ``UnknownNameError`` listing the known."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownNameError("metric", name, list(METRICS)) from None


def metric_for_field(name: str) -> Metric | None:
    """The metric of a metric name or of the field it reads (``latency_p50_ms`` -> latency)."""
    return METRICS.get(name) or _BY_FIELD.get(name)
