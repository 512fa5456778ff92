"""The explorer overlays the check saved beside its study: the baseline's and the candidate's
points as timed in the check, the regressed point ringed with its verdict, behind a toggle."""

from __future__ import annotations

import pytest

from workbench.report import CHECK_MARKS
from workbench.widgets import ParetoExplorer

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]
KEY = "host-cpu/torch/onnxruntime-fp32"


def named(explorer: ParetoExplorer) -> dict[str, object]:
    names = {mark["name"] for mark in CHECK_MARKS.values()}
    return {t.name: t for t in explorer.figure.data if t.name in names}


def test_the_explorer_overlays_the_saved_check(worse_check, worse_config):
    ex = ParetoExplorer("worse", worse_config.storage_url(), predictor=None)
    assert ex.check is not None and ex.show_check.value
    traces = named(ex)
    assert {"baseline (check)", "candidate (check)", "regression (check)"} <= set(traces)

    point = next(p for p in worse_check.points if p.key == KEY)
    cand = next(
        t for t in worse_check.timed if t.label == f"candidate:{point.candidate_trial}:{KEY}"
    )
    base = next(t for t in worse_check.timed if t.label == f"baseline:{point.baseline_trial}:{KEY}")
    ring = traces["regression (check)"]
    j = list(ring.customdata).index(cand.trial)
    assert ring.x[j] == pytest.approx(cand.latency_p50_ms)
    assert ring.y[j] == pytest.approx(cand.accuracy)
    assert ring.marker.symbol == CHECK_MARKS["regression"]["marker"]["symbol"]
    assert "verdict: regression" in ring.text[j] and "latency regression" in ring.text[j]
    bt = traces["baseline (check)"]
    i = list(bt.customdata).index(base.trial)
    assert bt.x[i] == pytest.approx(base.latency_p50_ms)
    assert bt.marker.symbol == CHECK_MARKS["baseline"]["marker"]["symbol"]
    # only the drawn deployments' points
    assert {k for s in ex.info.overlay.series for k in s.keys} <= set(ex.info.keys)
    other = next(d for d in ex.index.deployments() if d != "onnxruntime-fp32")
    ex.deployment.value = other
    assert {k for s in ex.info.overlay.series for k in s.keys} <= {f"host-cpu/torch/{other}"}
    assert "baseline (check)" in named(ex)
    ex.deployment.value = "*"
    # a check's point is not a study point: clicks and selections skip it
    ring = named(ex)["regression (check)"]
    ti, j = list(ex.figure.data).index(ring), list(ring.customdata).index(cand.trial)
    assert not ex.view.indexed(ti, j)
    assert "regression" in ex.check_status.value

    ex.show_check.value = False
    assert not named(ex)
    ex.show_check.value = True
    assert "regression (check)" in named(ex)
    assert not named(ParetoExplorer("worse", worse_config.storage_url(), check=False))


def test_a_malformed_saved_check_is_one_line_in_the_explorer(worse_check, worse_config):
    saved = worse_check.path
    good = saved.read_text()
    try:
        saved.write_text('{"schema": 2}')
        ex = ParetoExplorer("worse", worse_config.storage_url(), predictor=None)
        assert ex.check is None and not ex.show_check.value and not named(ex)
        assert str(saved) in ex.check_status.value and "missing field" in ex.check_status.value
    finally:
        saved.write_text(good)
