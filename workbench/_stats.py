"""Order statistics shared by every timer: the distribution-free confidence interval of a median."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["median_ci"]


def median_ci(sorted_values: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (normal approximation of the
    binomial)."""
    n = len(sorted_values)
    if n < 3:
        return float(sorted_values[0]), float(sorted_values[-1])
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    return float(sorted_values[lo]), float(sorted_values[hi])
