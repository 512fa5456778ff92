"""Regression gate: baselines of a study's Pareto set, and checks of a candidate against one,
measured side by side on this machine, with verdicts and JUnit/Markdown renderings."""

from workbench.check._baseline import (
    BASELINE_SCHEMA,
    Baseline,
    BaselinePoint,
    load_baseline,
    save_baseline,
    split_fingerprint,
)
from workbench.check._check import (
    CHECK_SETTINGS,
    CheckResult,
    FrontCheck,
    MetricCheck,
    PointCheck,
    check_baseline,
)
from workbench.check._render import to_junit, to_markdown
from workbench.check._thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = [
    "BASELINE_SCHEMA",
    "CHECK_SETTINGS",
    "DEFAULT_THRESHOLDS",
    "Baseline",
    "BaselinePoint",
    "CheckResult",
    "FrontCheck",
    "MetricCheck",
    "PointCheck",
    "Thresholds",
    "check_baseline",
    "load_baseline",
    "save_baseline",
    "split_fingerprint",
    "to_junit",
    "to_markdown",
]
