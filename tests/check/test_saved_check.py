"""A check's result saved beside the candidate's outputs: it round-trips with what a front end
draws, and a malformed file is one line."""

from __future__ import annotations

import json

import pytest

from workbench import ConfigError
from workbench.check import CHECK_SCHEMA, check_path, find_check, load_check
from workbench.cli import main

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]
KEY = "host-cpu/torch/onnxruntime-fp32"


def test_a_check_is_saved_beside_the_candidate_and_round_trips(worse_check, worse_config):
    assert worse_check.path == check_path(worse_config.run_dir.resolve())
    data = json.loads(worse_check.path.read_text())
    assert data["schema"] == CHECK_SCHEMA and data["candidate_study"] == "worse"
    back = load_check(worse_config.run_dir)
    assert back.to_dict() == worse_check.to_dict()
    assert back.thresholds == worse_check.thresholds

    # what a front end draws: both sides as timed now, with intervals, and the verdicts
    point = next(p for p in back.points if p.key == KEY)
    roles = {(t.role, t.trial) for t in back.timed if t.key == KEY}
    assert ("baseline", point.baseline_trial) in roles
    assert ("candidate", point.candidate_trial) in roles
    for t in back.timed:
        assert t.latency_low_ms <= t.latency_p50_ms <= t.latency_high_ms and t.latency_n > 0
        assert t.accuracy_low <= t.accuracy <= t.accuracy_high and t.n_test > 0
    cand = next(t for t in back.timed if t.label == f"candidate:{point.candidate_trial}:{KEY}")
    assert cand.verdict == "regression"
    assert any("latency regression" in f for f in cand.findings)
    lat = point.metric("latency")
    assert lat is not None and lat.ratio is not None and lat.ratio_low is not None
    assert lat.ratio == pytest.approx(1 + lat.change) and lat.ratio_low > 1.05
    timing = back.timing
    assert timing["method"].startswith("interleaved") and timing["host"]["cpu_model"]
    assert timing["settings"]["min_repeats"] == 30
    front = next(f for f in back.fronts if f.key == KEY)
    assert front.hypervolume_change < 0

    found = find_check("worse", worse_run_attrs(worse_config))
    assert found is not None and found.to_dict() == back.to_dict()
    assert find_check("other", worse_run_attrs(worse_config)) is None


def worse_run_attrs(cfg):
    from workbench.study import open_study

    return open_study(cfg.name, cfg.storage_url()).user_attrs


def test_a_malformed_saved_check_is_one_line(worse_check, tmp_path, capsys):
    bad = tmp_path / "check.json"
    for text, expected in (
        ("{not json", "not JSON"),
        (json.dumps({"schema": 1}), "schema 1"),
        (json.dumps({**worse_check.to_dict(), "timed": [{"role": "baseline"}]}), "timed"),
        (json.dumps({k: v for k, v in worse_check.to_dict().items() if k != "points"}), "points"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_check(tmp_path)
        assert len(str(err.value).splitlines()) == 1 and expected in str(err.value), err.value
        assert str(bad) in str(err.value)
    with pytest.raises(ConfigError, match="no check result"):
        load_check(tmp_path / "nowhere")


def test_cli_check_saves_unless_told_not_to(baseline, real_config, real_run, tmp_path, capsys):
    saved = check_path(real_config.run_dir.resolve())
    saved.unlink(missing_ok=True)
    args = ["check", str(baseline.folder), "--study", "real", "--out", str(real_config.out_dir)]
    assert main([*args, "--time", "0.2", "--quiet", "--no-save"]) == 0
    assert not saved.exists()
    assert main([*args, "--time", "0.2", "--quiet"]) == 0
    assert f"check result: {saved}" in capsys.readouterr().out
    assert load_check(saved).candidate_study == "real"
