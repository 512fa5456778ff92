"""Statistics shared by every timer and gate: the distribution-free confidence interval of a
median, the exact McNemar test, the bootstrap interval of a ratio of medians and the Wilson
interval of an accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mcnemar_exact", "median_ci", "proportion_ci", "ratio_ci"]


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


def proportion_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (an accuracy on ``n`` test samples);
    unlike the normal approximation it stays inside [0, 1] and is not empty at 0% or 100%."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"expected 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, mid - half), min(1.0, mid + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value on the discordant pairs: ``b`` samples only the first
    model gets right, ``c`` only the second. Under no change each discordant pair is a fair coin,
    so the p-value is the two-sided binomial tail of ``min(b, c)`` in ``b + c`` tosses."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # P(X <= k) for X ~ Binomial(n, 1/2), summed exactly in integers.
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def ratio_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``median(b) / median(a)`` with a seeded percentile-bootstrap interval.

    Samples of equal length are taken as interleaved rounds (``a[i]`` and ``b[i]`` timed back to
    back) and resampled by round, so a drift of the machine that moves both sides cancels in
    the ratio; samples of unequal length are resampled independently. A bootstrap rather than a
    Hodges-Lehmann interval: it needs no shift model, and timings differ by a factor, not a shift.
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if xa.size == 0 or xb.size == 0:
        raise ValueError("ratio_ci needs at least one sample on each side")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    ratio = float(np.median(xb) / np.median(xa))
    rng = np.random.default_rng(seed)
    if xa.size == xb.size:
        idx = rng.integers(0, xa.size, size=(n_boot, xa.size))
        ia = ib = idx
    else:
        ia = rng.integers(0, xa.size, size=(n_boot, xa.size))
        ib = rng.integers(0, xb.size, size=(n_boot, xb.size))
    boots = np.median(xb[ib], axis=1) / np.median(xa[ia], axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    return ratio, float(low), float(high)
