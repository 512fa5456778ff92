"""The artifact store's writes are atomic: a writer killed with SIGKILL mid-write leaves no
artifact at its final name, and the next store opened on the folder removes its part file."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from workbench.study._artifacts import AtomicArtifactStore

WRITER = """
import sys, time
from workbench.study._artifacts import AtomicArtifactStore

class Slow:
    def __init__(self): self.n = 0
    def read(self, size=-1):
        self.n += 1
        if self.n > 2:
            time.sleep(60)  # killed here, half written
        return b"x" * 65536

AtomicArtifactStore(sys.argv[1]).write("art-1", Slow())
"""


def test_a_writer_killed_mid_write_leaves_no_artifact_and_its_part_is_cleaned(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
    part = None
    deadline = time.time() + 60
    while time.time() < deadline and part is None:
        found = [p for p in tmp_path.glob(".art-1.*.part") if p.stat().st_size > 0]
        part = found[0] if found else None
        time.sleep(0.05)
    assert part is not None, "the writer never started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "art-1").exists() and part.exists()
    store = AtomicArtifactStore(tmp_path)
    assert store.removed_parts == [part] and not part.exists()


def test_a_failed_write_removes_its_part_and_a_good_one_is_readable(tmp_path):
    store = AtomicArtifactStore(tmp_path)

    class Broken(io.RawIOBase):
        def read(self, size=-1):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        store.write("a", Broken())
    assert list(tmp_path.iterdir()) == []
    store.write("b", io.BytesIO(b"model bytes"))
    with store.open_reader("b") as f:
        assert f.read() == b"model bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
