"""Several workers share one study through a real PostgreSQL server (started by the fixture)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
import yaml

from tests.conftest import tiny_config_dict


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url():
    """A private PostgreSQL server on 127.0.0.1 for this module, stopped afterwards."""
    pytest.importorskip("psycopg2")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: use the package's postgres user
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o755)
    data, port = root / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "wb", "--no-sync")
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(root / "log"),
        "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=50",
        "start",
    )
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "wb", "workbench")
        yield f"postgresql+psycopg2://wb@127.0.0.1:{port}/workbench"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_a_study_and_the_budget(tmp_path, postgres_url):
    cfg = tiny_config_dict(
        study={
            "name": "shared",
            "sampler": "random",
            "seed": 0,
            "trials": 4,
            "objectives": ["accuracy", "latency"],
        }
    )
    (tmp_path / "shared.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "run",
        "shared.yaml",
        "--storage",
        postgres_url,
        "--no-memory",
        "--quiet",
    ]
    # the first creates the study; then two run side by side against the same database
    first = subprocess.run(
        [*cmd, "--trials", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    procs = [
        subprocess.Popen(
            cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    seen = [
        (t.number, t.state.name, t.user_attrs.get("failure"), t.user_attrs.get("status"))
        for t in trials
    ]
    # the budget is shared: at most one trial of overshoot per extra worker
    assert 4 <= len(complete) <= 5, seen
    assert all("measure:host-cpu/torch/onnxruntime-fp32" in t.user_attrs for t in complete)
    assert study.metric_names == ["accuracy", "latency_p50_ms"]


def test_bad_storage_url_is_a_clear_error(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(tiny_config_dict()))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "run",
            "s.yaml",
            "--storage",
            "postgresql+psycopg2://wb@127.0.0.1:1/none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot open storage postgresql+psycopg2://wb@127.0.0.1:1/none" in r.stderr


def test_passwords_are_not_printed():
    from workbench.study._storage import _redact

    assert _redact("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert _redact("postgresql://u@db/x") == "postgresql://u@db/x"
    assert _redact("sqlite:///runs/workbench.db") == "sqlite:///runs/workbench.db"
