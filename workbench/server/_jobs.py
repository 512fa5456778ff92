"""Background runs: ``python -m workbench.cli run CONFIG`` as subprocesses the panel can watch.

Each job is its own process group, writes its log (stdout and stderr) and JSON-lines progress
(``--progress-json``) to files in the jobs folder, and is cancelled with SIGINT, which the CLI
turns into "stop after the current stage, keep every finished trial" (exit 130; rerunning the
config resumes). At most ``max_running`` jobs run at once; later ones wait queued, so two runs
never time their models against each other on the same cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["Job", "JobManager", "PathError", "confine_path"]

#: exit code -> job status (see ``workbench.cli``)
_EXIT_STATUS = {0: "done", 1: "failed", 2: "bad-input", 130: "interrupted"}
_FINAL = ("done", "failed", "bad-input", "interrupted", "cancelled", "killed")
LOG_TAIL_LINES = 15


_TRACEBACK_LINES = (
    "Traceback (most recent call last):",
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)


def _traceback_frame(line: str) -> bool:
    """A traceback's scaffolding (frames, source, carets): the exception line itself is kept."""
    stripped = line.strip()
    return (
        line.startswith(("  File ", "    "))
        or stripped in _TRACEBACK_LINES
        or (bool(stripped) and set(stripped) <= {"^", "~", " "})
    )


class PathError(Exception):
    """A path from a request that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def confine_path(root: Path, rel: str, *, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> Path:
    """Resolve ``rel`` (a root-relative path, as the file browser names files) inside ``root``.

    Absolute paths, ``..`` and anything that resolves outside the root (symlinks included)
    are refused; so are missing files and other file types.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise PathError(400, "a config path is required, relative to the server's root")
    if "\x00" in rel:
        raise PathError(400, "the config path contains a NUL character")
    if len(rel) > 1024:
        raise PathError(400, f"the config path is over 1024 characters ({len(rel)})")
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or rel.startswith("~") or (len(rel) > 1 and rel[1] == ":"):
        raise PathError(403, f"config paths are relative to the server's root; {rel!r} is absolute")
    if ".." in pure.parts:
        raise PathError(403, f"config path {rel!r} leaves the server's root")
    root_r = root.resolve()
    try:
        full = (root_r / pure).resolve()  # follows every symlink on the way
        if full != root_r and root_r not in full.parents:
            raise PathError(403, f"config path {rel!r} resolves outside the server's root")
        is_file = full.is_file()
    except OSError as err:  # a name too long, a symlink loop
        raise PathError(400, f"config path {rel!r}: {err.strerror or err}") from None
    if not is_file:
        raise PathError(404, f"no config file {pure.as_posix()} under the server's root")
    if full.suffix.lower() not in suffixes:
        raise PathError(
            400, f"{pure.as_posix()} is not a study config (expected {' or '.join(suffixes)})"
        )
    return full


