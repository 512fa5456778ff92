"""Helpers for tests that run ``workbench run`` as users do: real subprocesses, real signals,
and a study read while its run writes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import tiny_config_dict


def wb(*args: str, cwd: Any, timeout: float = 300, env: dict[str, str] | None = None, **kw: Any):
    """``workbench ARGS`` in a subprocess, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kw,
    )


def write_cfg(path: Path, **over: Any) -> Path:
    """The tiny MLP config (``tests.conftest.tiny_config_dict``) at ``path``."""
    path.write_text(yaml.safe_dump(tiny_config_dict(**over)))
    return path


def endless_study(name: str = "tiny") -> dict[str, Any]:
    """A ``study`` section whose budget no test finishes before it interrupts the run."""
    return {
        "name": name,
        "sampler": "random",
        "seed": 0,
        "trials": 5000,
        "objectives": ["accuracy", "latency"],
    }


def trials_so_far(db: Path, study: str = "tiny") -> list:
    """The run's trials as stored now, read without writing: opening the database the usual way
    would create Optuna's tables, racing the run that is creating them."""
    import optuna

    from workbench.study import open_storage

    if not db.exists():
        return []
    try:
        storage = open_storage(f"sqlite:///{db}", heartbeat=False, read_only=True)
        return optuna.load_study(study_name=study, storage=storage).get_trials()
    except Exception:  # noqa: BLE001 - the run may still be creating its study
        return []


def killable_point(trials: list) -> bool:
    """Two trials finished, a third running and its worker noted: the moment to SIGKILL."""
    from workbench.study._recover import WORKER_ATTR

    states = [t.state.name for t in trials]
    return (
        states.count("COMPLETE") >= 2
        and states[-1] == "RUNNING"
        and WORKER_ATTR in trials[-1].system_attrs
    )


def leftover_parts(*folders: Path) -> list[Path]:
    """Half-written files (``.part``, hidden temporaries) left in ``folders``."""
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            out += [p for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name]
    return out
