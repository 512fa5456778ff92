"""The explorer on a real study: receipts from this host, per-operator time measured with ONNX
Runtime's profiler, and exported artifacts that are the very files that were measured."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.widgets.test_explorer import send_points
from workbench.widgets import ParetoExplorer

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

INT8 = "host-cpu/torch/onnxruntime-int8-static"


@pytest.fixture
def explorer(real_run, tmp_path):
    return ParetoExplorer(
        real_run, export_dir=tmp_path / "exports", deployment="onnxruntime-int8-static"
    )


def _accuracy(path, data) -> float:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = s.run(None, {s.get_inputs()[0].name: data.x_test})[0]
    return float((logits.argmax(axis=1) == data.y_test).mean())


def test_click_shows_this_hosts_receipt_and_exports_the_measured_artifact(
    explorer, real_run, tmp_path
):
    from workbench.data import load_data
    from workbench.hw import host_info

    fig = explorer.figure
    ti = [t.meta["role"] for t in fig.data].index("measured")
    send_points(fig, "plotly_click", [(ti, 0)])
    trial, key = explorer.picked
    assert key == INT8
    receipt = explorer.detail.receipt_html.value
    assert (
        host_info().cpu_model in receipt
        and "latency method" in receipt
        and "interleaved with" in receipt
    )
    assert "int8 scheme" in receipt and "this artifact's own" in receipt
    assert (
        not explorer.detail.export_button.disabled and not explorer.detail.profile_button.disabled
    )
    path = explorer.detail.export(tmp_path / "one")
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    m = sidecar["measurement"]
    assert path.suffix == ".onnx" and path.stat().st_size == m["size_bytes"]
    # the exported file is the artifact that was measured: same accuracy on the same test split
    data = load_data(real_run.results.study_attrs["config"]["data"])
    assert _accuracy(path, data) == pytest.approx(m["accuracy"], abs=1e-9)
    assert sidecar["spec"] == real_run.study.trials[trial].user_attrs["spec"]


def test_per_operator_time_is_measured_with_the_onnx_runtime_profiler(explorer):
    fig = explorer.figure
    ti = [t.meta["role"] for t in fig.data].index("front")
    send_points(fig, "plotly_click", [(ti, 0)])
    prof = explorer.detail.profile_operators(runs=20, warmup=3)
    assert prof.runs >= 3 and len(prof.names) >= 2
    assert all(v >= 0 for v in prof.median_us)
    assert prof.total_ms <= prof.run_median_ms * 1.5  # kernels fit within the runs they belong to
    assert any(
        t
        in (
            "MatMul",
            "Gemm",
            "MatMulInteger",
            "QLinearMatMul",
            "QuantizeLinear",
            "DequantizeLinear",
        )
        for t in prof.op_types
    )
    assert explorer.detail.source.value == "measured"
    series = explorer.detail.series
    assert series.kind == "measured" and series.values == pytest.approx(
        [v / 1000 for v in prof.median_us]
    )
    assert (
        "measured, ONNX Runtime profiler" in explorer.detail.bars.value
        and "data-kind='measured'" in explorer.detail.bars.value
    )
    assert "measured on this host" in explorer.detail.breakdown_note.value


def test_pareto_export_writes_every_front_artifact(explorer, tmp_path):
    res = explorer.export_pareto(tmp_path / "front")
    points = explorer.pareto_points()
    assert len(res.files) == len(points) and not res.missing
    manifest = json.loads(res.manifest.read_text())["points"]
    assert {(p["trial"], p["key"]) for p in manifest} == set(points)
    for p in manifest:
        assert (tmp_path / "front" / p["file"]).stat().st_size > 0 and p["source"] == "measured"


def test_every_deployment_and_failure_free_points(real_run):
    ex = ParetoExplorer(real_run)
    assert ex.info.keys == [
        f"host-cpu/torch/{d}" for d in ("torch-fp32", "onnxruntime-fp32", "onnxruntime-int8-static")
    ]
    assert ex.info.n_points == 3 * 3
    # memory was not measured in this study: a memory budget excludes every point, saying so
    ex.set_constraints({"memory": 100})
    assert ex.info.n_feasible == 0 and "0 within memory ≤ 100 MiB" in ex.status.value.replace(
        ",", ""
    )
    assert np.isnan(ex.index.tables[INT8]["peak_memory_bytes"]).all()
