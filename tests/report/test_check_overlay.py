"""A saved check drawn in the HTML report: the baseline's points as timed in the check beside the
candidate's, the regressed point ringed with its verdict in the hover, a table of the findings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from workbench.check import check_path
from workbench.cli import main
from workbench.report import CHECK_MARKS, render_report

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]
KEY = "host-cpu/torch/onnxruntime-fp32"


def plotly_figures(page: str) -> list[dict[str, Any]]:
    """Every figure's traces and layout, decoded from the ``Plotly.newPlot`` calls of a page."""
    decoder = json.JSONDecoder()
    figures = []
    for m in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", page):
        data, end = decoder.raw_decode(page, m.end())
        rest = page[end:].lstrip()[1:].lstrip()
        layout, _ = decoder.raw_decode(rest)
        figures.append({"data": data, "layout": layout})
    return figures


def check_traces(page: str) -> dict[str, dict[str, Any]]:
    names = {mark["name"] for mark in CHECK_MARKS.values()}
    out: dict[str, dict[str, Any]] = {}
    for fig in plotly_figures(page):
        for trace in fig["data"]:
            if trace.get("name") in names:
                out[trace["name"]] = trace
    return out


def test_the_report_draws_the_saved_check(worse_check, worse_config, capsys):
    assert main(["show", "worse", "--out", str(worse_config.out_dir), "--report"]) == 0
    page = (worse_config.run_dir / "report.html").read_text()
    traces = check_traces(page)
    assert {"baseline (check)", "candidate (check)", "regression (check)"} <= set(traces)

    point = next(p for p in worse_check.points if p.key == KEY)
    base = next(t for t in worse_check.timed if t.label == f"baseline:{point.baseline_trial}:{KEY}")
    cand = next(
        t for t in worse_check.timed if t.label == f"candidate:{point.candidate_trial}:{KEY}"
    )
    bt = traces["baseline (check)"]
    i = bt["customdata"].index(base.trial)
    assert bt["x"][i] == pytest.approx(base.latency_p50_ms)
    assert bt["y"][i] == pytest.approx(base.accuracy)
    assert bt["marker"]["symbol"] == CHECK_MARKS["baseline"]["marker"]["symbol"]
    assert bt["error_x"]["arrayminus"][i] == pytest.approx(
        base.latency_p50_ms - base.latency_low_ms
    )

    ring = traces["regression (check)"]
    j = ring["customdata"].index(cand.trial)
    assert ring["x"][j] == pytest.approx(cand.latency_p50_ms)
    assert ring["marker"]["symbol"] == "circle-open"
    assert "verdict: regression" in ring["text"][j] and "latency regression" in ring["text"][j]

    table = page[page.index("<table class='check'>") :]
    table = table[: table.index("</table>")]
    lat = point.metric("latency")
    assert lat is not None and lat.ratio is not None
    assert f"{lat.ratio:.3g}x [{lat.ratio_low:.3g}, {lat.ratio_high:.3g}]" in table
    assert "McNemar p=" in table and point.name in table
    assert str(check_path(worse_config.run_dir.resolve())) in page


def test_a_report_without_or_with_a_malformed_check(worse_check, worse_run, tmp_path):
    assert not check_traces(render_report(worse_run.results, check=False))
    saved = worse_check.path
    good = saved.read_text()
    try:
        saved.write_text("{not json")
        page = render_report(worse_run.results)
        assert not check_traces(page)
        assert f"{saved}: the check result is not JSON" in page
    finally:
        saved.write_text(good)
    assert "regression (check)" in check_traces(render_report(worse_run.results))
