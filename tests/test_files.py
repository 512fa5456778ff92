"""Outputs written by several processes at once (two workers of one study finish together)."""

import errno
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from workbench import OutputError, WorkbenchError
from workbench._files import atomic_write_text, remove_dead_temporaries, replace_dir, writing


def _write_many(path, tag, n):
    for i in range(n):
        atomic_write_text(path, f"{tag}-{i}\n" * 1000)


def _replace_many(path, tag, n):
    def build(folder):
        for j in range(5):
            (folder / f"f{j}").write_text(tag)

    for _ in range(n):
        replace_dir(path, build)


def _run(target, path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=target, args=(path, tag, 50)) for tag in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    return [p.exitcode for p in procs]


def test_concurrent_atomic_writes_leave_one_whole_file_and_no_temporaries(tmp_path):
    path = tmp_path / "report.html"
    assert _run(_write_many, path) == [0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 1000 and len(set(lines)) == 1  # one writer's whole text
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_concurrent_folder_replacements_leave_one_whole_folder(tmp_path):
    dest = tmp_path / "pareto"
    assert _run(_replace_many, dest) == [0, 0, 0]
    texts = {p.read_text() for p in dest.iterdir()}
    assert sorted(p.name for p in dest.iterdir()) == [f"f{j}" for j in range(5)] and len(texts) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["pareto"]


def test_a_failed_write_is_an_output_error_naming_the_path_and_the_os_error(tmp_path):
    with pytest.raises(OutputError) as info, writing("/dev/full"), open("/dev/full", "w") as fh:
        fh.write("x")
        fh.flush()
    err = info.value
    assert str(err) == "cannot write /dev/full: No space left on device (ENOSPC)"
    assert isinstance(err, OSError) and isinstance(err, WorkbenchError) and not err.user_error
    assert err.errno == errno.ENOSPC and err.filename == "/dev/full"
    # a file where a folder is expected: named as the file meant, not a temporary beside it
    (tmp_path / "blocked").write_text("a file")
    with pytest.raises(OutputError, match=r"^cannot write .*blocked/out\.json: File exists"):
        atomic_write_text(tmp_path / "blocked" / "out.json", "{}")


def test_a_folder_whose_build_fails_stays_as_it_was_and_leaves_no_staging(tmp_path):
    dest = tmp_path / "pareto"
    replace_dir(dest, lambda f: (f / "a").write_text("old"))

    def fails(folder):
        (folder / "b").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=r"cannot write .*pareto: No space left on device"):
        replace_dir(dest, fails)
    assert [p.name for p in tmp_path.iterdir()] == ["pareto"]
    assert (dest / "a").read_text() == "old" and not (dest / "b").exists()


SLOW_BUILD = """
import sys, time
from workbench._files import replace_dir

def build(folder):
    (folder / "half.onnx").write_bytes(b"x" * 1000)
    time.sleep(60)  # killed here, mid-build

replace_dir(sys.argv[1], build)
"""


def test_temporaries_of_a_killed_writer_are_removed_and_a_live_writers_stay(tmp_path):
    dest = tmp_path / "pareto"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(dest)], env=env)
    staging: list = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not staging:
        staging = [p for p in tmp_path.glob(".pareto.new-*") if (p / "half.onnx").exists()]
        time.sleep(0.05)
    assert staging, "the writer never started building"
    assert remove_dead_temporaries(tmp_path) == []  # its writer still runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    mine = tmp_path / f".results.json.tmp-{os.getpid()}-0123abcd"
    mine.write_text("being written")
    (tmp_path / ".hidden-but-not-ours").write_text("kept")
    assert remove_dead_temporaries(tmp_path) == staging
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, ".hidden-but-not-ours"])
    assert remove_dead_temporaries(tmp_path / "absent") == []