@dataclass
class Job:
    """One run of a config: its process, files and what its progress file has said so far."""

    id: str
    config: str  # root-relative path
    argv: list[str]
    cwd: Path
    dir: Path
    study: str | None = None
    storage: str | None = None
    # queued | running | cancelling | done | failed | bad-input | interrupted | cancelled | killed
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    returncode: int | None = None
    total: int | None = None
    finished_before: int | None = None
    done: int | None = None
    stage: str | None = None
    last_trial: dict[str, Any] | None = None
    new_complete: int = 0
    new_failed: int = 0
    cancel_requested: bool = False
    proc: subprocess.Popen[bytes] | None = None
    _progress_offset: int = 0

    @property
    def log_path(self) -> Path:
        return self.dir / "log.txt"

    @property
    def progress_path(self) -> Path:
        return self.dir / "progress.jsonl"

    @property
    def final(self) -> bool:
        return self.status in _FINAL

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        # progress bars redraw with carriage returns: keep what the last redraw left
        out = [ln.rsplit("\r", 1)[-1] for ln in text.splitlines()]
        return [ln for ln in out if ln.strip() and not _traceback_frame(ln)][-lines:]

    def message(self) -> str | None:
        """One line saying why a run did not finish well (the CLI's own error line when it printed
        one)."""
        if self.status in ("queued", "running", "cancelling", "done"):
            return None
        if self.status == "cancelled":
            return "cancelled: finished trials are stored; run the config again to resume"
        tail = self.log_tail(200)
        for line in reversed(tail):
            if line.startswith(("workbench: error:", "interrupted:")):
                return line
        if self.status == "killed":
            return (
                f"the run was killed (signal {-(self.returncode or 0)}): finished trials are "
                "stored; run the config again to resume"
            )
        return tail[-1] if tail else f"the run exited with code {self.returncode}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "config": self.config,
            "study": self.study,
            "storage": self.storage,
            "status": self.status,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "returncode": self.returncode,
            "total": self.total,
            "finished_before": self.finished_before,
            "done": self.done,
            "stage": self.stage,
            "last_trial": self.last_trial,
            "new_complete": self.new_complete,
            "new_failed": self.new_failed,
            "message": self.message(),
            "pid": self.proc.pid if self.proc is not None else None,
            "command": " ".join(["workbench", *self.argv[3:]]),
        }
        if self.status in ("failed", "bad-input", "interrupted", "killed"):
            d["log_tail"] = self.log_tail()
        return d

    def read_progress(self) -> None:
        """Apply the progress lines written since the last read."""
        try:
            with open(self.progress_path, "rb") as fh:
                fh.seek(self._progress_offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self._progress_offset += end + 1
        for raw in data[: end + 1].splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            kind = ev.get("event")
            if kind == "start":
                self.study = ev.get("study", self.study)
                self.total = ev.get("total")
                self.finished_before = ev.get("finished")
                self.done = ev.get("finished")
            elif kind == "stage":
                self.stage = ev.get("text")
            elif kind == "trial":
                self.done, self.total = ev.get("done"), ev.get("total", self.total)
                self.last_trial = {k: ev.get(k) for k in ("number", "state", "values", "failure")}
                if ev.get("state") == "complete":
                    self.new_complete += 1
                elif ev.get("state") == "fail":
                    self.new_failed += 1
            elif kind == "end":
                self.stage = None


class JobManager:
    """Starts, watches and cancels runs; safe to call from the event loop (nothing here blocks
    long)."""

    def __init__(
        self,
        root: Path,
        jobs_dir: Path,
        *,
        max_running: int = 1,
        python: str | None = None,
        on_change: Callable[[Job], None] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.jobs_dir = jobs_dir
        self.max_running = max(1, max_running)
        self.python = python or sys.executable
        self.on_change = on_change
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        config: Path,
        *,
        study: str | None,
        storage: str | None,
        trials: int | None,
        storage_arg: str | None,
    ) -> Job:
        """Queue a run of ``config`` (already confined and validated); it starts when a slot is
        free."""
        jid = uuid.uuid4().hex[:12]
        d = self.jobs_dir / jid
        d.mkdir(parents=True, exist_ok=True)
        rel = config.relative_to(self.root).as_posix()
        argv = [
            self.python,
            "-m",
            "workbench.cli",
            "run",
            rel,
            "--progress-json",
            str(d / "progress.jsonl"),
        ]
        if trials is not None:
            argv += ["--trials", str(trials)]
        if storage_arg:
            argv += ["--storage", storage_arg]
        job = Job(jid, rel, argv, self.root, d, study=study, storage=storage)
        with self._lock:
            self.jobs[jid] = job
        self.poll()
        return job

    def _start(self, job: Job) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(job.log_path, "ab") as log:
            log.write(f"$ {job.to_dict()['command']}\n".encode())
            log.flush()
            try:
                job.proc = subprocess.Popen(
                    job.argv,
                    cwd=job.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # its own process group: SIGINT reaches the run and its workers only
                    start_new_session=True,
                )
            except OSError as err:
                log.write(f"workbench: error: cannot start the run: {err}\n".encode())
                job.status, job.returncode, job.finished = "failed", None, time.time()
                return
        job.status, job.started = "running", time.time()

    def poll(self) -> list[Job]:
        """Update every job from its process and progress file; start queued jobs. Returns the
        changed ones."""
        changed = []
        with self._lock:
            running = 0
            for job in self.jobs.values():
                if job.proc is None or job.final:
                    continue
                before = (job.status, job.done, job.stage)
                job.read_progress()
                rc = job.proc.poll()
                if rc is not None:
                    job.read_progress()
                    job.returncode = rc
                    job.finished = time.time()
                    if rc < 0:
                        job.status = "killed"
                    elif rc == 130 and job.cancel_requested:
                        job.status = "cancelled"
                    else:
                        job.status = _EXIT_STATUS.get(rc, "failed")
                else:
                    running += 1
                if (job.status, job.done, job.stage) != before:
                    changed.append(job)
            for job in self.jobs.values():
                if job.status == "queued" and running < self.max_running:
                    self._start(job)
                    running += job.status == "running"
                    changed.append(job)
        if self.on_change is not None:
            for job in changed:
                self.on_change(job)
        return changed

    def get(self, jid: str) -> Job:
        job = self.jobs.get(jid)
        if job is None:
            raise KeyError(f"no job {jid!r}")
        return job

    def list(self) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    def running_studies(self) -> dict[str, str]:
        """study name -> job id, for jobs queued or running."""
        return {j.study: j.id for j in self.jobs.values() if j.study and not j.final}

    def cancel(self, jid: str, *, force: bool = False) -> Job:
        """SIGINT to the run's process group (finished trials stay stored); ``force``: SIGKILL."""
        job = self.get(jid)
        with self._lock:
            if job.status == "queued":
                job.status, job.finished, job.cancel_requested = "cancelled", time.time(), True
                return job
            if job.final or job.proc is None:
                return job
            job.cancel_requested = True
            sig = signal.SIGKILL if force else signal.SIGINT
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.proc.pid, sig)
            if job.status == "running":
                job.status = "cancelling"
        return job

    def shutdown(self, timeout: float = 10.0) -> None:
        """Interrupt every running job and wait a little for them to store what they finished."""
        live = [j for j in self.jobs.values() if j.proc is not None and j.proc.poll() is None]
        for j in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(j.proc.pid, signal.SIGINT)  # type: ignore[union-attr]
        deadline = time.time() + timeout
        for j in live:
            try:
                j.proc.wait(timeout=max(0.1, deadline - time.time()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(j.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]

    def read_log(self, jid: str, offset: int, limit: int = 65536) -> dict[str, Any]:
        """Log text from byte ``offset`` (at most ``limit`` bytes), and where to continue."""
        job = self.get(jid)
        try:
            with open(job.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                offset = min(max(0, offset), size)
                fh.seek(offset)
                data = fh.read(limit)
        except OSError:
            data, size, offset = b"", 0, 0
        # never split a UTF-8 character between two reads
        cut = len(data)
        if cut == limit:
            while cut > 0 and (data[cut - 1] & 0xC0) == 0x80:
                cut -= 1
            if cut > 0 and data[cut - 1] >= 0xC0:
                cut -= 1
        return {
            "id": jid,
            "offset": offset,
            "next_offset": offset + cut,
            "size": size,
            "text": data[:cut].decode("utf-8", errors="replace"),
            "status": job.status,
            "final": job.final,
        }
