"""Figures drawn from a :class:`~workbench.study.StudyIndex`: the Pareto explorer's scatter at
any scale, and the per-layer breakdown of one architecture.

Same split as :mod:`workbench.report._figures`: a pure ``*_info`` function decides what to draw
(NumPy arrays, vectorised, easy to test), a thin renderer turns it into plotly objects. The
notebook widgets apply the very same trace dictionaries to a ``FigureWidget`` in place, so the
static figure and the live one never differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from workbench.bench import MeasurementKey
from workbench.report._check_figures import CheckOverlay, check_overlay, check_trace_dicts
from workbench.study import METRICS, Metric, StudyIndex, non_dominated

if TYPE_CHECKING:
    from workbench.check import CheckResult

__all__ = [
    "GROUP_DIMENSIONS",
    "Constraint",
    "ExplorerInfo",
    "ExplorerSeries",
    "LayerBreakdownInfo",
    "LayerSeries",
    "explorer_figure",
    "explorer_info",
    "explorer_layout",
    "explorer_trace_dicts",
    "layer_breakdown_figure",
    "layer_breakdown_info",
]

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
EXCLUDED_COLOR = "#c7c7c7"


#: what points can be coloured or faceted by: the parts of a measurement key
GROUP_DIMENSIONS = ("deployment", "profile", "framework", "key")


def _axis(name: str, what: str = "objective") -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown {what} {name!r}; expected one of: {', '.join(METRICS)}")
    return METRICS[name]


def _part(key: str, dim: str) -> str:
    return key if dim == "key" else str(getattr(MeasurementKey.parse(key), dim))


class Constraint(NamedTuple):
    """A budget on one objective, in display units: ``latency <= 5`` (ms), ``accuracy >= 0.9``."""

    metric: str
    bound: float
    op: str  # <= | >=
    label: str

    @classmethod
    def make(cls, metric: str, bound: float) -> Constraint:
        ax = _axis(metric, "constraint")
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not np.isfinite(bound):
            raise ValueError(
                f"the bound of the {metric} constraint must be a finite number, got {bound!r}"
            )
        op = ax.bound_op
        unit = f" {ax.display_unit}" if ax.display_unit else ""
        return cls(
            metric, float(bound), op, f"{metric} {'≥' if op == '>=' else '≤'} {bound:g}{unit}"
        )


class ExplorerSeries(NamedTuple):
    """One trace: points of one colour group in one facet, with one role."""

    name: str
    role: str  # measured | predicted | front | excluded | highlight
    group: str
    facet: int
    color: str
    rows: np.ndarray  # index rows (trial positions in the StudyIndex)
    keyidx: np.ndarray  # position of each point's measurement key in ExplorerInfo.keys
    x: np.ndarray  # display units
    y: np.ndarray
    predicted: np.ndarray  # bool per point
    designed: np.ndarray  # bool per point: added by hand (model designer), not searched


class ExplorerInfo(NamedTuple):
    x: str
    y: str
    x_label: str
    y_label: str
    profile: str | None  # None: every profile
    keys: list[str]  # measurement keys shown
    color_by: str
    facet_by: str | None
    facets: list[str]  # facet titles ("" when not faceted)
    groups: list[str]  # colour groups in order
    colors: dict[str, str]
    constraints: list[Constraint]
    series: list[ExplorerSeries]
    n_points: int
    n_feasible: int
    n_front: int
    log_x: bool
    index: Any  # the StudyIndex the rows refer to (for hover text and details)
    study_name: str
    overlay: CheckOverlay | None = None  # a check's points, drawn after the series

    def front_points(self) -> list[tuple[int, str]]:
        """(trial number, measurement key) of every point on a drawn front."""
        out: list[tuple[int, str]] = []
        for s in self.series:
            if s.role == "front":
                out.extend(
                    (int(self.index.numbers[r]), self.keys[k]) for r, k in zip(s.rows, s.keyidx)
                )
        return out


def explorer_info(
    index: Any,
    *,
    x: str = "latency",
    y: str = "accuracy",
    profile: str | None = "",
    framework: str | None = None,
    deployment: str | None = None,
    color_by: str = "deployment",
    facet_by: str | None = None,
    constraints: Mapping[str, float] | Sequence[Constraint] | None = None,
    designed: np.ndarray | None = None,
    check: CheckResult | None = None,
) -> ExplorerInfo:
    """What the explorer draws for ``index``: points per colour group and facet, each group's
    Pareto front over the points that meet every constraint, and the excluded points.

    ``profile=""`` picks the index's first profile, ``None`` shows every profile; ``framework``
    and ``deployment`` filter (``None``: all). ``constraints`` maps objective names to bounds in
    display units (``{"latency": 5.0, "accuracy": 0.9}``); a point whose constrained value is
    unknown is excluded, since it cannot be shown to meet the budget. ``designed`` flags index
    rows added by hand. ``check`` overlays a check's points (baseline and candidate as timed
    in it, regressions ringed) on the facets of their keys. Every step is vectorised over points.
    """
    ax, ay = _axis(x), _axis(y)
    for name, dim in (("color_by", color_by), ("facet_by", facet_by)):
        if dim is not None and dim not in GROUP_DIMENSIONS:
            raise ValueError(f"{name} must be one of {', '.join(GROUP_DIMENSIONS)}, got {dim!r}")
    profiles = index.profiles()
    if profile == "":
        profile = profiles[0] if profiles else None
    if profile is not None and profiles and profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; this study has: {', '.join(profiles)}")
    candidates: list[str] = index.keys()
    keys = [
        k
        for k in candidates
        if (profile is None or _part(k, "profile") == profile)
        and (framework is None or _part(k, "framework") == framework)
        and (deployment is None or _part(k, "deployment") == deployment)
    ]
    cons = _constraints(constraints)

    # every shown point, concatenated over keys (a handful of keys, so this loop is short)
    parts_rows, parts_key, parts_x, parts_y, parts_pred, parts_ok = [], [], [], [], [], []
    for i, key in enumerate(keys):
        rows, xs, ys, pred = index.points(key, x, y)
        feasible = np.ones(len(rows), dtype=bool)
        for c in cons:
            vals = index.column(key, c.metric)[rows] * METRICS[c.metric].scale
            with np.errstate(invalid="ignore"):
                feasible &= (vals <= c.bound) if c.op == "<=" else (vals >= c.bound)
        parts_rows.append(rows)
        parts_key.append(np.full(len(rows), i, dtype=np.int64))
        parts_x.append(xs * ax.scale)
        parts_y.append(ys * ay.scale)
        parts_pred.append(pred)
        parts_ok.append(feasible)

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return (
            np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)
        )

    rows_all = cat(parts_rows, np.int64)
    key_all = cat(parts_key, np.int64)
    x_all = cat(parts_x, np.float64)
    y_all = cat(parts_y, np.float64)
    pred_all = cat(parts_pred, bool)
    ok_all = cat(parts_ok, bool)
    des_all = (
        designed[rows_all].astype(bool)
        if designed is not None and len(rows_all)
        else np.zeros(len(rows_all), dtype=bool)
    )

    groups = list(dict.fromkeys(_part(k, color_by) for k in keys))
    facets = list(dict.fromkeys(_part(k, facet_by) for k in keys)) if facet_by else [""]
    group_of_key = np.array([groups.index(_part(k, color_by)) for k in keys], dtype=np.int64)
    facet_of_key = np.array(
        [facets.index(_part(k, facet_by)) if facet_by else 0 for k in keys], dtype=np.int64
    )
    g_all = group_of_key[key_all] if len(keys) else np.zeros(0, dtype=np.int64)
    f_all = facet_of_key[key_all] if len(keys) else np.zeros(0, dtype=np.int64)
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}

    def take(
        mask: np.ndarray, name: str, role: str, group: str, facet: int, color: str
    ) -> ExplorerSeries:
        idx = np.flatnonzero(mask)
        return ExplorerSeries(
            name,
            role,
            group,
            facet,
            color,
            rows_all[idx],
            key_all[idx],
            x_all[idx],
            y_all[idx],
            pred_all[idx],
            des_all[idx],
        )

    series: list[ExplorerSeries] = []
    n_front = 0
    dirs = [ax.direction, ay.direction]
    for fi in range(len(facets)):
        in_facet = f_all == fi
        for gi, g in enumerate(groups):
            sel = in_facet & (g_all == gi)
            if not sel.any():
                continue
            color = colors[g]
            feas = sel & ok_all
            series.append(take(feas & ~pred_all, g, "measured", g, fi, color))
            series.append(take(feas & pred_all, f"{g} (predicted)", "predicted", g, fi, color))
            idx = np.flatnonzero(feas)
            if len(idx):
                on = non_dominated(np.column_stack([x_all[idx], y_all[idx]]), dirs)
                front_idx = idx[on]
                front_idx = front_idx[np.lexsort((y_all[front_idx], x_all[front_idx]))]
                n_front += len(front_idx)
                series.append(
                    ExplorerSeries(
                        f"{g} Pareto front",
                        "front",
                        g,
                        fi,
                        color,
                        rows_all[front_idx],
                        key_all[front_idx],
                        x_all[front_idx],
                        y_all[front_idx],
                        pred_all[front_idx],
                        des_all[front_idx],
                    )
                )
        if cons:
            series.append(
                take(in_facet & ~ok_all, "outside the budget", "excluded", "", fi, EXCLUDED_COLOR)
            )
    xs_pos = x_all[x_all > 0]
    log_x = (
        bool(len(xs_pos))
        and bool(ax.display_unit)
        and float(xs_pos.max() / max(xs_pos.min(), 1e-12)) > 20
    )
    overlay = (
        check_overlay(
            check,
            x=x,
            y=y,
            keys=keys,
            facets={k: int(facet_of_key[i]) for i, k in enumerate(keys)},
            scaled=True,
        )
        if check is not None
        else None
    )
    return ExplorerInfo(
        x=x,
        y=y,
        x_label=ax.title,
        y_label=ay.title,
        profile=profile,
        keys=keys,
        color_by=color_by,
        facet_by=facet_by,
        facets=facets,
        groups=groups,
        colors=colors,
        constraints=cons,
        series=series,
        n_points=len(rows_all),
        n_feasible=int(ok_all.sum()),
        n_front=n_front,
        log_x=log_x,
        index=index,
        study_name=index.study_name,
        overlay=overlay,
    )


def _constraints(
    constraints: Mapping[str, float] | Sequence[Constraint] | None,
) -> list[Constraint]:
    if not constraints:
        return []
    if isinstance(constraints, Mapping):
        return [Constraint.make(m, b) for m, b in constraints.items() if b is not None]
    out = []
    for c in constraints:
        if not isinstance(c, Constraint):
            raise ValueError(
                f"expected Constraint objects or a mapping of objective to bound, got {c!r}"
            )
        out.append(c)
    return out


# -- rendering ------------------------------------------------------------------------------------
def _cached(index: StudyIndex, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """A per-index cache (the index is read-only once built)."""
    cache = index.__dict__.setdefault("_explorer_cache", {})
    if name not in cache:
        cache[name] = make()
    return cache[name]


def _arch(index: StudyIndex) -> np.ndarray:
    return _cached(
        index,
        "arch",
        lambda: np.array(index.arch, dtype=str) if len(index.arch) else np.zeros(0, dtype="<U1"),
    )


def _key_label(key: str) -> str:
    k = MeasurementKey.parse(key)
    return f"{k.deployment} ({k.framework}) on {k.profile}"


def _fmt(values: np.ndarray, spec: str, scale: float = 1.0) -> list[str]:
    return [format(v * scale, spec) if v == v else "n/a" for v in values.tolist()]


def figures_text(index: StudyIndex, key: str) -> np.ndarray:
    """Per row of ``key``: its figures with their spread (the accuracy is the artifact's own) and
    source, as hover text. Built once per key and cached on the index (it depends on neither axes,
    filters nor colours), so an update only gathers rows; flat string arrays serialise fastest."""

    def make() -> np.ndarray:
        t = index.tables[key]
        src = np.where(t["predicted"] > 0, "predicted", "measured").tolist()
        rows = [
            f"acc {acc} · p50 {p50} ms · p90 {p90} ms ({s})<br>{size} KiB · peak mem {mem} MiB · "
            f"{params} params · {macs} M MACs"
            for acc, p50, p90, s, size, mem, params, macs in zip(
                _fmt(t["accuracy"], ".4f"),
                _fmt(t["latency_p50_ms"], ".4g"),
                _fmt(t["latency_p90_ms"], ".4g"),
                src,
                _fmt(t["size_bytes"], ".4g", METRICS["size"].scale),
                _fmt(t["peak_memory_bytes"], ".3g", METRICS["memory"].scale),
                _fmt(index.params, ",.0f"),
                _fmt(index.macs, ".3g", METRICS["macs"].scale),
            )
        ]
        return np.array(rows, dtype=str) if rows else np.zeros(0, dtype="<U1")

    return _cached(index, f"figures:{key}", make)


def hover(info: ExplorerInfo, s: ExplorerSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(customdata, text, hovertext, hovertemplate) of the points of ``s``: the trial number as
    numbers, the architecture summary as text, the figures with their spread and source as hover
    text, and the deployment in the template (or per point when a trace holds several)."""
    ix = info.index
    n = len(s.rows)
    keys = np.unique(s.keyidx) if n else np.zeros(0, dtype=np.int64)
    customdata = ix.numbers[s.rows].astype(np.float64)
    text = _arch(ix)[s.rows] if n else np.zeros(0, dtype="<U1")
    if s.designed.any():
        text = np.where(s.designed, np.char.add("designed by hand · ", text), text)
    if len(keys) <= 1:
        figures = (
            figures_text(ix, info.keys[int(keys[0])])[s.rows] if n else np.zeros(0, dtype="<U1")
        )
        where = f" · {_key_label(info.keys[int(keys[0])])}" if n else ""
    else:  # several deployments in one trace: each point names its own
        parts = {int(k): figures_text(ix, info.keys[int(k)]) for k in keys}
        figures = np.empty(
            n, dtype=max((p.dtype for p in parts.values()), key=lambda d: d.itemsize)
        )
        for k, p in parts.items():
            sel = s.keyidx == k
            figures[sel] = p[s.rows[sel]]
        labels = np.array([_key_label(k) + "<br>" for k in info.keys], dtype=str)
        text = np.char.add(labels[s.keyidx], text)
        where = ""
    template = f"<b>trial %{{customdata}}</b>{where}<br>%{{text}}<br>%{{hovertext}}"
    return customdata, text, figures, template


def _symbols(s: ExplorerSeries, base: str) -> Any:
    """Marker symbols: hollow for predicted points, a star for hand-designed ones; one symbol
    for the whole trace when every point has the same."""
    if not len(s.rows):
        return f"{base}-open" if s.role == "predicted" else base
    sym = np.where(s.predicted, f"{base}-open", base).astype(object)
    if s.designed.any():
        sym[s.designed] = np.where(s.predicted[s.designed], "star-open", "star")
    first = sym[0]
    return first if (sym == first).all() else sym


def _axis_ref(facet: int) -> tuple[str, str]:
    return ("x", "y") if facet == 0 else (f"x{facet + 1}", f"y{facet + 1}")


def explorer_trace_dicts(info: ExplorerInfo) -> list[dict[str, Any]]:
    """The traces of ``info`` as plotly property dicts (``scattergl``), in drawing order: one
    per series, then the check overlay's."""
    traces = []
    legend_seen: set[str] = set()
    for s in info.series:
        xref, yref = _axis_ref(s.facet)
        customdata, text, figures, template = hover(info, s)
        legendgroup = f"{s.role}:{s.group}"
        show = legendgroup not in legend_seen and len(s.rows) > 0
        legend_seen.add(legendgroup)
        d: dict[str, Any] = {
            "type": "scattergl",
            "x": s.x,
            "y": s.y,
            "xaxis": xref,
            "yaxis": yref,
            "name": s.name,
            "legendgroup": legendgroup,
            "showlegend": show,
            "text": text,
            "hovertext": figures,
            "customdata": customdata,
            "meta": {"role": s.role, "group": s.group, "facet": s.facet},
        }
        if s.role == "front":
            d.update(
                mode="lines+markers",
                line={
                    "color": s.color,
                    "width": 2,
                    "shape": "hv" if info.y == "accuracy" or info.x == "accuracy" else "linear",
                },
                marker={
                    "color": s.color,
                    "size": 10,
                    "symbol": _symbols(s, "diamond"),
                    "line": {"width": 1, "color": "#222"},
                },
                hovertemplate=template + "<extra>Pareto</extra>",
            )
        elif s.role == "excluded":
            d.update(
                mode="markers",
                marker={
                    "color": EXCLUDED_COLOR,
                    "size": 5,
                    "opacity": 0.5,
                    "symbol": _symbols(s, "circle"),
                },
                hovertemplate=template + "<extra>outside the budget</extra>",
            )
        else:
            d.update(
                mode="markers",
                marker={
                    "color": s.color,
                    "size": 6,
                    "opacity": 0.55 if s.role == "measured" else 0.8,
                    "symbol": _symbols(s, "circle"),
                    "line": {"width": 1, "color": s.color},
                },
                hovertemplate=template + f"<extra>{s.role}</extra>",
            )
        traces.append(d)
    if info.overlay is not None:
        traces.extend(check_trace_dicts(info.overlay, gl=True))
    return traces


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n <= 4 else 3
    return (n + cols - 1) // cols, cols


def facet_domains(
    n: int, gap: float = 0.08
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(x domain, y domain) of each of ``n`` facets, row by row from the top."""
    rows, cols = _grid(n)
    w = (1 - gap * (cols - 1)) / cols
    h = (1 - gap * 1.5 * (rows - 1)) / rows
    out = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (w + gap)
        y1 = 1 - r * (h + gap * 1.5)
        out.append(((round(x0, 4), round(x0 + w, 4)), (round(y1 - h, 4), round(y1, 4))))
    return out


def explorer_layout(
    info: ExplorerInfo, *, max_facets: int | None = None, title: str | None = None
) -> dict[str, Any]:
    """Layout: axes with objective names and units, facet grid, budget lines on the axes they bound.

    ``max_facets`` also defines (hidden) axes up to that count, so a live figure can change its
    facet count by relayout alone.
    """
    n = len(info.facets)
    total = max(n, max_facets or 0)
    doms = facet_domains(n)
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "hovermode": "closest",
        "dragmode": "zoom",
        "height": 520 if n == 1 else 320 * _grid(n)[0] + 80,
        "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
        "legend": {"orientation": "v", "font": {"size": 11}},
        "uirevision": f"{info.x}|{info.y}|{info.profile}|{info.facet_by}|{','.join(info.keys)}",
        "title": {"text": title or _title(info), "font": {"size": 15}},
    }
    rows, _cols = _grid(n)
    for i in range(total):
        xname, yname = ("xaxis", "yaxis") if i == 0 else (f"xaxis{i + 1}", f"yaxis{i + 1}")
        xref, yref = _axis_ref(i)
        if i < n:
            (x0, x1), (y0, y1) = doms[i]
            bottom = i // _grid(n)[1] == rows - 1 or i + _grid(n)[1] >= n
            left = i % _grid(n)[1] == 0
            layout[xname] = {
                "domain": [x0, x1],
                "anchor": yref,
                "visible": True,
                "type": "log" if info.log_x else "linear",
                "title": {"text": info.x_label if bottom else ""},
                "matches": None if i == 0 else "x",
                "showgrid": True,
            }
            layout[yname] = {
                "domain": [y0, y1],
                "anchor": xref,
                "visible": True,
                "title": {"text": info.y_label if left else ""},
                "matches": None if i == 0 else "y",
                "showgrid": True,
            }
        else:
            layout[xname] = {"domain": [0, 0.01], "anchor": yref, "visible": False, "matches": None}
            layout[yname] = {"domain": [0, 0.01], "anchor": xref, "visible": False, "matches": None}
    annotations: list[dict[str, Any]] = []
    if info.facet_by:
        for i, ftitle in enumerate(info.facets):
            (x0, x1), (_y0, y1) = doms[i]
            annotations.append(
                {
                    "text": f"<b>{ftitle}</b>",
                    "x": (x0 + x1) / 2,
                    "y": y1,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 12},
                }
            )
    shapes: list[dict[str, Any]] = []
    for c in info.constraints:
        on_x, on_y = c.metric == info.x, c.metric == info.y
        if not (on_x or on_y):
            continue
        for i in range(n):
            xref, yref = _axis_ref(i)
            if on_x:
                shapes.append(
                    {
                        "type": "line",
                        "xref": xref,
                        "yref": f"{yref} domain",
                        "x0": c.bound,
                        "x1": c.bound,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": "#d62728", "width": 2, "dash": "dash"},
                    }
                )
                annotations.append(
                    {
                        "text": f"budget: {c.label}",
                        "x": c.bound,
                        "y": 1,
                        "xref": xref,
                        "yref": f"{yref} domain",
                        "xanchor": "left",
                        "yanchor": "top",
                        "showarrow": False,
                        "font": {"color": "#d62728", "size": 11},
                    }
                )
            else:
                shapes.append(
                    {
                        "type": "line",
                        "xref": f"{xref} domain",
                        "yref": yref,
                        "x0": 0,
                        "x1": 1,
                        "y0": c.bound,
                        "y1": c.bound,
                        "line": {"color": "#d62728", "width": 2, "dash": "dash"},
                    }
                )
                annotations.append(
                    {
                        "text": f"budget: {c.label}",
                        "x": 1,
                        "y": c.bound,
                        "xref": f"{xref} domain",
                        "yref": yref,
                        "xanchor": "right",
                        "yanchor": "bottom",
                        "showarrow": False,
                        "font": {"color": "#d62728", "size": 11},
                    }
                )
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return layout


def _title(info: ExplorerInfo) -> str:
    where = f"on {info.profile}" if info.profile else "on every profile"
    budget = (
        f" · within {' and '.join(c.label for c in info.constraints)}: {info.n_feasible:,}"
        if info.constraints
        else ""
    )
    return (
        f"{info.study_name}: {METRICS[info.y].title.split(' (')[0]} vs "
        f"{METRICS[info.x].title.split(' (')[0]} {where} · "
        f"{info.n_points:,} points{budget} · {info.n_front} on the fronts"
    )


def explorer_figure(
    study: Any,
    *,
    storage: Any = None,
    title: str | None = None,
    **kwargs: Any,
) -> Any:
    """The explorer's scatter as a plain ``plotly.graph_objects.Figure`` (WebGL), for static HTML,
    reports and nbconvert output. ``study`` is a StudyIndex, a study name (with ``storage``), an
    ``optuna.Study`` or what ``run_study`` returns; other keywords go to :func:`explorer_info`."""
    import plotly.graph_objects as go

    info = (
        study
        if isinstance(study, ExplorerInfo)
        else explorer_info(_as_index(study, storage), **kwargs)
    )
    fig = go.Figure(layout=explorer_layout(info, title=title))
    fig.add_traces(
        [
            go.Scattergl(**{k: v for k, v in d.items() if k != "type"})
            for d in explorer_trace_dicts(info)
        ]
    )
    return fig


def _as_index(study: Any, storage: Any) -> Any:
    from workbench.study._index import load_index

    if isinstance(study, StudyIndex):
        return study
    if isinstance(study, str):
        if storage is None:
            raise ValueError(
                "a study given by name needs its storage (a URL such as sqlite:///runs/workbench.db)"
            )
        return load_index(storage, study)
    inner = getattr(study, "study", None)  # a RunResult
    if inner is not None and hasattr(inner, "_storage"):
        study = inner
    if hasattr(study, "_storage") and hasattr(study, "study_name"):
        return load_index(getattr(study._storage, "_backend", study._storage), study.study_name)
    raise ValueError(
        "expected a StudyIndex, a study name with its storage, an optuna.Study or a RunResult, "
        f"got {type(study).__name__}"
    )


# -- per-layer breakdown -------------------------------------------------------------------
class LayerSeries(NamedTuple):
    """One bar series: a value per layer and where the values come from."""

    label: str  # e.g. "MACs (from the spec)", "latency (measured, ONNX Runtime profiler)"
    kind: str  # cost | measured | predicted
    unit: str
    names: list[str]
    values: list[float]
    note: str = ""


class LayerBreakdownInfo(NamedTuple):
    title: str
    series: list[LayerSeries]
    totals: dict[str, float]


_COST_METRICS = {
    "macs": ("MACs", "MACs", lambda layer: float(layer.macs)),
    "params": ("parameters", "params", lambda layer: float(layer.params)),
    "activation": (
        "output activation",
        "bytes (fp32)",
        lambda layer: float(layer.activation_bytes()),
    ),
}


def layer_breakdown_info(
    spec: Any,
    *,
    metric: str = "macs",
    measured: Mapping[str, Any] | None = None,
    predicted: Mapping[str, Any] | None = None,
    skip_zero: bool = True,
) -> LayerBreakdownInfo:
    """Per-layer bars of an ArchSpec: a cost from the spec (``macs``, ``params`` or
    ``activation``), plus, when given, a measured per-operator latency breakdown
    (``{"names", "values_ms", "note"}``) and a predicted per-layer latency (same form).

    Each series carries its source in its label, so a measured bar is never mistaken for a
    predicted one. Layers with zero cost (batch norm, activations) are left out of cost series
    when ``skip_zero``.
    """
    from workbench.arch import ArchSpec, layer_costs

    if not isinstance(spec, ArchSpec):
        raise ValueError(f"expected an ArchSpec, got {type(spec).__name__}")
    if metric not in _COST_METRICS:
        raise ValueError(f"metric must be one of {', '.join(_COST_METRICS)}, got {metric!r}")
    label, unit, get = _COST_METRICS[metric]
    layers = layer_costs(spec)
    names = [layer.name for layer in layers]
    values = [get(layer) for layer in layers]
    if skip_zero:
        keep = [i for i, v in enumerate(values) if v > 0]
        names, values = [names[i] for i in keep], [values[i] for i in keep]
    series = [LayerSeries(f"{label} per layer (from the spec)", "cost", unit, names, values)]
    totals = {metric: float(sum(get(layer) for layer in layers))}
    for kind, data in (("measured", measured), ("predicted", predicted)):
        if not data:
            continue
        ms = [float(v) for v in data["values_ms"]]
        series.append(
            LayerSeries(
                str(data.get("label") or f"latency per layer ({kind})"),
                kind,
                "ms",
                list(data["names"]),
                ms,
                str(data.get("note", "")),
            )
        )
        totals[f"{kind}_ms"] = float(sum(ms))
    return LayerBreakdownInfo(spec.summary(), series, totals)


def layer_breakdown_figure(spec_or_info: Any, **kwargs: Any) -> Any:
    """Horizontal bars per layer, one panel per series (cost, measured, predicted)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    info = (
        spec_or_info
        if isinstance(spec_or_info, LayerBreakdownInfo)
        else layer_breakdown_info(spec_or_info, **kwargs)
    )
    n = len(info.series)
    fig = make_subplots(
        rows=1,
        cols=n,
        subplot_titles=[s.label for s in info.series],
        horizontal_spacing=0.18 if n > 1 else 0.1,
    )
    colors = {"cost": "#7f7f7f", "measured": "#1f77b4", "predicted": "#9467bd"}
    height = 120
    for i, s in enumerate(info.series):
        fig.add_trace(
            go.Bar(
                x=s.values,
                y=s.names,
                orientation="h",
                name=s.label,
                marker={
                    "color": colors.get(s.kind, "#7f7f7f"),
                    "pattern": {"shape": "/" if s.kind == "predicted" else ""},
                },
                showlegend=False,
                hovertemplate=f"%{{y}}: %{{x:.4g}} {s.unit} ({s.kind})<extra></extra>",
            ),
            1,
            i + 1,
        )
        fig.update_yaxes(autorange="reversed", tickfont={"size": 9}, row=1, col=i + 1)
        fig.update_xaxes(title_text=s.unit, row=1, col=i + 1)
        height = max(height, 18 * len(s.names) + 110)
    fig.update_layout(
        template="plotly_white",
        height=min(height, 900),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        title={"text": info.title, "font": {"size": 12}},
    )
    return fig
