"""Background runs through the API: real ``workbench run`` subprocesses, real SQLite studies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests._runs import endless_study, killable_point, leftover_parts, trials_so_far
from tests.server.conftest import error_of, get_json, write_config

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]


async def _post(jp_fetch: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = await jp_fetch("workbench", "api", "jobs", method="POST", body=json.dumps(body))
    assert r.code == 201
    return json.loads(r.body)


async def _wait(jp_fetch: Any, jid: str, until: Any, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await get_json(jp_fetch, "jobs", jid)
        if until(job):
            return job
        await asyncio.sleep(0.5)
    raise AssertionError(f"job did not reach the expected state: {job}")


async def test_a_launched_run_streams_progress_and_log_and_its_study_appears(jp_fetch, root):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    cfg = write_config(root, "tiny_api")
    job = await _post(jp_fetch, {"config": cfg})
    assert (
        job["status"] in ("queued", "running")
        and job["study"] == "tiny_api"
        and job["storage"] == "sqlite:///runs/workbench.db"
    )
    assert job["command"].startswith("workbench run search/tiny_api.yaml --progress-json ")
    # the study shows as running while the job runs
    listed = await get_json(jp_fetch, "studies")
    running = {s["name"]: s for s in listed["studies"]}.get("tiny_api")
    if running is not None:  # it appears once the run has created it
        assert running["status"] == "running" and running["job"] == job["id"]
    # stream the log with long polls until the run ends
    offset, text = 0, ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        chunk = await get_json(jp_fetch, "jobs", job["id"], "log", offset=str(offset), wait="5")
        assert chunk["offset"] == offset
        text += chunk["text"]
        offset = chunk["next_offset"]
        if chunk["final"] and not chunk["text"]:
            break
    done = await get_json(jp_fetch, "jobs", job["id"])
    assert done["status"] == "done" and done["returncode"] == 0, done
    assert (
        done["total"] == 2
        and done["done"] == 2
        and done["finished_before"] == 0
        and done["new_complete"] == 2
    )
    assert done["last_trial"]["state"] == "complete" and done["message"] is None
    assert "trial 0 complete" in text and "storage:  sqlite:///runs/workbench.db" in text
    assert (root / "runs" / "tiny_api" / "report.html").exists()  # the run's cwd is the root
    # its study: two measured trials with the config's objectives
    studies = {s["name"]: s for s in (await get_json(jp_fetch, "studies"))["studies"]}
    s = studies["tiny_api"]
    assert s["n_complete"] == 2 and s["target_trials"] == 2 and s["status"] == "finished"
    assert [o["name"] for o in s["objectives"]] == ["accuracy", "latency_p50_ms"]
    assert s["best"][1]["source"] == "measured"
    pts = await get_json(jp_fetch, "studies", "tiny_api", "points", deployment="all")
    assert {x["deployment"] for x in pts["series"]} == {
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    }
    assert all(x["source"] == "measured" and x["n"] == 2 for x in pts["series"])
    assert all(any(x["pareto"]) for x in pts["series"])
    # running it again resumes: the budget is met, nothing new runs
    again = await _post(jp_fetch, {"config": cfg})
    again = await _wait(jp_fetch, again["id"], lambda j: j["status"] not in ("queued", "running"))
    assert (
        again["status"] == "done" and again["finished_before"] == 2 and again["new_complete"] == 0
    )
    listing = await get_json(jp_fetch, "jobs")
    assert [j["id"] for j in listing["jobs"]] == [again["id"], job["id"]]


async def test_cancel_interrupts_and_keeps_finished_trials(jp_fetch, root):
    pytest.importorskip("torch")
    cfg = write_config(
        root,
        "tiny_cancel",
        study={
            "name": "tiny_cancel",
            "sampler": "random",
            "seed": 0,
            "trials": 40,
            "objectives": ["accuracy", "latency"],
        },
    )
    first = await _post(jp_fetch, {"config": cfg})
    queued = await _post(jp_fetch, {"config": cfg, "trials": 41})
    assert queued["status"] == "queued"  # one run at a time: a second waits
    code, body = await error_of(jp_fetch, "jobs", queued["id"], "cancel", method="POST", body={})
    assert code == 202 and body["status"] == "cancelled"
    await _wait(jp_fetch, first["id"], lambda j: (j["done"] or 0) >= 1)
    r = await jp_fetch("workbench", "api", "jobs", first["id"], "cancel", method="POST", body="{}")
    assert json.loads(r.body)["status"] in ("cancelling", "cancelled")
    job = await _wait(
        jp_fetch, first["id"], lambda j: j["status"] not in ("running", "cancelling"), timeout=120
    )
    assert job["status"] == "cancelled" and job["returncode"] == 130
    assert job["message"].startswith("cancelled: finished trials are stored")
    studies = {s["name"]: s for s in (await get_json(jp_fetch, "studies"))["studies"]}
    assert (
        1 <= studies["tiny_cancel"]["n_complete"] < 40
        and studies["tiny_cancel"]["status"] == "partial"
    )
    assert (await get_json(jp_fetch, "jobs", queued["id"]))["pid"] is None  # never started


async def test_a_failed_run_reports_its_error_line_and_log_tail(jp_fetch, root):
    pytest.importorskip("torch")
    (root / "search" / "badspace.py").write_text(
        "def space(trial):\n    trial.suggest_int('width', 8, 16)\n"
        "    raise RuntimeError('this search space always fails')\n"
    )
    cfg = write_config(root, "failing", space={"callable": "badspace:space"})
    job = await _post(jp_fetch, {"config": cfg})
    job = await _wait(jp_fetch, job["id"], lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "failed" and job["returncode"] == 1
    assert job["message"] == "workbench: error: no trial completed; see the failures above"
    assert any("this search space always fails" in line for line in job["log_tail"])
    assert job["last_trial"]["failure"]["reason"].startswith(
        "RuntimeError: this search space always fails"
    )
    studies = {s["name"]: s for s in (await get_json(jp_fetch, "studies"))["studies"]}
    assert studies["failing"]["status"] == "failed" and studies["failing"]["n_failed"] == 2


async def test_the_panels_storage_applies_unless_the_config_names_one(jp_fetch, root):
    pytest.importorskip("torch")
    cfg = write_config(root, "elsewhere")
    job = await _post(
        jp_fetch, {"config": cfg, "storage": "sqlite:///other/studies.db", "trials": 1}
    )
    assert job["storage"] == "sqlite:///other/studies.db"
    job = await _wait(jp_fetch, job["id"], lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "done", job
    other = await get_json(jp_fetch, "studies", storage="sqlite:///other/studies.db")
    assert [s["name"] for s in other["studies"]] == ["elsewhere"] and other["studies"][0][
        "n_complete"
    ] == 1
    assert Path(root / "other" / "studies.db").exists()
    default = await get_json(jp_fetch, "studies")
    assert "elsewhere" not in {s["name"] for s in default["studies"]}


async def test_a_job_killed_mid_trial_is_reported_dead_and_its_resume_keeps_every_trial(
    jp_fetch, root
):
    """SIGKILL to a job's process group (the run gets no chance to record anything): the job
    list says the job was killed, every finished trial stays, and the job that resumes it fails
    the killed trial (``crashed``), leaves no half-written file and completes the budget."""
    pytest.importorskip("torch")
    cfg = write_config(root, "tiny_kill", study=endless_study("tiny_kill"))
    job = await _post(jp_fetch, {"config": cfg})
    db = root / "runs" / "workbench.db"
    deadline = time.monotonic() + 240
    trials: list = []
    while time.monotonic() < deadline:
        trials = trials_so_far(db, "tiny_kill")
        if killable_point(trials):
            break
        await asyncio.sleep(0.3)
    assert killable_point(trials), [t.state.name for t in trials]
    pid = (await get_json(jp_fetch, "jobs", job["id"]))["pid"]
    os.killpg(pid, signal.SIGKILL)  # the job's own process group, not the server's
    dead = await _wait(jp_fetch, job["id"], lambda j: j["status"] != "running", timeout=60)
    assert dead["status"] == "killed" and dead["returncode"] == -signal.SIGKILL, dead
    assert dead["message"] == (
        f"the run was killed (signal {int(signal.SIGKILL)}): finished trials are stored; "
        "run the config again to resume"
    )
    listed = {j["id"]: j for j in (await get_json(jp_fetch, "jobs"))["jobs"]}
    assert listed[job["id"]]["status"] == "killed"
    studies = {s["name"]: s for s in (await get_json(jp_fetch, "studies"))["studies"]}
    assert studies["tiny_kill"]["status"] == "partial" and studies["tiny_kill"]["job"] is None
    stored = trials_so_far(db, "tiny_kill")
    complete = {t.number for t in stored if t.state.name == "COMPLETE"}
    killed = [t.number for t in stored if t.state.name == "RUNNING"]
    assert len(complete) >= 2 and killed, [t.state.name for t in stored]

    again = await _post(jp_fetch, {"config": cfg, "trials": len(complete) + 1})
    again = await _wait(jp_fetch, again["id"], lambda j: j["status"] not in ("queued", "running"))
    assert again["status"] == "done" and again["finished_before"] == len(complete), again
    by_number = {t.number: t for t in trials_so_far(db, "tiny_kill")}
    assert complete <= {n for n, t in by_number.items() if t.state.name == "COMPLETE"}
    for n in killed:
        assert by_number[n].state.name == "FAIL" and by_number[n].user_attrs["status"] == "crashed"
    assert not [t for t in by_number.values() if t.state.name == "RUNNING"]
    assert sum(t.state.name == "COMPLETE" for t in by_number.values()) == len(complete) + 1
    run_dir = root / "runs" / "tiny_kill"
    assert (run_dir / "pareto" / "manifest.json").exists()
    assert leftover_parts(run_dir / "pareto", run_dir / "artifacts") == []
