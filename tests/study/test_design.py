"""check_design: a hand-designed spec on real profiles, with the rules a study's pre-filter applies
(the same figures, bounds and verdicts), labelled measured/predicted, each bound with its source."""

import pytest
import yaml

from tests.conftest import tiny_config_dict
from workbench import ConfigError
from workbench.arch import ArchSpec, ConvBN, Dense, InvertedResidual
from workbench.hw import load_profile
from workbench.study import (
    Budget,
    DesignCheck,
    PredictedLatency,
    check_design,
    default_predictor,
    load_config,
)
from workbench.study._constraints import budgets_for, evaluate_constraints
from workbench.study._feasibility import prefilter_figures, recipe_of

SMALL = ArchSpec((1, 8, 8), 10, (ConvBN(4, stride=2),), name="small")
MEDIUM = ArchSpec((3, 32, 32), 10, (ConvBN(16, stride=2), InvertedResidual(24, 4, 3, 2)))
#: 96 x 96 x (3 + 64) int8 activations live at once: beyond the Cortex-M7's 512 KiB SRAM block
WIDE = ArchSpec((3, 96, 96), 10, (ConvBN(64),), name="wide")


def _by_metric(check: DesignCheck, profile: str) -> dict:
    return {v.metric: v for v in check[profile].verdicts}


def test_a_cortex_m7_tensor_arena_is_checked_against_its_sram():
    small = check_design(SMALL, ["cortex-m7"])
    wide = check_design(WIDE, ["cortex-m7"])
    s, w = _by_metric(small, "cortex-m7"), _by_metric(wide, "cortex-m7")
    assert set(s) == {"arena_bytes", "flash_bytes"}  # the device's own limits, unwritten
    assert s["arena_bytes"].status == "met" and s["flash_bytes"].status == "met" and small.feasible
    arena = w["arena_bytes"]
    assert arena.status == "broken" and not wide.feasible
    assert arena.value > arena.bound == 512 * 1024 and arena.from_device
    assert arena.value_source == "predicted" and "cortex-m7.sram_kb" in arena.bound_source
    assert "ST DS12110" in arena.bound_source  # the bound's datasheet source comes along
    assert [v.metric for v in wide.broken()] == ["arena_bytes"]
    r = wide["cortex-m7"]
    assert r.deployment == "litert-int8-static" and r.kind == "simulated"
    assert r.figures["arena_bytes"].value == arena.value
    assert r.figures["arena_bytes"].note.startswith("predicted: estimate")


def test_a_simulated_profile_is_predicted_and_says_so_with_trust_figures():
    check = check_design(MEDIUM, ["raspberry-pi-5", "cortex-m7"])
    for r in check.recipes:
        assert {f.source for f in r.figures.values()} == {"predicted"}
        lat = r.figures["latency_ms"]
        assert lat.value > 0 and lat.label == "predicted latency"
        assert "uncalibrated" in lat.note
        assert r.trust["calibrated"] is False and "validated_on_device" in r.trust
        assert r.prediction is not None and r.prediction.layers
        assert r.to_dict()["trust"] == dict(r.trust)
    assert check["raspberry-pi-5"].figures["memory_bytes"].label == "memory estimate"


@pytest.mark.parametrize(
    ("key", "within", "beyond", "metric"),
    [
        ("latency_ms", 1e3, 1e-6, "latency_ms"),
        ("memory_mb", 1e4, 1.0, "memory_bytes"),
        ("size_kb", 1e4, 1.0, "size_bytes"),
    ],
)
def test_each_budget_kind_within_and_beyond(key, within, beyond, metric):
    for bound, status in ((within, "met"), (beyond, "broken")):
        check = check_design(MEDIUM, ["raspberry-pi-5"], budgets={"raspberry-pi-5": {key: bound}})
        v = _by_metric(check, "raspberry-pi-5")[metric]
        assert v.status == status, (key, bound, v)
        if metric != "memory_bytes" or status == "broken":  # the 8 GB RAM is tighter than 1e4 MB
            assert v.bound_source == "budgets passed in" and not v.from_device
    with pytest.raises(ConfigError, match="unknown key 'speed'; expected one of: latency_ms"):
        check_design(MEDIUM, ["raspberry-pi-5"], budgets={"raspberry-pi-5": {"speed": 1}})


def test_the_verdicts_are_the_study_prefilters(tmp_path):
    """Same figures and verdicts as the study's pre-filter and evaluate_constraints give."""
    prof = load_profile("raspberry-pi-5")
    for spec in (SMALL, MEDIUM):
        for given in (Budget(prof.name, latency_ms=0.01), Budget(prof.name, latency_ms=100.0)):
            budget = budgets_for(prof, given)
            dep = recipe_of(prof, ())
            fig = prefilter_figures(
                spec,
                prof,
                dep,
                budget=budget,
                build=lambda: None,  # simulated, no size budget: nothing is built
                workdir=tmp_path,
                calibration=[],
                settings=None,
                memory=None,
            )
            expected = evaluate_constraints(fig, budget)
            check = check_design(spec, [prof], budgets={prof.name: given})
            got = check[prof.name].verdicts
            assert [(v.metric, v.value, v.bound, v.status == "met") for v in got] == [
                (c.key.split(":")[1], c.value, c.limit, c.ok) for c in expected
            ]
            assert check.feasible == all(c.ok for c in expected)
            assert check[prof.name].figures["latency_ms"].value == fig.latency_ms


