"""Plotly figures of a study. Each is a pure ``*_info`` function (what to draw, easy to test)
and a thin renderer returning a ``plotly.graph_objects.Figure`` that works in notebooks,
static HTML and nbconvert output alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from workbench.bench import MeasurementKey
from workbench.report._study_figures import PALETTE
from workbench.study._metrics import METRICS
from workbench.study._results import StudyResults

if TYPE_CHECKING:
    from workbench.check import CheckResult

__all__ = [
    "ComparisonInfo",
    "FootprintRow",
    "ParetoInfo",
    "ParetoSeries",
    "comparison_info",
    "deployment_comparison_figure",
    "footprint_info",
    "history_figure",
    "pareto_figure",
    "pareto_info",
]


class ParetoSeries(NamedTuple):
    key: str
    trials: list[int]
    x: list[float]
    y: list[float]
    on_front: list[bool]
    hover: list[str]
    source: str  # measured | predicted | mixed
    hypervolume: float


class ParetoInfo(NamedTuple):
    x: str
    y: str
    x_label: str
    y_label: str
    series: list[ParetoSeries]
    reference: tuple[float, float]


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


def _hover(row: dict[str, Any]) -> str:
    parts = [
        f"<b>trial {row['trial']}</b> · {row.get('deployment')} ({row.get('framework')}) on "
        f"{row.get('profile')}",
        row.get("arch", ""),
        f"params {row.get('params') or 0:,} · MACs {row.get('macs') or 0:,}",
    ]
    if row.get("accuracy") is not None:
        drop = row.get("accuracy_drop")
        d = f" (Δ vs float {-drop * 100:+.2f} pt)" if drop is not None else ""
        parts.append(f"accuracy {row['accuracy']:.4f}{d}")
    if row.get("latency_p50_ms") is not None and row.get("source") == "predicted":
        parts.append(f"latency {row['latency_p50_ms']:.4g} ms [predicted]")
        parts.append(str(row.get("trust") or ""))
    elif row.get("latency_p50_ms") is not None:
        parts.append(
            f"latency p50 {row['latency_p50_ms']:.4g} ms [{row.get('source')}] · p90 "
            f"{row['latency_p90_ms']:.4g} · "
            f"cv {row.get('latency_cv') or 0:.2f} · n={row.get('latency_n')}"
        )
    mem_src = " [predicted]" if row.get("source") == "predicted" else ""
    parts.append(
        f"size {_fmt_bytes(row.get('size_bytes'))} · peak mem "
        f"{_fmt_bytes(row.get('peak_memory_bytes'))}{mem_src}"
    )
    if row.get("int8_scheme"):
        parts.append(f"int8 {row['int8_scheme']}")
    return "<br>".join(p for p in parts if p)


def pareto_info(
    results: StudyResults,
    *,
    x: str = "latency",
    y: str = "accuracy",
    profile: str | None = None,
    keys: Sequence[str] | None = None,
) -> ParetoInfo:
    """Every deployment's points on (x, y), with Pareto membership, for one profile."""
    if x not in METRICS or y not in METRICS:
        raise ValueError(f"objectives must be among {', '.join(METRICS)}")
    profiles = results.profiles()
    if profile is None and profiles:
        profile = profiles[0]
    wanted = [k for k in (keys or results.keys()) if profile is None or k.startswith(profile + "/")]
    fronts = results.fronts(x, y, profile=profile)
    rows = [r for r in results.rows() if r.get("key") in wanted and r.get("status") == "ok"]
    fx, fy = METRICS[x].field, METRICS[y].field
    series = []
    for key in wanted:
        front = fronts.get(key)
        on = set(front.trials) if front else set()
        kr = [
            r for r in rows if r["key"] == key and r.get(fx) is not None and r.get(fy) is not None
        ]
        sources = {r.get("source") for r in kr}
        series.append(
            ParetoSeries(
                key=key,
                trials=[r["trial"] for r in kr],
                x=[float(r[fx]) for r in kr],
                y=[float(r[fy]) for r in kr],
                on_front=[r["trial"] in on for r in kr],
                hover=[_hover(r) for r in kr],
                source=str(sources.pop()) if len(sources) == 1 else "mixed",
                hypervolume=front.hypervolume if front else 0.0,
            )
        )
    ref = next(iter(fronts.values())).reference if fronts else (0.0, 0.0)
    return ParetoInfo(x, y, METRICS[x].stored_title, METRICS[y].stored_title, series, ref)


