"""The plain figure functions behind the widgets: what they draw, checked against independent
computations (Optuna-free Pareto sweeps, the full StudyResults path), and that they render."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.widgets.conftest import SYN_PROFILES
from workbench.report import (
    explorer_figure,
    explorer_info,
    layer_breakdown_figure,
    layer_breakdown_info,
)
from workbench.report._study_figures import (
    _key_label,
    explorer_layout,
    explorer_trace_dicts,
    figures_text,
    hover,
)
from workbench.study import METRICS, load_index, load_results, open_study


@pytest.fixture(scope="module")
def index(synthetic_url):
    return load_index(synthetic_url, "syn")


def test_fronts_equal_the_full_results_path(index, synthetic_url):
    """Per deployment, the explorer's front is the set StudyResults.front computes from every
    trial."""
    results = load_results(open_study("syn", synthetic_url))
    info = explorer_info(
        index, x="latency", y="accuracy", profile="host-cpu", color_by="deployment"
    )
    assert info.keys == [k for k in index.tables if k.startswith("host-cpu/")]
    for s in info.series:
        if s.role != "front":
            continue
        key = info.keys[int(s.keyidx[0])]
        assert {info.keys[k] for k in s.keyidx} == {key}
        ours = sorted(int(index.numbers[r]) for r in s.rows)
        assert ours == sorted(results.front(key, "latency", "accuracy").trials)
        assert (np.diff(s.x) >= 0).all()  # drawn in x order
    # every ok point of every shown key is drawn exactly once among measured/predicted traces
    drawn = sum(len(s.rows) for s in info.series if s.role in ("measured", "predicted"))
    assert drawn == info.n_points == sum(len(index.points(k)[0]) for k in info.keys)


def test_predicted_points_are_hollow_and_labelled(index):
    info = explorer_info(index, profile=SYN_PROFILES[1])
    roles = {s.role for s in info.series if len(s.rows)}
    assert "predicted" in roles and "measured" not in roles
    traces = explorer_trace_dicts(info)
    pred = [t for t in traces if t["meta"]["role"] == "predicted" and len(t["x"])]
    assert pred and all(t["marker"]["symbol"] == "circle-open" for t in pred)
    assert all(t["type"] == "scattergl" for t in traces)
    assert "(predicted)" in pred[0]["hovertext"][0] and "p90" in pred[0]["hovertext"][0]
    front = [t for t in traces if t["meta"]["role"] == "front"]
    assert front and all(
        t["marker"]["symbol"] in ("diamond-open",) or set(t["marker"]["symbol"]) == {"diamond-open"}
        for t in front
    )


def test_hover_shows_architecture_figures_and_spread(index):
    info = explorer_info(index, profile="host-cpu")
    s = next(s for s in info.series if s.role == "measured" and len(s.rows))
    customdata, text, figures, template = hover(info, s)
    key = info.keys[int(s.keyidx[0])]
    row, t = s.rows[7], index.tables[key]
    assert text[7] == index.arch[row] and customdata[7] == index.numbers[row]
    assert (
        f"p50 {t['latency_p50_ms'][row]:.4g} ms · p90 {t['latency_p90_ms'][row]:.4g} ms (measured)"
        in figures[7]
    )
    assert (
        f"acc {t['accuracy'][row]:.4f}" in figures[7]
        and "KiB" in figures[7]
        and "MACs" in figures[7]
    )
    assert (
        template
        == f"<b>trial %{{customdata}}</b> · {_key_label(key)}<br>%{{text}}<br>%{{hovertext}}"
    )
    assert figures_text(index, key) is figures_text(index, key)  # built once per key
    # several deployments in one trace: each point names its own; predicted figures say so
    mixed = explorer_info(index, profile=None, color_by="framework", constraints={"latency": 1e-6})
    s = next(s for s in mixed.series if s.role == "excluded")
    assert s.predicted.any() and not s.predicted.all()
    _cd, text, figures, template = hover(mixed, s)
    assert "%{customdata}</b><br>" in template
    assert "(predicted)" in figures[s.predicted][0] and "(measured)" in figures[~s.predicted][0]
    assert text[0].startswith(_key_label(mixed.keys[int(s.keyidx[0])]) + "<br>")


def test_missing_figures_show_as_not_available(index):
    key = index.keys()[1]
    saved = index.tables[key]["peak_memory_bytes"].copy()
    try:
        index.tables[key]["peak_memory_bytes"][:] = np.nan
        index.__dict__.pop("_explorer_cache", None)
        info = explorer_info(index, profile="host-cpu", deployment=key.split("/", 2)[2])
        s = next(s for s in info.series if s.role == "measured")
        _cd, _text, figures, _template = hover(info, s)
        assert all("peak mem n/a MiB" in f for f in figures[:5])
    finally:
        index.tables[key]["peak_memory_bytes"][:] = saved
        index.__dict__.pop("_explorer_cache", None)


def test_constraints_exclude_exactly_the_violating_points(index):
    bound_lat, bound_acc = 0.3, 0.9
    info = explorer_info(
        index, profile="host-cpu", constraints={"latency": bound_lat, "accuracy": bound_acc}
    )
    expected_ok = 0
    for k in info.keys:
        _rows, xs, ys, _ = index.points(k)
        expected_ok += int(((xs <= bound_lat) & (ys >= bound_acc)).sum())
    assert info.n_feasible == expected_ok
    excluded = sum(len(s.rows) for s in info.series if s.role == "excluded")
    assert excluded == info.n_points - expected_ok
    for s in info.series:
        if s.role in ("measured", "predicted", "front"):
            assert (s.x <= bound_lat).all() and (s.y >= bound_acc).all()
    labels = [c.label for c in info.constraints]
    assert labels == ["latency ≤ 0.3 ms", "accuracy ≥ 0.9"]
    # the budgets on the two axes are drawn as lines, labelled
    layout = explorer_layout(info)
    assert len(layout["shapes"]) == 2
    assert {s["x0"] for s in layout["shapes"] if s["xref"] == "x"} == {bound_lat}
    assert any("budget: latency ≤ 0.3 ms" in a["text"] for a in layout["annotations"])


def test_unknown_values_are_excluded_by_a_budget_on_them(index):
    """A point whose constrained figure is unknown cannot be shown to meet the budget."""
    key = index.keys()[0]
    saved = index.tables[key]["peak_memory_bytes"].copy()
    try:
        index.tables[key]["peak_memory_bytes"][:10] = np.nan
        info = explorer_info(
            index, profile="host-cpu", deployment=key.split("/", 2)[2], constraints={"memory": 1e9}
        )
        assert info.n_points - info.n_feasible == 10
    finally:
        index.tables[key]["peak_memory_bytes"][:] = saved


def test_colour_by_profile_and_facets(index):
    info = explorer_info(index, profile=None, color_by="profile", facet_by="deployment")
    assert info.groups == list(SYN_PROFILES)
    assert info.facets == index.deployments()
    assert {s.facet for s in info.series} == set(range(len(info.facets)))
    layout = explorer_layout(info, max_facets=6)
    visible = [k for k, v in layout.items() if k.startswith("xaxis") and v["visible"]]
    assert len(visible) == len(info.facets)
    assert layout["xaxis6"]["visible"] is False  # spare axes let a live figure refacet by relayout
    assert [a["text"] for a in layout["annotations"]] == [f"<b>{d}</b>" for d in info.facets]
    traces = explorer_trace_dicts(info)
    assert {t["xaxis"] for t in traces} == {"x", "x2", "x3", "x4"}


def test_axes_carry_objective_names_and_units(index):
    info = explorer_info(index, x="size", y="memory")
    layout = explorer_layout(info)
    assert layout["xaxis"]["title"]["text"] == "size on disk (KiB)" == METRICS["size"].title
    assert layout["yaxis"]["title"]["text"] == "peak memory (MiB)"
    key = info.keys[0]
    s = next(s for s in info.series if s.role == "measured" and len(s.rows))
    assert np.allclose(s.x, index.tables[info.keys[int(s.keyidx[0])]]["size_bytes"][s.rows] / 1024)
    assert key.startswith("host-cpu/")


def test_bad_arguments_name_what_is_expected(index):
    with pytest.raises(
        ValueError, match="unknown objective 'speed'; expected one of: accuracy, latency"
    ):
        explorer_info(index, x="speed")
    with pytest.raises(
        ValueError, match="unknown profile 'nope'; this study has: host-cpu, edge-sim"
    ):
        explorer_info(index, profile="nope")
    with pytest.raises(ValueError, match="color_by must be one of"):
        explorer_info(index, color_by="colour")
    with pytest.raises(ValueError, match="bound of the latency constraint must be a finite number"):
        explorer_info(index, constraints={"latency": float("nan")})


def test_explorer_figure_is_a_plain_plotly_figure(index, synthetic_url, tmp_path):
    fig = explorer_figure(
        "syn", storage=synthetic_url, facet_by="deployment", constraints={"latency": 0.5}
    )
    assert isinstance(fig, go.Figure)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    out = tmp_path / "explorer.html"
    fig.write_html(out, include_plotlyjs="cdn")
    html = out.read_text()
    assert "scattergl" in html and "size on disk" not in html and "latency p50 (ms)" in html
    same = explorer_figure(index, facet_by="deployment", constraints={"latency": 0.5})
    assert [len(t.x) for t in same.data] == [len(t.x) for t in fig.data]
    with pytest.raises(ValueError, match="needs its storage"):
        explorer_figure("syn")


def test_layer_breakdown_sums_to_the_spec_cost():
    from workbench.arch import ArchSpec, ConvBN, InvertedResidual, cost_summary

    spec = ArchSpec(
        (3, 32, 32),
        10,
        (ConvBN(16, stride=2), InvertedResidual(24, 4, 3, 2), InvertedResidual(24, 4, 3)),
    )
    cost = cost_summary(spec)
    info = layer_breakdown_info(spec, metric="macs")
    assert sum(info.series[0].values) == cost.macs
    assert info.series[0].label == "MACs per layer (from the spec)"
    p = layer_breakdown_info(spec, metric="params")
    assert sum(p.series[0].values) == cost.params
    measured = {
        "names": ["Conv a", "Conv b"],
        "values_ms": [0.1, 0.2],
        "label": "latency per operator (measured, ONNX Runtime profiler)",
    }
    predicted = {
        "names": ["blocks.0.conv"],
        "values_ms": [0.05],
        "label": "latency per layer (predicted for x)",
    }
    both = layer_breakdown_info(spec, measured=measured, predicted=predicted)
    assert [s.kind for s in both.series] == ["cost", "measured", "predicted"]
    assert both.totals["measured_ms"] == pytest.approx(0.3)
    fig = layer_breakdown_figure(both)
    assert isinstance(fig, go.Figure) and len(fig.data) == 3
    assert [a.text for a in fig.layout.annotations] == [s.label for s in both.series]
    with pytest.raises(ValueError, match="metric must be one of"):
        layer_breakdown_info(spec, metric="flops")
