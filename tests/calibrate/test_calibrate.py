"""Calibration: the fit recovers known terms, files round-trip, stale files are refused, a real
calibration and accuracy run on this host (tiny populations), and interleaved timing."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import REPO
from workbench import ConfigError
from workbench.calibrate import (
    Calibration,
    accuracy_figures,
    calibration_candidates,
    calibration_status,
    find_calibration,
    fit_params,
    load_calibration,
    save_calibration,
    user_calibration_dir,
)
from workbench.calibrate._population import (
    _CALIBRATION_STREAM,
    FAMILY_NAMES,
    _population,
    calibration_population,
    heldout_population,
    situations,
)
from workbench.hw import default_params, load_profile, ops_from_spec, predict_latency, predict_ops


@pytest.fixture
def profile_dir(tmp_path, monkeypatch):
    """A writable folder holding a copy of host-cpu.yaml, and a private user calibration folder."""
    d = tmp_path / "profiles"
    d.mkdir()
    shutil.copy(REPO / "hwprofiles" / "host-cpu.yaml", d / "host-cpu.yaml")
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(d))
    monkeypatch.setenv("WORKBENCH_CALIBRATION_DIR", str(tmp_path / "user-calibrations"))
    return d


def test_populations_are_realistic_and_disjoint():
    cal = calibration_population(20)
    held = heldout_population(30, calibration=cal)
    assert len(cal) == 20 and len(held) == 30
    assert not {s.hash for s in cal} & {s.hash for s in held}
    assert {s.family for s in cal} == {"mobilenet", "resnet", "cnn"}
    sizes = {s.input_shape[1] for s in cal + held}
    assert min(sizes) <= 48 and max(sizes) >= 192
    assert calibration_population(20) == cal  # seeded: the same every time
    assert heldout_population(30, exclude={held[0].hash})[0].hash != held[0].hash


def test_the_calibration_set_is_chosen_to_cover_every_kernel_situation_the_held_out_set_meets():
    cal = calibration_population(20)
    covered = set().union(*(situations(s) for s in cal))
    held = heldout_population(30, calibration=cal)
    assert [s.name for s in held if situations(s) - covered] == []
    # the same number of models in draw order leaves a third of the held-out ones meeting something
    # new
    plain = _population(20, _CALIBRATION_STREAM, 0, set(), FAMILY_NAMES)
    seen = set().union(*(situations(s) for s in plain))
    assert sum(1 for s in held if situations(s) - seen) >= 5
    assert ("pool", "maxpool", "tail") in covered and ("pool", "avgpool", "") in covered


def test_the_fit_recovers_terms_that_generated_the_latencies():
    prof = load_profile("host-cpu")
    base = default_params(prof, "onnxruntime", "fp32", 1)
    truth = base.__class__(
        **{
            **base.__dict__,
            "efficiency": {**base.efficiency, "conv": 0.31, "pwconv": 0.52, "dwconv": 0.07},
            "call_us": 42.0,
            "k_half": 9.0,
        }
    )
    specs = calibration_population(20) + heldout_population(10)
    samples = [
        (ops_from_spec(s), predict_ops(ops_from_spec(s), truth, "fp32").latency_ms) for s in specs
    ]
    fitted, report = fit_params(samples[:20], base, "fp32", prior_weight=0.0)
    assert report["within_10pct"] == 1.0 and report["rms_log_error"] < 0.01
    for ops, ms in samples[20:]:  # and predicts models it never saw
        assert predict_ops(ops, fitted, "fp32").latency_ms == pytest.approx(ms, rel=0.02)


def test_accuracy_figures_are_nn_meters():
    f = accuracy_figures([1.0, 2.15, 2.9, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert f["within_10pct"] == 0.75 and f["spearman"] == pytest.approx(1.0)
    assert f["median_abs_error"] == pytest.approx(np.median([0.0, 0.075, 1 / 30, 0.25]))


def _entry_dict(backend="onnxruntime", precision="fp32", threads=1, version=None):
    from workbench.calibrate._store import runtime_version

    prof = load_profile("host-cpu")
    p = default_params(prof, backend, precision, threads)
    return {
        "deployment": f"{backend}-{precision}",
        "backend": backend,
        "precision": precision,
        "threads": {"intra_op": threads, "inter_op": 1},
        "runtime_version": version or runtime_version(backend),
        "created": "2026-01-01T00:00:00+00:00",
        "params": p.to_dict(),
        "fit": {"models": 20},
        "models": [],
    }


def _write_cal(path, host=None, entries=None, schema=None):
    from workbench.calibrate import SCHEMA_VERSION, host_fingerprint

    path.write_text(
        json.dumps(
            {
                "schema": schema or SCHEMA_VERSION,
                "profile": "host-cpu",
                "host": host or host_fingerprint(),
                "entries": entries or [_entry_dict()],
            }
        )
    )


def test_calibration_file_round_trip_and_use(profile_dir):
    path = profile_dir / "host-cpu.calibration.json"
    _write_cal(path)
    cal, note = calibration_status("host-cpu")
    assert cal is not None and str(path) in note
    assert cal.has("onnxruntime", "fp32", 1) and not cal.has("onnxruntime", "fp32", 2)
    saved = save_calibration(cal, profile_dir / "copy.json")
    again = load_calibration(saved)
    assert [e.to_dict() for e in again.entries] == [e.to_dict() for e in cal.entries]
    # predictions on the host use it, and say it has not been validated yet
    from workbench.arch import mobilenet_v2

    p = predict_latency(
        mobilenet_v2((3, 96, 96), 10), "host-cpu", "onnxruntime", "fp32", threads=1, calibration=cal
    )
    assert p.trust["calibrated"] is True and p.trust["validated_on_device"] is False
    assert "profiles accuracy host-cpu" in p.trust["note"]
    # another thread count has no calibration: the prediction says so
    q = predict_latency(
        mobilenet_v2((3, 96, 96), 10), "host-cpu", "onnxruntime", "fp32", threads=3, calibration=cal
    )
    assert (
        q.trust["calibrated"] is False
        and "no calibration of onnxruntime-fp32 at 3 thread(s)" in q.trust["calibration_note"]
    )


def test_the_predictor_uses_the_calibration_it_is_given_and_looks_none_up(profile_dir):
    from workbench.arch import mobilenet_v2

    _write_cal(profile_dir / "host-cpu.calibration.json")
    spec = mobilenet_v2((3, 96, 96), 10)
    cal = find_calibration("host-cpu")
    assert cal is not None
    given = predict_latency(spec, "host-cpu", "onnxruntime", "fp32", threads=1, calibration=cal)
    # without one, the roofline of the profile's own terms, though a fresh file is right there
    none = predict_latency(spec, "host-cpu", "onnxruntime", "fp32", threads=1)
    assert given.trust["calibrated"] is True and none.trust["calibrated"] is False
    assert none.params == default_params(load_profile("host-cpu"), "onnxruntime", "fp32", 1)
    assert given.params == cal.params_for("onnxruntime", "fp32", 1)
    assert "calibration_note" not in none.trust and "datasheet" in none.trust["basis"]
    # the file's body round-trips through the data type the predictor is given
    body = json.loads((profile_dir / "host-cpu.calibration.json").read_text())
    again = Calibration.from_dict(body)
    assert [e.to_dict() for e in again.entries] == [e.to_dict() for e in cal.entries]
    assert Calibration.from_dict(again.to_dict()).to_dict() == again.to_dict()
    assert again.profile == "host-cpu" and again.host == body["host"] and again.path is None


def test_a_calibration_from_another_host_or_runtime_is_not_reused(profile_dir):
    path = profile_dir / "host-cpu.calibration.json"
    _write_cal(
        path, host={"cpu_model": "Some Other CPU", "machine": "aarch64", "isa_flags": ["asimd"]}
    )
    cal, note = calibration_status("host-cpu")
    assert (
        cal is None
        and "stale, not used" in note
        and "Some Other CPU" in note
        and "workbench profiles calibrate host-cpu" in note
    )
    _write_cal(path, entries=[_entry_dict(version="0.0.1")])
    cal, note = calibration_status("host-cpu")
    assert cal is not None and cal.entries == [] and "onnxruntime 0.0.1 ->" in note


def test_a_calibration_file_of_an_older_schema_is_refused_with_a_recalibrate_message(profile_dir):
    path = profile_dir / "host-cpu.calibration.json"
    for old in (1, 2):  # 2: kernel terms fitted before the tail-pool terms and the size exponent
        _write_cal(path, schema=old)
        cal, note = calibration_status("host-cpu")
        assert (
            cal is None
            and f"schema {old}" in note
            and "workbench profiles calibrate host-cpu" in note
        )
        with pytest.raises(
            ConfigError, match="recalibrate with: workbench profiles calibrate host-cpu"
        ):
            load_calibration(path)


def test_calibration_falls_back_to_the_user_folder_when_the_profile_folder_is_read_only(
    profile_dir,
):
    from workbench.calibrate import CalibrationEntry
    from workbench.calibrate._store import merge_and_save
    from workbench.hw import HardwareProfile

    # a profile shipped in a folder nobody can write to (as inside an installed package): /proc
    prof = HardwareProfile.from_dict(load_profile("host-cpu").to_dict(), path="/proc/host-cpu.yaml")
    _cal, path, notes = merge_and_save(prof, [CalibrationEntry.from_dict(_entry_dict())])
    assert path.parent == user_calibration_dir() and path.exists()
    assert any("/proc is not writable" in n for n in notes) and any(
        "user folder" in n for n in notes
    )


def test_calibration_candidates_put_the_profile_folder_first(profile_dir):
    cands = calibration_candidates(load_profile("host-cpu"))
    assert cands[0] == (profile_dir / "host-cpu.calibration.json").resolve()
    assert cands[1].parent == user_calibration_dir()


def test_simulated_profiles_cannot_be_calibrated_here():
    from workbench.calibrate import calibrate_profile, validate_profile

    with pytest.raises(ConfigError, match="simulated: there is no device here to measure"):
        calibrate_profile("raspberry-pi-5")
    with pytest.raises(ConfigError, match="simulated"):
        validate_profile("nvidia-h100")


@pytest.mark.slow
@pytest.mark.onnxruntime
@pytest.mark.torch
def test_calibrate_then_validate_on_this_host(profile_dir):
    """A real (tiny) calibration and accuracy run: real exports, ORT sessions, timing, fit, file."""
    from workbench.calibrate import calibrate_profile, validate_profile

    rep = calibrate_profile(
        "host-cpu",
        deployments=["onnxruntime-fp32"],
        models=4,
        threads=1,
        max_time_s=3,
        target_rel_ci=0.2,
    )
    assert rep.path == (profile_dir / "host-cpu.calibration.json").resolve() and rep.path.exists()
    (e,) = rep.entries
    assert (
        e.fit["models"] == 4 and len(e.models) == 4 and all(m["measured_ms"] > 0 for m in e.models)
    )
    assert e.intra_op == 1 and e.runtime_version != "unknown"
    acc = validate_profile(
        "host-cpu",
        deployments=["onnxruntime-fp32"],
        models=3,
        threads=1,
        max_time_s=3,
        target_rel_ci=0.2,
    )
    r = acc.results["onnxruntime-fp32"]
    assert r["models"] == 3 and 0.0 <= r["within_10pct"] <= 1.0 and r["median_abs_error"] >= 0
    assert not {row["hash"] for row in r["rows"]} & {m["hash"] for m in e.models}  # held out
    assert r["drift_since_calibration"]["models"] >= 1
    # beside the headline figures, the same predictions scaled by the measured drift
    ratio = r["drift_since_calibration"]["median_ratio_now_to_calibration"]
    again = accuracy_figures(
        [row["predicted_ms"] * ratio for row in r["rows"]],
        [row["measured_ms"] for row in r["rows"]],
    )
    assert (
        r["drift_adjusted"] == again
        and r["within_10pct"]
        == accuracy_figures(
            [row["predicted_ms"] for row in r["rows"]], [row["measured_ms"] for row in r["rows"]]
        )["within_10pct"]
    )
    # the figures are stored with the calibration and travel with the host's predictions
    cal, _ = calibration_status("host-cpu")
    t = cal.trust_for("onnxruntime", "fp32", 1)
    assert t["validated_on_device"] is True and t["heldout_models"] == 3 and "noise_floor" in t
    spec = calibration_population(1)[0]
    p = predict_latency(
        spec, "host-cpu", "onnxruntime", "fp32", threads=1, calibration=find_calibration("host-cpu")
    )
    assert p.trust["calibration_id"] == cal.entry("onnxruntime", "fp32", 1).id
    # recalibrating replaces the fit and drops the figures that belonged to the old one
    calibrate_profile(
        "host-cpu",
        deployments=["onnxruntime-fp32"],
        models=3,
        threads=1,
        max_time_s=2,
        target_rel_ci=0.5,
    )
    cal, _ = calibration_status("host-cpu")
    assert cal.trust_for("onnxruntime", "fp32", 1)["validated_on_device"] is False


def test_interleaved_accuracy_fits_on_the_calibration_models_alone_and_predicts_the_held_out_ones(
    profile_dir,
):
    """Calibration and held-out models timed in one session (no drift between sessions in the
    figures): real exports, ORT sessions, profiles and fit; nothing is stored."""
    from workbench.calibrate import interleaved_accuracy

    res = interleaved_accuracy(
        "host-cpu",
        deployments=["onnxruntime-fp32"],
        calibration=4,
        heldout=3,
        threads=1,
        max_time_s=3,
        target_rel_ci=0.2,
    )
    r = res["onnxruntime-fp32"]
    assert r["models"] == 3 and r["calibration_models"] == 4 and len(r["rows"]) == 3
    cal = {s.hash for s in calibration_population(4)}
    assert not {row["hash"] for row in r["rows"]} & cal  # held out
    again = accuracy_figures(
        [row["predicted_ms"] for row in r["rows"]], [row["measured_ms"] for row in r["rows"]]
    )
    assert {k: r[k] for k in again} == again and all(row["predicted_ms"] > 0 for row in r["rows"])
    assert 0.0 <= r["in_sample"]["within_10pct"] <= 1.0 and "median_rel_diff" in r["noise_floor"]
    assert not list(profile_dir.glob("*.calibration.json"))  # nothing stored
