"""Backends: a registry of runtimes that compile models into measured artifacts.

Built in: ``torch`` (eager fp32) and ``onnxruntime`` (fp32, int8 dynamic, int8 static QDQ).
Third-party packages add theirs under the ``workbench.backends`` entry-point group.
"""

from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
)
from workbench.backends._registry import backend_names, get_backend, register_backend

__all__ = [
    "Artifact",
    "Backend",
    "CompileContext",
    "Deployment",
    "ModelSource",
    "Runner",
    "Threads",
    "backend_names",
    "get_backend",
    "register_backend",
]
