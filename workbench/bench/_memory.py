"""Peak memory of an artifact: the RSS high-water mark of loading it and running one batch.

Measured in a separate worker process so that the study's own allocations (training, other
runtimes, allocator caches) do not blur the figure. Per request the worker: makes sure the
runtime is imported and initialised (the first request per backend is run once unmeasured),
trims the heap, resets the kernel's high-water mark (``/proc/self/clear_refs``), reads the
resident set, loads the artifact and runs it once, then reads ``VmHWM``. The figure is the
difference: weights, runtime arenas and activations of this model, not the runtime's import.

Linux only; elsewhere the figure is reported as unavailable, with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.backends import Artifact, Threads

__all__ = ["MEMORY_METHOD", "MemoryProbe"]

MEMORY_METHOD = (
    "peak RSS increase (VmHWM) while loading the artifact and running one inference, in a worker "
    "process with the runtime already initialised"
)


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _worker() -> None:  # pragma: no cover - runs in the child process (tested through MemoryProbe)
    import numpy as np

    from workbench.backends import Artifact, Threads, get_backend

    warmed: set[str] = set()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            artifact = Artifact.from_dict(req["artifact"])
            threads = Threads(**req["threads"])
            backend = get_backend(artifact.deployment.backend)
            x = np.zeros((req.get("batch", 1), *artifact.input_shape), dtype=np.float32)

            if (
                backend.name not in warmed
            ):  # first use initialises the runtime: keep that out of the figure
                warm = backend.load(artifact, threads)
                warm(x)
                warm.close()
                del warm
                warmed.add(backend.name)
            _trim()
            with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
                f.write("5")
            base = _status()["VmRSS"]
            runner = backend.load(artifact, threads)
            runner(x)
            peak = _status()["VmHWM"]
            runner.close()
            del runner
            _trim()
            reply: dict[str, Any] = {"ok": True, "peak_bytes": max(0, peak - base)}
        except Exception as err:  # noqa: BLE001 - reported to the parent
            reply = {
                "ok": False,
                "error": (
                    f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                ),
            }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class MemoryProbe:
    """Client of the memory worker; start it lazily, reuse it for every artifact of a run."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.supported = sys.platform.startswith("linux") and os.path.exists(
            "/proc/self/clear_refs"
        )
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            env = dict(os.environ)
            env.setdefault("PYTHONWARNINGS", "ignore")
            # the worker imports the same workbench as this process (a checkout, not another
            # install)
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from workbench.bench._memory import _worker; _worker()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        return self._proc

    def measure(
        self, artifact: Artifact, threads: Threads, batch: int = 1
    ) -> tuple[int | None, str | None]:
        """Peak bytes, or ``(None, reason)`` when it cannot be measured."""
        if not self.supported:
            return None, "needs Linux /proc (VmHWM and clear_refs)"
        if artifact.path is None:
            return None, artifact.meta.get("no_file_reason") or "artifact has no file"
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        req = {"artifact": artifact.to_dict(), "threads": threads.to_dict(), "batch": batch}
        try:
            proc.stdin.write(json.dumps(req, default=str) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError) as err:
            self.close()
            return None, f"memory worker failed: {err}"
        if not line:
            self.close()
            return None, "memory worker exited"
        reply = json.loads(line)
        return (reply["peak_bytes"], None) if reply.get("ok") else (None, reply.get("error"))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()

    def __enter__(self) -> MemoryProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
