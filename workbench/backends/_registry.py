"""Backend registry: built-ins by import path, others by the ``workbench.backends`` entry point."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TypeVar

from workbench._errors import UnknownNameError, WorkbenchError
from workbench.backends._base import Backend

__all__ = ["backend_names", "get_backend", "register_backend"]

_BUILTIN = {
    "torch": "workbench.backends._torch:TorchBackend",
    "onnxruntime": "workbench.backends._onnxruntime:OnnxRuntimeBackend",
    "keras": "workbench.backends._keras:KerasBackend",
    "keras-xla": "workbench.backends._keras:KerasXlaBackend",
    "litert": "workbench.backends._litert:LiteRTBackend",
    "openvino": "workbench.backends._openvino:OpenVinoBackend",
}
_TARGETS: dict[str, str | type[Backend]] = dict(_BUILTIN)
_INSTANCES: dict[str, Backend] = {}
_ENTRY_POINTS_LOADED = False
ENTRY_POINT_GROUP = "workbench.backends"


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        _TARGETS.setdefault(ep.name, ep.value)


_Target = TypeVar("_Target", bound="type[Backend] | str")


def register_backend(cls: _Target, name: str | None = None, *, replace: bool = False) -> _Target:
    """Register a backend class (or ``"module:Class"``); usable as a class decorator."""
    key = name or (cls.name if not isinstance(cls, str) else None)
    if not key:
        raise ValueError("a backend registered by import path needs a name")
    if key in _TARGETS and not replace and _TARGETS[key] is not cls:
        raise ValueError(f"backend {key!r} is already registered; pass replace=True to override")
    _TARGETS[key] = cls
    _INSTANCES.pop(key, None)
    return cls


def backend_names() -> list[str]:
    _load_entry_points()
    return sorted(_TARGETS)


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``; unknown names list the known ones."""
    _load_entry_points()
    if name in _INSTANCES:
        return _INSTANCES[name]
    target = _TARGETS.get(name)
    if target is None:
        raise UnknownNameError("backend", name, list(_TARGETS))
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise WorkbenchError(f"backend {name!r} ({target}) cannot be loaded: {err}") from err
    else:
        cls = target
    instance = cls()
    if not isinstance(instance, Backend):
        raise WorkbenchError(f"backend {name!r} ({target}) is not a workbench.backends.Backend")
    _INSTANCES[name] = instance
    return instance
