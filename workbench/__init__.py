"""Workbench: hardware-aware model design.

Search architectures with Optuna, deploy them every way a target supports (PyTorch, ONNX
Runtime fp32/int8, ...), measure latency, memory and size with receipts, and explore the
accuracy/latency Pareto fronts. ``import workbench`` is cheap: PyTorch, TensorFlow and ONNX
Runtime load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench._errors import (
    BackendError,
    ConfigError,
    DataError,
    DeploymentError,
    MissingDependencyError,
    OutputError,
    StorageError,
    UnknownNameError,
    WorkbenchError,
)
from workbench._version import __version__

__all__ = [
    "ArchSpec",
    "BackendError",
    "ConfigError",
    "DataError",
    "DeploymentError",
    "MissingDependencyError",
    "OutputError",
    "StorageError",
    "UnknownNameError",
    "WorkbenchError",
    "__version__",
    "benchmark",
    "load_config",
    "load_profile",
    "load_results",
    "open_study",
    "run_study",
]

_LAZY = {
    "ArchSpec": "workbench.arch",
    "benchmark": "workbench._api",
    "load_config": "workbench.study",
    "load_profile": "workbench.hw",
    "load_results": "workbench.study",
    "open_study": "workbench.study",
    "run_study": "workbench._api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (for ``jupyter labextension develop``; wheels install it
    under ``share/jupyter/labextensions``)."""
    return [{"src": "labextension", "dest": "jupyterlab-workbench"}]
