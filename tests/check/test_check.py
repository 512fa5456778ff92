"""The regression gate on real tiny studies: A/A passes, a slower and less accurate candidate
fails naming the point and the metric, a malformed baseline is one line, the reports parse."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from tests.check.conftest import FAST_CHECK
from workbench import ConfigError
from workbench.bench import MeasureSettings
from workbench.check import (
    BASELINE_SCHEMA,
    Thresholds,
    check_baseline,
    load_baseline,
    to_junit,
    to_markdown,
)
from workbench.cli import main

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]
SETTINGS = MeasureSettings(**FAST_CHECK)


def test_baseline_holds_the_pareto_set_with_its_config_and_data(baseline, real_run):
    manifest = json.loads((baseline.folder / "manifest.json").read_text())
    assert manifest["baseline"]["schema"] == BASELINE_SCHEMA
    assert manifest["baseline"]["config"]["study"]["name"] == "real"
    assert len(manifest["baseline"]["data"]["fingerprint"]) == 64
    fronts = real_run.results.fronts()
    on_front = {(n, k) for k, f in fronts.items() for n in f.trials}
    assert {(p.trial, p.key) for p in baseline.points} <= on_front
    for p in baseline.points:
        assert p.file.is_file() and p.file.parent == baseline.folder
        assert p.arch_hash and p.spec and p.seed == 0
        assert p.measurement.receipt["accuracy_split"] == "test"
    assert load_baseline(baseline.folder).points == baseline.points


def test_a_a_check_passes(baseline, real_config):
    res = check_baseline(baseline, real_config.storage_url(), "real", None, settings=SETTINGS)
    assert res.passed, res.summary()
    assert len(res.points) == len(baseline.points)
    for p in res.points:
        assert p.same_architecture and p.candidate_trial == p.baseline_trial
        acc = p.metric("accuracy")
        assert acc is not None and acc.change == 0 and acc.p_value == 1.0
        lat = p.metric("latency")
        assert lat is not None and lat.low is not None and lat.low <= lat.change <= lat.high
        assert p.machine_drift is not None and p.machine_drift > 0
    assert not any(f.newly_dominated for f in res.fronts), to_markdown(res)
    assert res.to_dict()["passed"] is True


def test_slower_and_less_accurate_candidate_is_a_regression(baseline, worse_run, worse_config):
    res = check_baseline(
        baseline,
        worse_config.storage_url(),
        "worse",
        "latency:+5%,accuracy:-0.5pt",
        settings=SETTINGS,
    )
    assert not res.passed
    key = "host-cpu/torch/onnxruntime-fp32"
    failed = {(p.key, m.metric) for p, m in res.regressions}
    assert (key, "latency") in failed and (key, "accuracy") in failed
    point = next(p for p in res.points if p.key == key)
    assert not point.same_architecture and "different architecture" in point.note
    lat = point.metric("latency")
    assert lat is not None and lat.low is not None and lat.low > 0.05
    acc = point.metric("accuracy")
    assert acc is not None and acc.p_value is not None and acc.p_value < 0.05
    # a deployment the candidate does not have is skipped, not failed
    for p in res.points:
        if p.candidate_trial is None:
            assert all(m.verdict == "skipped" for m in p.metrics)
    assert "latency" in res.summary() and key in res.summary()
    front = next(f for f in res.fronts if f.key == key)
    assert front.newly_dominated == [point.candidate_trial]
    assert front.hypervolume_change < 0
    md = to_markdown(res)
    assert "regression" in md and key in md

    root = ET.fromstring(to_junit(res))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == sum(len(p.metrics) for p in res.points) + len(res.fronts)
    failures = [c for c in cases if c.find("failure") is not None]
    assert {(c.get("classname"), c.get("name")) for c in failures} >= {
        (f"{key}.trial{point.baseline_trial}", "latency"),
        (f"{key}.trial{point.baseline_trial}", "accuracy"),
    }


def _with_check_section(src_url: str, dest, study: str, section: dict) -> str:
    """A copy of a study database whose stored config has ``section`` as its ``check:``."""
    import sqlite3

    shutil.copyfile(src_url.removeprefix("sqlite:///"), dest)
    with sqlite3.connect(dest) as con:
        ((sid, raw),) = con.execute(
            "SELECT s.study_id, a.value_json FROM studies s JOIN study_user_attributes a "
            "ON a.study_id = s.study_id WHERE s.study_name = ? AND a.key = 'config'",
            (study,),
        ).fetchall()
        config = {**json.loads(raw), "check": section}
        con.execute(
            "UPDATE study_user_attributes SET value_json = ? WHERE study_id = ? AND key = 'config'",
            (json.dumps(config), sid),
        )
    return f"sqlite:///{dest}"


def test_the_candidate_configs_thresholds_apply_under_the_command_lines(
    baseline, worse_run, worse_config, tmp_path, capsys
):
    url = _with_check_section(
        worse_config.storage_url(),
        tmp_path / "w.db",
        "worse",
        {"fail": "latency:off,accuracy:off,size:off", "time_s": 0.3},
    )
    args = ["check", str(baseline.folder), "--study", "worse", "--storage", url, "--quiet"]
    assert main([*args, "--json"]) == 0  # the config turns the gates off
    data = json.loads(capsys.readouterr().out)
    assert data["thresholds"]["text"].startswith("latency:off,accuracy:off,size:off")
    assert main([*args, "--json", "--fail", "latency:+5%"]) == 1  # latency back, accuracy off
    data = json.loads(capsys.readouterr().out)
    assert {r["metric"] for r in data["regressions"]} == {"latency"}
    assert data["thresholds"]["text"].startswith("latency:+5%,accuracy:off")


def test_resolve_thresholds_and_check_settings(real_config):
    from dataclasses import replace as dc_replace

    from workbench.check import CHECK_SETTINGS, check_settings, resolve_thresholds

    cfg = dc_replace(real_config, check_fail="latency:+2%,size:off", check_time_s=1.5)
    t = resolve_thresholds("accuracy:-1pt", cfg)
    assert (t.latency, t.accuracy, t.size, t.memory) == (pytest.approx(0.02), 1.0, None, 0.1)
    assert resolve_thresholds(None, None) == Thresholds()
    given = Thresholds(latency=0.5)
    assert resolve_thresholds(given, cfg) is given
    assert check_settings(8) == dc_replace(CHECK_SETTINGS, batch_size=8)
    s = check_settings(4, 0.5)
    assert (s.max_time_s, s.min_time_s, s.batch_size) == (0.5, 0.5, 4)
    with pytest.raises(ConfigError, match="seconds > 0"):
        check_settings(1, 0.0)


def test_cli_check_exit_codes_and_reports(
    baseline, real_config, worse_config, worse_run, tmp_path, capsys
):
    out = str(real_config.out_dir)
    junit, md = tmp_path / "check.xml", tmp_path / "summary.md"
    args = ["check", str(baseline.folder), "--time", "0.3", "--quiet"]
    rc = main(
        [*args, "--study", "real", "--out", out, "--junit", str(junit), "--markdown", str(md)]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "PASS" in text
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "0"
    assert md.read_text().startswith("## ✅")

    rc = main([*args, "--study", "worse", "--out", str(worse_config.out_dir), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert data["passed"] is False
    for metric in ("latency", "accuracy"):
        assert any(
            r["metric"] == metric and r["point"].endswith("host-cpu/torch/onnxruntime-fp32")
            for r in data["regressions"]
        )


def test_cli_baseline_save_and_bad_inputs(real_run, real_config, tmp_path, capsys):
    out = str(real_config.out_dir)
    dest = tmp_path / "base"
    assert main(["baseline", "save", "real", "--to", str(dest), "--out", out]) == 0
    assert "point(s)" in capsys.readouterr().out
    assert load_baseline(dest).study == "real"

    def one_line_error(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    check = ["check", str(dest), "--study", "real", "--out", out, "--quiet"]
    assert "unknown metric 'speed'" in one_line_error([*check, "--fail", "speed:+5%"])
    assert "no manifest.json" in one_line_error(["check", str(tmp_path), "--study", "real"])

    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["baseline"]["schema"] = 99
    (dest / "manifest.json").write_text(json.dumps(manifest))
    assert "baseline schema 99" in one_line_error(check)

    manifest["baseline"]["schema"] = BASELINE_SCHEMA
    (dest / "manifest.json").write_text(json.dumps(manifest))
    (dest / manifest["points"][0]["file"]).unlink()
    assert "is missing" in one_line_error(check)

    (dest / "manifest.json").write_text("{not json")
    assert "not JSON" in one_line_error(check)
    shutil.rmtree(dest)


def test_thresholds_parse_with_one_line_errors():
    t = Thresholds.parse("latency:+5%,accuracy:-0.5pt,size:off")
    assert (t.latency, t.accuracy, t.size, t.memory) == (0.05, 0.5, None, 0.10)
    assert Thresholds.parse(t.to_text()) == t
    assert Thresholds.parse("latency:3%").latency == pytest.approx(0.03)
    for bad, words in [
        ("latency:5pt", "given in %"),
        ("accuracy:+1pt", "regresses in the - direction"),
        ("speed:+1%", "unknown metric"),
        ("latency", "expected METRIC"),
    ]:
        with pytest.raises(ConfigError, match=words) as err:
            Thresholds.parse(bad)
        assert "\n" not in str(err.value)
