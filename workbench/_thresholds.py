"""Regression thresholds: ``"latency:+5%,accuracy:-0.5pt,size:+10%"``, parsed with one-line
errors.

A threshold names how much worse a metric may get before it is a regression: latency, size and
memory in percent of the baseline, accuracy in percentage points. ``off`` disables a metric;
metrics not named keep their defaults, or the values of a base (a study config's ``check.fail``
under a command line's ``--fail``).

The parser lives in core because a study config names its thresholds too and is checked when
it is loaded, below the regression gate that applies them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from workbench._errors import ConfigError

__all__ = ["CHECK_TIME_S", "DEFAULT_THRESHOLDS", "Thresholds"]

#: seconds a check times each artifact at most, unless the config or the command line says
CHECK_TIME_S = 4.0

#: metric -> (unit, the sign of "worse")
UNITS: dict[str, tuple[str, str]] = {
    "latency": ("%", "+"),
    "accuracy": ("pt", "-"),
    "size": ("%", "+"),
    "memory": ("%", "+"),
}
_ITEM = re.compile(r"^\s*([a-z_]+)\s*:\s*(off|([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*(%|pt))\s*$")


@dataclass(frozen=True)
class Thresholds:
    """How much worse each metric may get (None: not gated), and the test's significance."""

    latency: float | None = 0.05  # fraction of the baseline's median
    accuracy: float | None = 0.5  # percentage points
    size: float | None = 0.10  # fraction
    memory: float | None = 0.10  # fraction
    alpha: float = 0.05  # an interval's miss probability / McNemar's significance level

    @classmethod
    def parse(cls, text: str | None, base: Thresholds | None = None) -> Thresholds:
        """``"latency:+5%,accuracy:-0.5pt"``; ``base``'s values (default: the defaults) for
        metrics not named."""
        values: dict[str, float | None] = {}
        d = base or cls()
        if text is None or not text.strip():
            return d
        for item in text.split(","):
            m = _ITEM.match(item.lower())
            name = item.split(":", 1)[0].strip()
            if name.lower() not in UNITS:
                raise ConfigError(
                    f"threshold {item.strip()!r}: unknown metric {name!r}; expected one of "
                    f"{', '.join(UNITS)}"
                )
            unit, worse = UNITS[name.lower()]
            example = f"{name.lower()}:{worse}{'0.5' if unit == 'pt' else '5'}{unit}"
            if m is None:
                raise ConfigError(
                    f"threshold {item.strip()!r}: expected METRIC:{worse}N{unit} or METRIC:off, "
                    f"e.g. {example!r}"
                )
            if m.group(2) == "off":
                values[m.group(1)] = None
                continue
            sign, number, got_unit = m.group(3), float(m.group(4)), m.group(5)
            if got_unit != unit:
                raise ConfigError(
                    f"threshold {item.strip()!r}: {name.lower()} is given in {unit}, e.g. "
                    f"{example!r}"
                )
            if sign and sign != worse:
                raise ConfigError(
                    f"threshold {item.strip()!r}: {name.lower()} regresses in the {worse} "
                    f"direction, e.g. {example!r}"
                )
            values[m.group(1)] = number / 100 if unit == "%" else number
        return cls(
            latency=values.get("latency", d.latency),
            accuracy=values.get("accuracy", d.accuracy),
            size=values.get("size", d.size),
            memory=values.get("memory", d.memory),
            alpha=d.alpha,
        )

    def get(self, metric: str) -> float | None:
        value: float | None = getattr(self, metric)
        return value

    def describe(self, metric: str) -> str:
        """``latency:+5%``, ``accuracy:-0.5pt`` or ``size:off``."""
        value = self.get(metric)
        unit, worse = UNITS[metric]
        if value is None:
            return f"{metric}:off"
        shown = value * 100 if unit == "%" else value
        return f"{metric}:{worse}{shown:g}{unit}"

    def to_text(self) -> str:
        return ",".join(self.describe(m) for m in UNITS)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.to_text()}


DEFAULT_THRESHOLDS = Thresholds()