def pareto_figure(
    results: StudyResults,
    *,
    x: str = "latency",
    y: str = "accuracy",
    profile: str | None = None,
    keys: Sequence[str] | None = None,
    log_x: bool | None = None,
    title: str | None = None,
    check: CheckResult | None = None,
) -> Any:
    """Scatter of every deployment with its Pareto front joined; predicted points drawn hollow.
    With ``check``, the check's baseline and candidate points as timed in it, regressions and
    improvements ringed (:mod:`workbench.report._check_figures`)."""
    import plotly.graph_objects as go

    from workbench.report._check_figures import check_overlay, check_trace_dicts

    info = pareto_info(results, x=x, y=y, profile=profile, keys=keys)
    fig = go.Figure()
    for i, s in enumerate(info.series):
        color = PALETTE[i % len(PALETTE)]
        label = MeasurementKey.parse(s.key).variant
        symbol = "circle-open" if s.source == "predicted" else "circle"
        fig.add_trace(
            go.Scatter(
                x=s.x,
                y=s.y,
                mode="markers",
                name=f"{label} ({s.source})",
                legendgroup=s.key,
                marker={"color": color, "size": 7, "opacity": 0.35, "symbol": symbol},
                text=s.hover,
                hovertemplate="%{text}<extra></extra>",
                customdata=s.trials,
            )
        )
        fx = [(a, b, t) for a, b, t, on, h in zip(s.x, s.y, s.trials, s.on_front, s.hover) if on]
        fx.sort()
        if fx:
            hov = {t: h for t, h in zip(s.trials, s.hover)}
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in fx],
                    y=[p[1] for p in fx],
                    mode="lines+markers",
                    legendgroup=s.key,
                    name=f"{label} front (HV {s.hypervolume:.4g})",
                    line={"color": color, "width": 2, "shape": "hv"},
                    marker={
                        "color": color,
                        "size": 10,
                        "symbol": "diamond-open" if s.source == "predicted" else "diamond",
                        "line": {"width": 1, "color": "black"},
                    },
                    text=[hov[p[2]] for p in fx],
                    hovertemplate="%{text}<extra>Pareto</extra>",
                    customdata=[p[2] for p in fx],
                )
            )
    if check is not None:
        overlay = check_overlay(check, x=x, y=y, keys=[s.key for s in info.series])
        for d in check_trace_dicts(overlay):
            fig.add_trace(go.Scatter(**{k: v for k, v in d.items() if k != "type"}))
    if log_x is None:
        xs = [v for s in info.series for v in s.x if v > 0]
        log_x = bool(xs) and max(xs) / max(min(xs), 1e-12) > 20
    fig.update_layout(
        title=title or f"Pareto fronts: {info.y} vs {info.x}",
        xaxis_title=info.x_label,
        yaxis_title=info.y_label,
        template="plotly_white",
        legend={"orientation": "v"},
        hovermode="closest",
        height=520,
    )
    if log_x:
        fig.update_xaxes(type="log")
    return fig


class ComparisonInfo(NamedTuple):
    baseline: str
    deployments: list[str]
    ratios: dict[str, list[float]]  # latency / baseline latency, per trial
    drops: dict[str, list[float]]  # accuracy points lost vs the float model, per trial
    medians: dict[str, float]


#: each framework's own eager baseline, which its deployments' speedups are stated against
EAGER_BASELINES = {"torch": "torch-fp32", "keras": "keras-fp32"}


