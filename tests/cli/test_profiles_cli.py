"""``workbench profiles``: list, show, calibrate and accuracy as users run them (subprocesses)."""

import shutil

from tests._runs import wb
from tests.conftest import REPO


def test_profiles_lists_the_library_with_measured_or_predicted(tmp_path):
    r = wb("profiles", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "latency" in lines[0] and "deploys as" in lines[0]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert len(rows) >= 8
    assert " measured " in rows["host-cpu"] and " predicted " in rows["cortex-m7"]
    assert (
        "litert-int8-static" in rows["raspberry-pi-4"] and "onnxruntime-fp32" in rows["nvidia-h100"]
    )


def test_profiles_show_prints_every_number_with_its_source(tmp_path):
    r = wb("profiles", "show", "cortex-m7", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sram_kb: 512   [source: ST DS12110" in r.stdout
    assert "predictor.efficiency.conv: 0.6   [source: estimate:" in r.stdout
    assert "PREDICTED" in r.stdout


def test_calibrating_a_simulated_profile_is_a_one_line_error(tmp_path):
    r = wb("profiles", "calibrate", "raspberry-pi-5", cwd=tmp_path)
    assert r.returncode == 2
    assert (
        r.stderr.strip().count("\n") == 0
        and "simulated: there is no device here to measure" in r.stderr
    )


def test_accuracy_needs_a_calibration_first(tmp_path):
    d = tmp_path / "profiles"
    d.mkdir()
    shutil.copy(REPO / "hwprofiles" / "host-cpu.yaml", d)
    env = {"WORKBENCH_PROFILE_PATH": str(d), "WORKBENCH_CALIBRATION_DIR": str(tmp_path / "cal")}
    r = wb("profiles", "accuracy", "host-cpu", "--threads", "1", cwd=tmp_path, env=env)
    assert (
        r.returncode == 2 and "no calibration of onnxruntime-int8-static at 1 thread(s)" in r.stderr
    )
    assert "workbench profiles calibrate host-cpu" in r.stderr
    r = wb("profiles", "calibrate", "host-cpu", "--models", "1", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "--models: expected an integer in [3, 200], got 1" in r.stderr
    r = wb("profiles", "show", "host-cpu", cwd=tmp_path, env=env)
    assert (
        "predictor: not calibrated on this host (calibrate with: workbench profiles calibrate "
        "host-cpu)" in r.stdout
    )


def test_calibrate_defaults_to_the_librarys_model_count():
    from workbench.calibrate import (
        DEFAULT_CALIBRATION_MODELS,
        calibrate_profile,
        interleaved_accuracy,
    )
    from workbench.cli import _parser

    args = _parser().parse_args(["profiles", "calibrate", "host-cpu"])
    assert args.models == DEFAULT_CALIBRATION_MODELS == 40
    assert calibrate_profile.__kwdefaults__["models"] == DEFAULT_CALIBRATION_MODELS
    assert interleaved_accuracy.__kwdefaults__["calibration"] == DEFAULT_CALIBRATION_MODELS
