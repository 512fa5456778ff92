"""ModelDesigner: editing, live cost and budgets, the predictor hook, real measurement on this
host, and adding the design to a real study through its own trial pipeline."""

from __future__ import annotations

import pytest

import workbench.hw
from workbench import ConfigError
from workbench.arch import ArchSpec, ConvBN, Dense, InvertedResidual, cost_summary, layer_costs
from workbench.widgets import ModelDesigner, ParetoExplorer, Prediction, default_predictor

TINY_MCU = """schema: 1
name: tiny-mcu
kind: simulated
device: mcu
threads: 1
backends: [onnxruntime]
precisions: [int8-static]
deploy: {backend: onnxruntime, precision: int8-static, format: onnx}
ram_mb: {value: 0.01, source: "test board datasheet: 10 KB SRAM"}
flash_kb: {value: 64, source: "test board datasheet"}
peak_gops: {int8-static: {value: 0.4, source: "test board datasheet"}}
memory_bandwidth_gbs: {value: 0.2, source: "test board datasheet"}
predictor:
  runtime_flash_kb: {value: 16, source: "test board's runtime build (code size)"}
"""


@pytest.fixture
def mcu_profile(tmp_path, monkeypatch):
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "tiny-mcu.yaml").write_text(TINY_MCU)
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(d))
    return "tiny-mcu"


def test_editing_blocks_updates_the_spec_and_its_cost():
    d = ModelDesigner(profiles=["host-cpu"], predictor=None)  # bars of cost from the spec
    assert d.value.input_shape == (1, 8, 8) and d.value.num_classes == 10
    d.add_block("dense")
    d.add_block("conv")  # a spatial block goes before the first dense one
    assert [b.type for b in d.value.blocks] == [
        "conv",
        "inverted_residual",
        "inverted_residual",
        "conv",
        "dense",
    ]
    d.set_block(1, out_channels=48, stride=1)
    assert d.value.blocks[1] == InvertedResidual(48, 4, 3, 1)
    d.move_block(4, -1)  # a dense block cannot precede a conv: refused, last valid spec kept
    assert d.error is not None and "cannot follow a dense block" in d.error
    assert [b.type for b in d.value.blocks][-1] == "dense"
    d.move_block(3, 1)
    assert d.error is None
    d.remove_block(0)
    assert len(d.value.blocks) == 4 and len(d.blocks_box.children) == 4
    cost = cost_summary(d.value)
    assert f"{cost.params:,}" in d.stats_html.value and f"{cost.macs:,}" in d.stats_html.value
    assert sum(d.series.values) == cost.macs and d.series.kind == "cost"
    assert f"data-n='{len(d.series.values)}'" in d.bars.value and "from the spec" in d.bars.value
    # the widgets edit the same state: a field widget change is an edit
    row = d.blocks_box.children[0]
    out_channels = next(c for c in row.children if getattr(c, "description", "") == "out_channels")
    out_channels.value = 40
    assert d.value.blocks[0].out_channels == 40


def test_invalid_edits_show_one_line_and_keep_the_last_valid_value():
    d = ModelDesigner(profiles=[])
    good = d.value
    d.set_block(0, kernel=4)
    assert (
        d.value == good
        and "blocks[0].kernel: expected an odd kernel size, got 4" in d.error_html.value
    )
    d.set_block(0, kernel=5)
    assert d.error is None and d.value.blocks[0].kernel == 5
    d.input_shape.value = "1,8,eight"
    assert "expected integers like 1,8,8" in d.error
    d.input_shape.value = "1,16,16"
    assert d.value.input_shape == (1, 16, 16)
    with pytest.raises(ConfigError, match="unknown block type 'lstm'"):
        d.add_block("lstm")
    with pytest.raises(ConfigError, match="has no field 'width'"):
        d.set_block(0, width=3)
    with pytest.raises(IndexError, match="out of range"):
        d.remove_block(9)
    with pytest.raises(ConfigError, match="unknown hardware profile 'nope'"):
        ModelDesigner(profiles=["nope"])


