"""Locate files shipped with the package: built-in hardware profiles and search configs."""

from __future__ import annotations

from pathlib import Path

__all__ = ["builtin_dir"]

_PKG = Path(__file__).resolve().parent


def builtin_dir(kind: str) -> Path | None:
    """``hwprofiles`` or ``search`` as shipped: inside the wheel, or at the source tree's root."""
    for candidate in (_PKG / "_data" / kind, _PKG.parent / kind):
        if candidate.is_dir():
            return candidate
    return None