def test_bounds_from_a_study_config_and_the_tightest_wins(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text(
        yaml.safe_dump(
            tiny_config_dict(
                hardware=["host-cpu", "x86-server-avx512"],
                constraints={"x86-server-avx512": {"latency_ms": 50, "memory_mb": 64}},
            )
        )
    )
    cfg = load_config(p)
    check = check_design(MEDIUM, cfg.hardware, config=cfg)
    v = _by_metric(check, "x86-server-avx512")
    assert v["latency_ms"].bound_source == "study config (constraints.x86-server-avx512)"
    assert v["memory_bytes"].bound == 64 * 2**20  # tighter than the server's RAM
    assert check["host-cpu"].verdicts == []  # nothing bounds the host
    tighter = check_design(
        MEDIUM, cfg.hardware, config=cfg, budgets={"x86-server-avx512": {"latency_ms": 1e-6}}
    )
    lat = _by_metric(tighter, "x86-server-avx512")["latency_ms"]
    assert lat.bound == 1e-6 and lat.bound_source == "budgets passed in" and lat.status == "broken"


def test_the_predictor_hook_and_no_predictor():
    def fixed(spec, profile, backend=None, precision=None):
        return PredictedLatency(profile.name, f"{backend}-{precision}", 7.0, [("all", 7.0)], "test")

    budgets = {"cortex-m7": {"latency_ms": 5}}
    check = check_design(SMALL, ["cortex-m7"], budgets=budgets, predictor=fixed)
    lat = _by_metric(check, "cortex-m7")["latency_ms"]
    assert lat.status == "broken" and lat.value == 7.0 and lat.value_source == "predicted"
    assert check["cortex-m7"].figures["latency_ms"].note == "predicted: test"
    none = check_design(SMALL, ["cortex-m7"], budgets=budgets, predictor=None)
    assert _by_metric(none, "cortex-m7")["latency_ms"].status == "unknown"
    assert not none.feasible  # a study counts a figure it cannot obtain as violated

    def broken(*_a):
        raise RuntimeError("no model for this device\nsecond line")

    failed = check_design(SMALL, ["cortex-m7"], predictor=broken)
    assert failed["cortex-m7"].figures["latency_ms"].note == (
        "no prediction: RuntimeError: no model for this device"
    )
    with pytest.raises(ConfigError, match="predictor must be 'default'"):
        check_design(SMALL, ["cortex-m7"], predictor="roofline")


def test_the_default_predictor_is_the_studys_prediction():
    from workbench.study._feasibility import predict_recipe_latency

    prof = load_profile("cortex-m7")
    spec = ArchSpec((1, 16, 16), 4, (ConvBN(8, stride=2), Dense(16)))
    p = default_predictor()(spec, prof)
    assert p.deployment == "litert-int8-static" and p.source == "predicted"
    assert p.latency_ms == predict_recipe_latency(spec, prof, None, None).latency_ms
    assert p.breakdown()["note"].startswith("predicted, not measured")


def test_a_measurement_of_the_recipe_replaces_the_predictions():
    from workbench.bench import LatencyStats, Measurement

    lat = LatencyStats(2.0, 2.5, 3.0, 2.1, 0.2, 1.9, 50, 1.95, 2.05)
    host = load_profile("host-cpu")
    recipe = f"{host.deploy.backend}-{host.deploy.precision}"
    other = Measurement("host-cpu", "torch", "torch", "fp32", latency=lat, size_bytes=1)
    m = Measurement(
        "host-cpu",
        "torch",
        host.deploy.backend,
        host.deploy.precision,
        latency=lat,
        size_bytes=40_000,
        peak_memory_bytes=30 * 2**20,
    )
    budgets = {"host-cpu": {"latency_ms": 1.0, "size_kb": 100}}
    # a measurement of another deployment is not the recipe's: its figures stay predicted
    not_recipe = check_design(MEDIUM, [host], budgets=budgets, measurements=[other])
    assert not_recipe["host-cpu"].figures["latency_ms"].source == "predicted"
    check = check_design(MEDIUM, [host], budgets=budgets, measurements=[other, m])
    r = check["host-cpu"]
    assert r.deployment == recipe and r.kind == "measured" and r.prediction is None
    assert {k: f.source for k, f in r.figures.items()} == {
        "latency_ms": "measured",
        "memory_bytes": "measured",
        "size_bytes": "measured",
    }
    v = _by_metric(check, "host-cpu")
    assert v["latency_ms"].status == "broken" and v["latency_ms"].value == 2.0
    assert v["latency_ms"].value_source == "measured"
    assert v["size_bytes"].status == "met" and v["size_bytes"].value == 40_000