def test_value_round_trips_and_parameter_count_matches_pytorch():
    torch = pytest.importorskip("torch")
    from workbench.arch import build_torch

    spec = ArchSpec(
        (3, 16, 16), 5, (ConvBN(8, stride=2), InvertedResidual(16, 3, 5, 2), Dense(32)), name="mine"
    )
    d = ModelDesigner(spec, profiles=[])
    assert d.value == spec
    d.value = ArchSpec((3, 16, 16), 5, (ConvBN(12),), name="other")
    assert d.value.summary() == "other: c12k3 fc5" and d.name.value == "other"
    model = build_torch(d.value)
    assert (
        sum(p.numel() for p in model.parameters() if p.requires_grad)
        == cost_summary(d.value).params
    )
    assert isinstance(model, torch.nn.Module)


def test_budgets_of_a_profile_are_checked(mcu_profile):
    d = ModelDesigner(profiles=[mcu_profile])
    warnings = d.warnings()
    assert any(
        "memory estimate" in w
        and "exceeds the budget 0.01 MiB" in w
        and "test board datasheet" in w
        for w in warnings
    )
    assert "⚠" in d.profiles_html.value
    d.value = ArchSpec((1, 8, 8), 10, (ConvBN(4, stride=2),))
    assert d.warnings() == [] and "within every stated budget" in d.profiles_html.value
    # budgets given to the designer add to the profile's own
    d2 = ModelDesigner(profiles=["host-cpu"], budgets={"host-cpu": {"size": 1.0}})
    assert any("size estimate" in w and "given to the designer" in w for w in d2.warnings())


def test_a_cortex_m7_tensor_arena_beyond_its_sram_is_shown_broken():
    wide = ArchSpec((3, 96, 96), 10, (ConvBN(64),), name="wide")
    d = ModelDesigner(wide, profiles=["cortex-m7"])
    broken = d.warnings()
    assert len(broken) == 1 and broken[0].startswith("cortex-m7: tensor arena estimate")
    assert "exceeds the budget 512 KiB" in broken[0] and "cortex-m7.sram_kb" in broken[0]
    html = d.profiles_html.value
    assert "⚠" in html and "✗ tensor arena ≤ 512 KiB" in html and "✓ flash ≤ 2048 KiB" in html
    assert "ms predicted" in html and "calibrated: False" in html  # trust figures shown
    d.value = ArchSpec((1, 8, 8), 10, (ConvBN(4, stride=2),))
    assert d.warnings() == [] and "✓ tensor arena ≤ 512 KiB" in d.profiles_html.value
    assert "within every stated budget" in d.profiles_html.value
    # what it renders is the library's check, verdict for verdict
    assert [v.status for v in d.check().verdicts()] == ["met", "met"]


def _roofline(spec, profile, backend=None, precision=None):
    """A user-supplied predictor: 1 ms per 10 MMAC plus 5 us per layer (the hook's contract)."""
    layers = [(la.name, la.macs / 1e7 + 0.005) for la in layer_costs(spec)]
    return Prediction(
        profile.name,
        f"{backend}-{precision}",
        sum(v for _, v in layers),
        layers,
        "test roofline, uncalibrated",
    )


def test_predictor_hook_shows_predicted_latency_and_latency_budgets(mcu_profile):
    d = ModelDesigner(
        profiles=["host-cpu", mcu_profile],
        predictor=_roofline,
        budgets={mcu_profile: {"latency": 0.01}},
    )
    preds = d.predictions()
    expected = sum(la.macs / 1e7 + 0.005 for la in layer_costs(d.value))
    assert preds[mcu_profile].latency_ms == pytest.approx(expected)
    assert preds[mcu_profile].deployment == "onnxruntime-int8-static"
    assert "ms predicted" in d.profiles_html.value
    assert any(
        "predicted latency (onnxruntime-int8-static)" in w and "exceeds the budget 0.01 ms" in w
        for w in d.warnings()
    )
    assert (
        d.series.kind == "predicted"
        and "(predicted for host-cpu" in d.bars.value
        and "#9467bd" in d.bars.value
    )
    # without a predictor the designer says so instead of showing a number
    d2 = ModelDesigner(profiles=[mcu_profile], predictor=None)
    assert (
        "no predictor" in d2.profiles_html.value
        and d2.series.kind == "cost"
        and "from the spec" in d2.bars.value
    )


