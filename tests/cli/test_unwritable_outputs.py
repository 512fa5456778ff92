"""A run whose outputs cannot be written (a full disk, a read-only folder, a file where a folder
is expected) ends with one error line naming the path and the OS error, exit 1, and keeps every
trial it stored. The tests run as root, for whom permissions stop nothing: a file-size limit
(writes past it fail with EFBIG), ``/sys`` and ``/dev/full`` stand in for a full or read-only
disk."""

from __future__ import annotations

import json
import resource
import signal

import pytest

from tests._runs import leftover_parts, trials_so_far, wb, write_cfg

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

#: bigger than the study database and the tiny models, smaller than report.html (plotly inside)
FILE_LIMIT = 1 << 20


def _full_disk() -> None:
    """In the child: files stop growing at FILE_LIMIT, and a write past it fails with EFBIG
    instead of killing the process with SIGXFSZ."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def _one_error_line(r) -> str:
    assert r.returncode == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: cannot "), r.stderr
    return lines[0]


def test_unwritable_outputs_are_one_line_and_the_stored_trials_stay(tmp_path):
    write_cfg(tmp_path / "tiny.yaml")
    db = tmp_path / "runs" / "workbench.db"
    run = ("run", "tiny.yaml", "--no-memory", "--quiet")
    # the disk fills up while the run writes its report, after both trials are stored
    r = wb(*run, cwd=tmp_path, preexec_fn=_full_disk)
    line = _one_error_line(r)
    assert line == (
        "workbench: error: cannot write runs/tiny/report.html: File too large (EFBIG)"
    ), line
    trials = trials_so_far(db)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert all(t.user_attrs.get("spec") for t in trials)
    run_dir = tmp_path / "runs" / "tiny"
    assert not (run_dir / "report.html").exists()
    results = json.loads((run_dir / "results.json").read_text())  # written before, and whole
    assert len(results["trials"]) == 2
    assert leftover_parts(run_dir) == []  # no temporary file or staging folder stays behind

    # a read-only file system as the output folder: nothing runs, nothing stored is touched
    storage = f"sqlite:///{db}"
    r = wb(*run, "--out", "/sys/workbench-out", "--storage", storage, cwd=tmp_path)
    line = _one_error_line(r)
    assert "/sys/workbench-out/tiny" in line and line.endswith(")"), line
    # a file where the output folder should be
    (tmp_path / "blocked").write_text("not a folder")
    r = wb(*run, "--out", "blocked", "--storage", storage, cwd=tmp_path)
    assert _one_error_line(r) == (
        "workbench: error: cannot create the folder blocked/tiny: Not a directory (ENOTDIR)"
    )
    # a full device for the progress file
    r = wb(*run, "--progress-json", "/dev/full", "--storage", storage, cwd=tmp_path)
    assert _one_error_line(r) == (
        "workbench: error: cannot write /dev/full: No space left on device (ENOSPC)"
    )
    after = trials_so_far(db)
    assert [(t.number, t.state.name, t.values) for t in after] == [
        (t.number, t.state.name, t.values) for t in trials
    ]
