"""Strict JSON for storage and exports: NaN and infinities become null, unknown types text."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["clean", "dumps"]


def clean(obj: Any) -> Any:
    """A copy of ``obj`` made of JSON types only."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if hasattr(obj, "item"):  # NumPy scalars
        return clean(obj.item())
    return str(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    kwargs.setdefault("indent", 2)
    return json.dumps(clean(obj), allow_nan=False, **kwargs)
