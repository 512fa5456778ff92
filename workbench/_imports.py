"""Lazy imports of optional heavy packages, failing at use with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from workbench._errors import MissingDependencyError

__all__ = ["is_available", "require"]

# pip distribution name for modules whose import name differs from it
_DIST = {
    "ai_edge_litert": "ai-edge-litert",
    "tensorflow": "tensorflow-cpu",
    "sklearn": "scikit-learn",
}


def require(module: str, *, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        dist = _DIST.get(top, top)
        hint = f"pip install 'workbench-nas[{extra}]'" if extra else f"pip install {dist}"
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{dist} is needed{why} but cannot be imported ({err}); install it with: {hint}"
        ) from err


def is_available(module: str) -> bool:
    """True when ``module`` can be found, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
