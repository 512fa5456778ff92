"""``workbench reproduce``: stored trials of a real tiny study rebuilt, retrained, redeployed."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest

from tests._runs import wb as run_wb
from tests.conftest import REPO
from workbench.check import DeploymentReproduction

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]


def wb(*args: str) -> subprocess.CompletedProcess[str]:
    return run_wb(*args, cwd=REPO, timeout=600)


def _db(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _stored(url: str, trial: int) -> dict[str, object]:
    """Trial ``trial``'s user attributes, read straight from the SQLite file."""
    with sqlite3.connect(_db(url)) as con:
        rows = con.execute(
            "SELECT a.key, a.value_json FROM trial_user_attributes a JOIN trials t "
            "ON a.trial_id = t.trial_id WHERE t.number = ?",
            (trial,),
        ).fetchall()
    return {k: json.loads(v) for k, v in rows}


def _copy(url: str, tmp_path) -> str:
    """A copy of the study database: tests that change it work on their own."""
    dest = tmp_path / "copy.db"
    shutil.copyfile(_db(url), dest)
    return f"sqlite:///{dest}"


def _set_attr(url: str, trial: int, key: str, value: object) -> None:
    with sqlite3.connect(_db(url)) as con:
        n = con.execute(
            "UPDATE trial_user_attributes SET value_json = ? WHERE key = ? AND trial_id = "
            "(SELECT trial_id FROM trials WHERE number = ?)",
            (json.dumps(value), key, trial),
        ).rowcount
    assert n == 1, f"trial {trial} has no attribute {key}"


def test_a_deterministic_trial_reproduces_exactly_and_exits_0(real_run, real_config):
    url = real_config.storage_url()
    stored = _stored(url, 0)
    assert isinstance(stored.get("data_fingerprint"), str)
    # accuracy is what must reproduce exactly here; latency on a loaded 2-core runner may move
    # by tens of percent between two sessions of one file, so its gate is widened to 2x
    proc = wb("reproduce", "real", "0", "--storage", url, "--json", "--latency-tolerance", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "time stored and rebuilt artifacts interleaved" in proc.stderr  # progress on stderr
    out = json.loads(proc.stdout)
    assert out["reproduced"] is True and out["latency_tolerance"] == 1.0
    (trial,) = out["trials"]
    assert trial["trial"] == 0
    assert trial["data_fingerprint"] == stored["data_fingerprint"]
    assert trial["float_accuracy"]["torch"] == {
        "stored": stored["float_accuracy"],
        "now": stored["float_accuracy"],
    }
    measured = {
        k.removeprefix("measure:"): v
        for k, v in stored.items()
        if k.startswith("measure:") and v["status"] == "ok"
    }
    assert {d["key"] for d in trial["deployments"]} == set(measured)
    for d in trial["deployments"]:
        # PyTorch training on CPU with a fixed seed and thread count is deterministic: the same
        # accuracy to the last sample, on the stored artifact and the rebuilt one alike
        assert d["accuracy_verdict"] == "exact", d
        assert d["accuracy"] == measured[d["key"]]["accuracy"] == d["stored_accuracy"]
        assert d["stored_accuracy_now"] == d["accuracy"]
        assert d["discordant"] == [0, 0]
        low, high = d["latency_ci95"]
        assert low <= d["latency_ratio"] <= high
        assert d["stored_p50_ms"] > 0 and d["rebuilt_p50_ms"] > 0


def test_a_changed_stored_accuracy_is_reported_and_exits_1(real_run, real_config, tmp_path):
    url = _copy(real_config.storage_url(), tmp_path)
    key = "measure:host-cpu/torch/onnxruntime-fp32"
    m = _stored(url, 1)[key]
    m["accuracy"] = m["accuracy"] - 0.1
    _set_attr(url, 1, key, m)
    proc = wb("reproduce", "real", "1", "--storage", url, "--latency-tolerance", "1")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "NOT reproduced" in proc.stdout
    bad = [line for line in proc.stdout.splitlines() if line.lstrip().startswith("BAD")]
    assert len(bad) == 1 and "host-cpu/torch/onnxruntime-fp32" in bad[0] and "differs" in bad[0]


def test_an_altered_data_fingerprint_exits_2_with_one_line(real_run, real_config, tmp_path):
    url = _copy(real_config.storage_url(), tmp_path)
    _set_attr(url, 2, "data_fingerprint", "0123456789abcdef")
    proc = wb("reproduce", "real", "2", "--storage", url)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "fingerprint 0123456789abcdef" in lines[0] and "the data changed" in lines[0]
    assert "trial 2" in lines[0] and "Traceback" not in proc.stderr


def test_an_unknown_trial_exits_2_listing_the_known_ones(real_run, real_config):
    proc = wb("reproduce", "real", "0", "42", "--storage", real_config.storage_url())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["workbench: error: study 'real' has no trial 42; known trials: 0, 1, 2"]


def _dep(**kw: object) -> DeploymentReproduction:
    base: dict[str, object] = {
        "key": "host-cpu/torch/onnxruntime-fp32",
        "deterministic": True,
        "stored_accuracy": 0.9,
        "accuracy": 0.9,
        "latency_low": 0.95,
        "latency_high": 1.05,
    }
    return DeploymentReproduction(**{**base, **kw})  # type: ignore[arg-type]


def test_verdicts_exact_within_noise_and_differs():
    assert _dep().accuracy_verdict == "exact" and _dep().reproduced
    # deterministic training must match exactly; a flip of two samples is a difference
    moved = {"accuracy": 0.9, "discordant": (1, 1), "mcnemar_p": 1.0}
    assert _dep(**moved).accuracy_verdict == "differs"
    # not deterministic: a difference McNemar does not reject is noise, one it rejects is not
    assert _dep(deterministic=False, **moved).accuracy_verdict == "within-noise"
    far = {"accuracy": 0.8, "discordant": (20, 2), "mcnemar_p": 0.0001}
    assert _dep(deterministic=False, **far).accuracy_verdict == "differs"
    assert not _dep(deterministic=False, **far).reproduced
    # latency: only an interval wholly beyond the tolerance is a difference
    assert _dep(latency_low=1.02, latency_high=1.3).latency_reproduced
    assert not _dep(latency_low=1.15, latency_high=1.3).latency_reproduced
    assert not _dep(latency_low=0.7, latency_high=0.88).latency_reproduced
    assert not _dep(error="did not compile").reproduced


def test_the_training_thread_count_is_stored_and_a_changed_one_is_named(
    real_run, real_config, tmp_path
):
    from workbench.bench import profile_threads

    url = _copy(real_config.storage_url(), tmp_path)
    now = profile_threads(real_config.hardware[0]).intra_op
    assert _stored(url, 2)["train_threads"] == now
    _set_attr(url, 2, "train_threads", now + 3)
    proc = wb("reproduce", "real", "2", "--storage", url, "--latency-tolerance", "1")
    assert f"torch trained with {now + 3} threads then, {now} now" in proc.stdout
    proc = wb("reproduce", "real", "2", "--storage", url, "--json", "--latency-tolerance", "1")
    (trial,) = json.loads(proc.stdout)["trials"]
    assert trial["train_threads"] == {"stored": now + 3, "now": now}
