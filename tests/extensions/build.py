"""The JupyterLab extension's toolchain for tests: install its npm packages and build it when
the checkout has no (or an outdated) build, one pytest worker at a time."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "extensions" / "jupyterlab-workbench"
BUILT = REPO / "workbench" / "labextension"
SOURCES = ("src", "style", "schema", "package.json", "webpack.config.js", "tsconfig.json")


def jlpm() -> str:
    """``jlpm`` (JupyterLab's pinned yarn) next to this Python, else on PATH; skips without Node."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (needed to build and test the JupyterLab extension)")
    here = Path(sys.executable).parent / "jlpm"
    found = str(here) if here.exists() else shutil.which("jlpm")
    if not found:
        pytest.skip("jlpm not found (install jupyterlab)")
    return found


def env() -> dict[str, str]:
    """PATH with this Python's scripts first (``jupyter labextension build`` runs from jlpm)."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CI": "true",
    }


@contextmanager
def _lock() -> Iterator[None]:
    with open(EXT / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(args: list[str], timeout: float) -> None:
    proc = subprocess.run(args, cwd=EXT, env=env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}"
        )


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        p = EXT / name
        files = (
            [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        )
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def ensure_node_modules() -> None:
    tool = jlpm()
    with _lock():
        if not (EXT / "node_modules" / ".yarn-state.yml").exists():
            _run([tool, "install", "--immutable"], timeout=900)


def ensure_built() -> Path:
    """The prebuilt extension (``workbench/labextension``), built first if missing or stale."""
    marker = BUILT / "package.json"
    if marker.exists() and marker.stat().st_mtime >= _newest_source():
        return BUILT
    ensure_node_modules()
    tool = jlpm()
    with _lock():
        if not marker.exists() or marker.stat().st_mtime < _newest_source():
            _run([tool, "build:prod"], timeout=900)
    return BUILT