def comparison_info(
    results: StudyResults, *, profile: str | None = None, baseline: str | None = None
) -> ComparisonInfo:
    """Per deployment: latency relative to the baseline measured in the same trial, and the
    accuracy change.

    Without ``baseline``, each framework's deployments are compared with that framework's own
    eager fp32 (``torch/torch-fp32``, ``keras/keras-fp32``), else with its first deployment.
    """
    rows = [r for r in results.rows() if r.get("status") == "ok" and r.get("latency_p50_ms")]
    profiles = results.profiles()
    profile = profile or (profiles[0] if profiles else None)
    rows = [r for r in rows if r.get("profile") == profile]
    deps = list(dict.fromkeys(f"{r['framework']}/{r['deployment']}" for r in rows))
    bases: dict[str, str] = {}
    for d in deps:
        fw, _ = MeasurementKey.parse_variant(d)
        eager = f"{fw}/{EAGER_BASELINES.get(fw, '')}"
        bases.setdefault(fw, baseline or (eager if eager in deps else d))
    label = baseline or ", ".join(dict.fromkeys(bases.values()))
    by_trial: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_trial.setdefault(r["trial"], {})[f"{r['framework']}/{r['deployment']}"] = r
    ratios: dict[str, list[float]] = {d: [] for d in deps}
    drops: dict[str, list[float]] = {d: [] for d in deps}
    for per in by_trial.values():
        for d, r in per.items():
            base = per.get(bases[MeasurementKey.parse_variant(d)[0]])
            if base is not None and base["latency_p50_ms"]:
                ratios[d].append(r["latency_p50_ms"] / base["latency_p50_ms"])
            if r.get("accuracy_drop") is not None:
                drops[d].append(-100.0 * r["accuracy_drop"])
    medians = {d: float(np.median(v)) for d, v in ratios.items() if v}
    return ComparisonInfo(label, deps, ratios, drops, medians)


def deployment_comparison_figure(
    results: StudyResults, *, profile: str | None = None, baseline: str | None = None
) -> Any:
    """Box plots: latency as a ratio to the baseline (same trial, same run), and accuracy change."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    info = comparison_info(results, profile=profile, baseline=baseline)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "latency p50 / "
            f"{'each framework’s eager fp32: ' if ',' in info.baseline else ''}{info.baseline} "
            "(same trial)",
            "accuracy change vs float model (points)",
        ),
    )
    for i, d in enumerate(info.deployments):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Box(
                y=info.ratios[d],
                name=d,
                marker_color=color,
                boxpoints="all",
                jitter=0.3,
                showlegend=False,
            ),
            1,
            1,
        )
        fig.add_trace(
            go.Box(
                y=info.drops[d],
                name=d,
                marker_color=color,
                boxpoints="all",
                jitter=0.3,
                showlegend=False,
            ),
            1,
            2,
        )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(template="plotly_white", height=460, title="Deployments compared")
    return fig


def history_figure(results: StudyResults) -> Any:
    """Objective values of every completed trial in order, failures marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = results.metric_names or [f"objective {i}" for i in range(len(results.directions))]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    done = results.completed()
    for j, _name in enumerate(names):
        xs = [t.number for t in done if t.values]
        ys = [t.values[j] for t in done if t.values]
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="markers", showlegend=False, marker={"color": PALETTE[j]}),
            1,
            j + 1,
        )
        fails = [t.number for t in results.failed()]
        if fails and ys:
            lo = min(ys)
            fig.add_trace(
                go.Scatter(
                    x=fails,
                    y=[lo] * len(fails),
                    mode="markers",
                    marker={"symbol": "x", "color": "red"},
                    name="failed",
                    showlegend=j == 0,
                ),
                1,
                j + 1,
            )
    fig.update_layout(template="plotly_white", height=360, title="Trials")
    return fig


class FootprintRow(NamedTuple):
    """What one deployment needs installed: its runtime beside its framework (bytes on disk)."""

    key: str  # framework/deployment
    runtime: str  # "installed size of onnxruntime 1.32.0"
    runtime_bytes: int | None
    runtime_with_deps_bytes: int | None
    framework: str
    framework_bytes: int | None
    framework_with_deps_bytes: int | None


def footprint_info(results: StudyResults) -> list[FootprintRow]:
    """Per deployment, the installed size of the runtime it needs and of the framework it came from,
    as recorded with its measurements."""
    rows: dict[str, FootprintRow] = {}
    for t in results.trials:
        for m in t.measurements():
            key = f"{m.framework}/{m.deployment}"
            foot = m.meta.get("runtime_footprint")
            if key in rows or not foot:
                continue
            rt, fw = foot.get("runtime") or {}, foot.get("framework") or {}
            rows[key] = FootprintRow(
                key,
                rt.get("label", "n/a"),
                rt.get("bytes"),
                rt.get("with_dependencies_bytes"),
                fw.get("label", "n/a"),
                fw.get("bytes"),
                fw.get("with_dependencies_bytes"),
            )
    return list(rows.values())
