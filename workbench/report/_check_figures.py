"""A check's result drawn over a study's scatter: the baseline's points and the candidate's, both
as timed and evaluated in the check, with the regressed and improved candidate points ringed.

The report's Pareto figure and the notebook explorer draw the same trace dictionaries, and
:data:`CHECK_MARKS` is the one rule of which marker means what. Every value comes from the
:class:`~workbench.check.CheckResult`; this module only picks and places them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench.study import METRICS

if TYPE_CHECKING:
    from workbench.check import CheckResult, MetricCheck, TimedPoint

__all__ = [
    "CHECK_MARKS",
    "CheckOverlay",
    "CheckRow",
    "CheckSeries",
    "check_overlay",
    "check_rows",
    "check_trace_dicts",
]

#: role -> legend name and marker: the one place that says how a check's points are drawn
CHECK_MARKS: dict[str, dict[str, Any]] = {
    "baseline": {
        "name": "baseline (check)",
        "marker": {
            "symbol": "square-open",
            "size": 11,
            "color": "#333333",
            "line": {"width": 2, "color": "#333333"},
        },
    },
    "candidate": {
        "name": "candidate (check)",
        "marker": {
            "symbol": "square",
            "size": 9,
            "color": "#333333",
            "line": {"width": 1, "color": "#ffffff"},
        },
    },
    "regression": {
        "name": "regression (check)",
        "marker": {
            "symbol": "circle-open",
            "size": 22,
            "color": "#d62728",
            "line": {"width": 3, "color": "#d62728"},
        },
    },
    "improvement": {
        "name": "improvement (check)",
        "marker": {
            "symbol": "circle-open",
            "size": 22,
            "color": "#2ca02c",
            "line": {"width": 3, "color": "#2ca02c"},
        },
    },
}

#: objective -> (value, interval low, interval high) fields of a TimedPoint
_FIELDS: dict[str, tuple[str, str | None, str | None]] = {
    "latency": ("latency_p50_ms", "latency_low_ms", "latency_high_ms"),
    "accuracy": ("accuracy", "accuracy_low", "accuracy_high"),
    "size": ("size_bytes", None, None),
    "memory": ("peak_memory_bytes", None, None),
}


class CheckSeries(NamedTuple):
    """Points of one role in one facet: where they go, their error bars and hover text."""

    role: str  # baseline | candidate | regression | improvement
    facet: int
    trials: list[int]
    keys: list[str]
    x: list[float]
    y: list[float]
    x_minus: list[float]  # error bar lengths below and above the value (0: none)
    x_plus: list[float]
    y_minus: list[float]
    y_plus: list[float]
    hover: list[str]


class CheckOverlay(NamedTuple):
    """What a check adds to a scatter of ``x`` against ``y``."""

    baseline_study: str
    candidate_study: str
    x: str
    y: str
    series: list[CheckSeries]


def _hover(t: TimedPoint, timing: Mapping[str, Any]) -> str:
    host = (timing.get("host") or {}).get("cpu_model", "this host")
    parts = [
        f"<b>{t.role} trial {t.trial}</b> · {t.key} (timed in the check)",
        t.arch or "",
        f"latency p50 {t.latency_p50_ms:.4g} ms [95% CI {t.latency_low_ms:.4g}, "
        f"{t.latency_high_ms:.4g}] · n={t.latency_n}, interleaved on {host}",
        f"accuracy {t.accuracy:.4f} [95% CI {t.accuracy_low:.4f}, {t.accuracy_high:.4f}] on "
        f"{t.n_test} test samples",
        f"verdict: {t.verdict}",
        *t.findings,
    ]
    return "<br>".join(p for p in parts if p)


def _value(t: TimedPoint, metric: str, scale: float) -> tuple[float, float, float] | None:
    """(value, below, above) of ``metric`` in display units; None when the check has none."""
    value_f, low_f, high_f = _FIELDS[metric]
    value = getattr(t, value_f)
    if value is None:
        return None
    low = getattr(t, low_f) if low_f else value
    high = getattr(t, high_f) if high_f else value
    return value * scale, (value - low) * scale, (high - value) * scale


def check_overlay(
    result: CheckResult,
    *,
    x: str = "latency",
    y: str = "accuracy",
    keys: Sequence[str] | None = None,
    facets: Mapping[str, int] | None = None,
    scaled: bool = False,
) -> CheckOverlay:
    """The check's points of ``keys`` (default: all) on ``x`` and ``y``, by role and facet
    (``facets`` maps a key to its facet; keys not in it are left out). ``scaled`` gives
    display units (the explorer's); else stored units (the report's). An axis the check did not
    measure (e.g. MACs) gives no points."""
    series: list[CheckSeries] = []
    if x not in _FIELDS or y not in _FIELDS:
        return CheckOverlay(result.baseline_study, result.candidate_study, x, y, series)
    sx = METRICS[x].scale if scaled else 1.0
    sy = METRICS[y].scale if scaled else 1.0
    wanted = set(keys) if keys is not None else None
    groups: dict[tuple[str, int], list[tuple[TimedPoint, tuple[float, ...]]]] = {}
    for t in result.timed:
        if (wanted is not None and t.key not in wanted) or (facets and t.key not in facets):
            continue
        vx, vy = _value(t, x, sx), _value(t, y, sy)
        if vx is None or vy is None:
            continue
        facet = facets[t.key] if facets else 0
        groups.setdefault((t.role, facet), []).append((t, (*vx, *vy)))
        if t.role == "candidate" and t.verdict in ("regression", "improvement"):
            groups.setdefault((t.verdict, facet), []).append((t, (*vx, *vy)))
    for role in CHECK_MARKS:
        for (r, facet), items in sorted(groups.items(), key=lambda kv: kv[0][1]):
            if r != role:
                continue
            series.append(
                CheckSeries(
                    role,
                    facet,
                    [t.trial for t, _ in items],
                    [t.key for t, _ in items],
                    [v[0] for _, v in items],
                    [v[3] for _, v in items],
                    [v[1] for _, v in items],
                    [v[2] for _, v in items],
                    [v[4] for _, v in items],
                    [v[5] for _, v in items],
                    [_hover(t, result.timing) for t, _ in items],
                )
            )
    return CheckOverlay(result.baseline_study, result.candidate_study, x, y, series)


def check_trace_dicts(overlay: CheckOverlay, *, gl: bool = False) -> list[dict[str, Any]]:
    """The overlay as plotly trace dicts (``scattergl`` with ``gl``, else ``scatter``), with
    error bars on the baseline's and candidate's points and one legend entry per role."""
    traces = []
    seen: set[str] = set()
    for s in overlay.series:
        mark = CHECK_MARKS[s.role]
        xref, yref = ("x", "y") if s.facet == 0 else (f"x{s.facet + 1}", f"y{s.facet + 1}")
        bars = s.role in ("baseline", "candidate")
        d: dict[str, Any] = {
            "type": "scattergl" if gl else "scatter",
            "x": s.x,
            "y": s.y,
            "xaxis": xref,
            "yaxis": yref,
            "mode": "markers",
            "name": mark["name"],
            "legendgroup": f"check:{s.role}",
            "showlegend": s.role not in seen,
            "marker": mark["marker"],
            "text": s.hover,
            "customdata": s.trials,
            "hovertemplate": f"%{{text}}<extra>{mark['name']}</extra>",
            "meta": {"role": f"check-{s.role}", "group": "", "facet": s.facet},
        }
        if bars:
            color = mark["marker"]["color"]
            for axis, minus, plus in (("x", s.x_minus, s.x_plus), ("y", s.y_minus, s.y_plus)):
                if any(minus) or any(plus):
                    d[f"error_{axis}"] = {
                        "type": "data",
                        "symmetric": False,
                        "array": plus,
                        "arrayminus": minus,
                        "color": color,
                        "thickness": 1,
                        "width": 3,
                    }
        seen.add(s.role)
        traces.append(d)
    return traces


class CheckRow(NamedTuple):
    """A regression or improvement, as the report's table lists it."""

    point: str
    candidate_trial: int | None
    metric: str
    verdict: str
    check: MetricCheck


def check_rows(result: CheckResult, keys: Sequence[str] | None = None) -> list[CheckRow]:
    """Every regression, then every improvement, of the points of ``keys`` (default: all)."""
    pairs = result.regressions + result.improvements
    return [
        CheckRow(p.name, p.candidate_trial, m.metric, m.verdict, m)
        for p, m in pairs
        if keys is None or p.key in keys
    ]
