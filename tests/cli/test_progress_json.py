"""``workbench run --progress-json PATH``: machine-readable progress for tools watching a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, tiny_config_dict


def test_progress_json_lines_follow_the_run(tmp_path: Path):
    (tmp_path / "badspace.py").write_text(
        "def space(trial):\n    trial.suggest_int('width', 8, 16)\n    raise RuntimeError('no "
        "model today')\n"
    )
    cfg = tiny_config_dict("progress", space={"callable": "badspace:space"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    events_path = tmp_path / "events.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "run",
            "c.yaml",
            "--progress-json",
            str(events_path),
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # every trial failed
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("trial") == 2
    start = events[0]
    assert start["study"] == "progress" and start["total"] == 2 and start["finished"] == 0
    assert start["metric_names"] == ["accuracy", "latency_p50_ms"] and start["directions"] == [
        "maximize",
        "minimize",
    ]
    trials = [e for e in events if e["event"] == "trial"]
    assert [t["done"] for t in trials] == [1, 2] and all(t["state"] == "fail" for t in trials)
    assert trials[0]["failure"]["reason"].startswith("RuntimeError: no model today")
    assert any(e["event"] == "stage" and e["text"].startswith("trial 0:") for e in events)
    assert events[-1] == {**events[-1], "status": "failed", "trials": 2, "complete": 0, "failed": 2}
    # resuming the same study reports the trials already counted
    events_path.unlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "run",
            "c.yaml",
            "--trials",
            "3",
            "--progress-json",
            str(events_path),
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    again = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert again[0]["finished"] == 2 and again[0]["total"] == 3
    assert [e["done"] for e in again if e["event"] == "trial"] == [3]
