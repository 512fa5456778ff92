"""Regression gate: baselines of a study's Pareto set, and checks of a candidate against one,
measured side by side on this machine, with verdicts and JUnit/Markdown renderings; and stored
trials reproduced: rebuilt, retrained, redeployed and compared with what was stored."""

from workbench._thresholds import DEFAULT_THRESHOLDS, Thresholds
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
    check_settings,
    resolve_thresholds,
)
from workbench.check._render import to_junit, to_markdown
from workbench.check._reproduce import (
    DeploymentReproduction,
    ReproduceResult,
    TrialReproduction,
    reproduce_trials,
)

__all__ = [
    "BASELINE_SCHEMA",
    "CHECK_SETTINGS",
    "DEFAULT_THRESHOLDS",
    "Baseline",
    "BaselinePoint",
    "CheckResult",
    "DeploymentReproduction",
    "FrontCheck",
    "MetricCheck",
    "PointCheck",
    "ReproduceResult",
    "Thresholds",
    "TrialReproduction",
    "check_baseline",
    "check_settings",
    "load_baseline",
    "reproduce_trials",
    "resolve_thresholds",
    "save_baseline",
    "split_fingerprint",
    "to_junit",
    "to_markdown",
]
