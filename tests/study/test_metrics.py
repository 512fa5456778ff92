"""The metric registry: one row per metric, read by every front end."""

from __future__ import annotations

import pytest

from workbench._errors import UnknownNameError
from workbench.study import (
    METRICS,
    POINT_FIELDS,
    get_metric,
    load_index,
    load_results,
    metric_for_field,
    metric_names,
    open_study,
)


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        get_metric("speed")
    msg = str(err.value)
    assert msg.startswith("unknown metric 'speed'; known: ")
    assert all(name in msg for name in METRICS)
    assert isinstance(err.value, KeyError)


def test_rows_name_fields_directions_and_units():
    size = get_metric("size")
    assert (size.field, size.direction, size.unit, size.display_unit) == (
        "size_bytes",
        "minimize",
        "bytes",
        "KiB",
    )
    assert size.title == "size on disk (KiB)" and size.stored_title == "size on disk (bytes)"
    assert size.scale * 1024 == 1.0 and get_metric("memory").scale * 2**20 == 1.0
    assert get_metric("accuracy").bound_op == ">=" and get_metric("latency").bound_op == "<="
    assert get_metric("latency").title == "latency p50 (ms)"
    assert get_metric("macs").title == "MACs (millions)"
    assert metric_names() == list(METRICS) and metric_names()[:2] == ["accuracy", "latency"]
    assert metric_for_field("latency_p50_ms") is get_metric("latency")
    assert metric_for_field("size") is get_metric("size")
    assert metric_for_field("latency_p99_ms") is None


@pytest.fixture(scope="module")
def synthetic_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from workbench.study import make_synthetic_study

    url = f"sqlite:///{tmp_path_factory.mktemp('syn') / 'syn.db'}"
    make_synthetic_study(url, "syn", 20, profiles=("host-cpu",), seed=1)
    return url


def test_every_front_end_metric_is_registered(synthetic_url):
    from workbench.report._study_figures import Constraint
    from workbench.server._views import AXES, axis_for_metric
    from workbench.widgets._explorer import _BUDGET_FIELDS

    assert list(AXES) == list(METRICS)
    assert all(AXES[n] == (m.label, m.unit, m.direction) for n, m in METRICS.items())
    assert axis_for_metric("peak_memory_bytes") == "memory" and axis_for_metric("x") is None
    assert set(_BUDGET_FIELDS) <= set(METRICS)
    assert Constraint.make("size", 8).label == "size ≤ 8 KiB"
    # the fields the registry reads exist in the results rows and the index tables
    results = load_results(open_study("syn", synthetic_url))
    row = next(r for r in results.rows() if r.get("key"))
    assert all(m.field in row for m in METRICS.values())
    index = load_index(synthetic_url, "syn")
    key = index.keys()[0]
    for m in METRICS.values():
        assert m.field in POINT_FIELDS or m.field in ("params", "macs")
        assert len(index.column(key, m.name)) == len(index)
