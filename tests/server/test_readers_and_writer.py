"""Readers never disturb a writer: while a real ``workbench run`` (launched through the panel's
API) writes its SQLite study for about two minutes, the panel's read endpoints and an
optuna-dashboard (its own WSGI app in another process, answering its study list and each
study's trials as its page polls them) read the same file without pause. No side may
see "database is locked" or any other error, every read is answered, and the run stores every
trial it started."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from tests._runs import endless_study, trials_so_far
from tests.conftest import REPO
from tests.server.conftest import get_json, write_config

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

#: seconds the run writes: it starts no trial after this (study.timeout_s)
WRITE_S = 100

#: optuna-dashboard itself (its WSGI app over a read-only RDB storage) answering its study list
#: and each study's detail with trials, as its page polls them, in a loop until the stop file
#: appears; prints what it read and every error or non-200 answer it saw as JSON
DASHBOARD_READER = """
import io, json, sys, time
from pathlib import Path

import optuna
import optuna_dashboard

url, stop = sys.argv[1], Path(sys.argv[2])
storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True, skip_table_creation=True)
app = optuna_dashboard.wsgi(storage)


def get(path):
    status = []
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    body = b"".join(app(environ, lambda st, _headers, _exc=None: status.append(st)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{path}: {status[0]}: {body[:200]!r}")
    return json.loads(body)


calls, errors, most = 0, [], 0
while not stop.exists():
    try:
        for s in get("/api/studies")["study_summaries"]:
            trials = get(f"/api/studies/{s['study_id']}")["trials"]
            if s["study_name"] == "rw":
                most = max(most, len(trials))
            calls += 1
    except Exception as err:  # every error is a failure of the test: report them all
        errors.append(f"{type(err).__name__}: {err}"[:300])
    time.sleep(0.05)
print(json.dumps({"calls": calls, "errors": errors, "most_trials": most}))
"""


async def test_panel_and_dashboard_reads_never_disturb_a_running_study(jp_fetch, root):
    pytest.importorskip("torch")
    pytest.importorskip("optuna_dashboard")
    study = {**endless_study("rw"), "timeout_s": WRITE_S}
    cfg = write_config(
        root, "rw", study=study, deployments=["onnxruntime-fp32"], train={"epochs": 1}
    )
    db = root / "runs" / "workbench.db"
    stop = root / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD_READER, f"sqlite:///{db}", str(stop)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    r = await jp_fetch("workbench", "api", "jobs", method="POST", body=json.dumps({"config": cfg}))
    jid = json.loads(r.body)["id"]
    panel_calls = 0
    deadline = time.monotonic() + WRITE_S + 240  # the run's own bound, and generous start-up
    try:
        job = await get_json(jp_fetch, "jobs", jid)
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            # what the panel polls: the status bar, the study list, the trial table, the job
            await get_json(jp_fetch, "status")
            studies = {s["name"]: s for s in (await get_json(jp_fetch, "studies"))["studies"]}
            panel_calls += 2
            if "rw" in studies:
                page = await get_json(jp_fetch, "studies", "rw", "trials", limit="50")
                assert page["total"] >= 0
                panel_calls += 1
            job = await get_json(jp_fetch, "jobs", jid)
            await asyncio.sleep(0.1)
    finally:
        stop.write_text("")
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-3000:]
    dashboard = json.loads(out)
    assert job["status"] == "done", (job, job.get("log_tail"))
    assert dashboard["errors"] == [], dashboard["errors"][:5]
    assert dashboard["calls"] >= 20 and panel_calls >= 20, (dashboard["calls"], panel_calls)
    # every trial the run started is stored complete: none failed on a locked database
    trials = trials_so_far(db, "rw")
    assert len(trials) == job["done"] == job["new_complete"] >= 3, job
    assert {t.state.name for t in trials} == {"COMPLETE"}, [
        (t.number, t.state.name, t.user_attrs.get("failure")) for t in trials
    ]
    assert dashboard["most_trials"] >= len(trials) - 1
    page = await get_json(jp_fetch, "studies", "rw", "trials", limit="50")
    assert page["total"] == len(trials)
