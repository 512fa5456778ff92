"""A skip under CI=true fails the run; outside CI it stays a skip; a ``not applicable:`` skip
stays a skip everywhere. Runs a real pytest in a subprocess on a made-up test module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

MODULE = """
import pytest

def test_missing_component():
    pytest.skip("Chromium not found")

def test_cpu_path():
    pytest.skip("not applicable: this CPU has no AMX")

def test_runs():
    assert True
"""
COLLECT_SKIP = 'import pytest\npytest.importorskip("no_such_module_anywhere")\n'


def _pytest(tmp_path: Path, ci: str | None, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests._ci_skips",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-q",
            "--rootdir",
            str(tmp_path),
            *files,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def made_up(tmp_path: Path) -> Path:
    (tmp_path / "test_made_up.py").write_text(MODULE)
    (tmp_path / "test_collect_skip.py").write_text(COLLECT_SKIP)
    return tmp_path


def test_under_ci_a_skip_fails_and_a_not_applicable_one_does_not(made_up):
    r = _pytest(made_up, "true", "test_made_up.py")
    assert r.returncode == 1, r.stdout
    assert "1 failed, 1 passed, 1 skipped" in r.stdout
    assert "test_missing_component skipped under CI=true (CI must run it): Chromium not found" in (
        r.stdout
    )


def test_a_module_skipped_at_collection_fails_under_ci(made_up):
    r = _pytest(made_up, "true", "test_collect_skip.py")
    assert r.returncode != 0 and "no_such_module_anywhere" in r.stdout, r.stdout


def test_outside_ci_skips_stay_skips(made_up):
    r = _pytest(made_up, None, "test_made_up.py", "test_collect_skip.py")
    assert r.returncode == 0, r.stdout
    assert "1 passed, 3 skipped" in r.stdout