def test_default_predictor_wraps_the_library_predictor():
    pred = default_predictor()
    sim = workbench.hw.load_profile("raspberry-pi-5")
    spec = ArchSpec((3, 32, 32), 10, (ConvBN(16, stride=2), InvertedResidual(24, 4, 3, 2)))
    p = pred(spec, sim, sim.deploy.backend, sim.deploy.precision)
    assert p.source == "predicted" and p.latency_ms > 0 and p.layers and "uncalibrated" in p.basis
    assert p.latency_ms == pytest.approx(workbench.hw.predict_latency(spec, sim).latency_ms)
    assert (
        pred(spec, sim).deployment == "litert-int8-static"
    )  # no deployment named: the profile's recipe


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.onnxruntime
def test_measure_on_this_host_for_real():
    d = ModelDesigner(profiles=["host-cpu"])
    # the time cap stops a measurement even short of min_repeats: give a loaded machine room to
    # reach them
    res = d.measure(
        deployments=("torch-fp32", "onnxruntime-fp32"),
        measure={"min_repeats": 10, "max_time_s": 5.0, "min_time_s": 0.05},
    )
    assert [m.deployment for m in res.measurements] == ["torch-fp32", "onnxruntime-fp32"]
    assert all(m.ok and m.source == "measured" and m.latency.n >= 10 for m in res.measurements), [
        (m.deployment, m.ok, m.source, m.latency.n if m.latency else None, m.error)
        for m in res.measurements
    ]
    assert all(
        m.accuracy is None for m in res.measurements
    )  # untrained weights: no accuracy claimed
    html = d.profiles_html.value
    assert "ms measured here" in html
    assert (
        "measured on this host" in d.measure_html.value
        and "untrained weights" in d.measure_html.value
    )


@pytest.fixture(scope="module")
def one_trial_study(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from tests.widgets.conftest import tiny_study_config
    from workbench.study import run_study

    cfg = tiny_study_config(tmp_path_factory.mktemp("design"), "design", 1)
    return run_study(cfg, progress=False, measure_memory=False, write=False)


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.onnxruntime
def test_add_to_study_runs_the_study_pipeline(one_trial_study):
    res = one_trial_study
    d = ModelDesigner(study=res, profiles=["host-cpu"])
    assert d.value.input_shape == (1, 8, 8)  # the study's data decides the input
    d.value = ArchSpec((1, 8, 8), 10, (Dense(24), Dense(16)), name="by hand")
    number = d.add_to_study(measure_memory=False)
    assert number == 1 and d.added_trial == 1
    from workbench.widgets import resolve_study

    detail = resolve_study(res).trial(number)
    assert detail.state == "COMPLETE" and detail.designed
    assert detail.spec == d.value
    keys = detail.keys()
    assert keys == sorted(
        f"host-cpu/torch/{dep}"
        for dep in ("torch-fp32", "onnxruntime-fp32", "onnxruntime-int8-static")
    )
    m = detail.measurement("host-cpu/torch/onnxruntime-int8-static")
    assert m.ok and m.source == "measured" and m.receipt["warmup"] == 2 and m.meta["artifact_id"]
    assert 0 < m.accuracy <= 1 and detail.user_attrs["train"]["epochs"] >= 1
    assert "added as trial <b>1</b>" in d.job_status.value
    # it appears on the explorer beside the searched trial, drawn as a star
    ex = ParetoExplorer(res)
    assert ex.designed.tolist() == [False, True]
    star = [s for s in ex.info.series if s.designed.any()]
    assert star and all(int(ex.index.numbers[r]) == 1 for s in star for r in s.rows[s.designed])
    # a spec for other data is refused before anything runs
    d.value = ArchSpec((64,), 10, (Dense(8),))
    with pytest.raises(
        ConfigError,
        match=r"takes \(64,\) with 10 classes, but study 'design' uses data of shape \(1, 8, 8\)",
    ):
        d.add_to_study()
