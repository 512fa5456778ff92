"""nn-Meter's accuracy figures of predicted against measured latencies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["accuracy_figures", "spearman"]


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr  # scipy loads on use

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def accuracy_figures(
    predicted_ms: Sequence[float], measured_ms: Sequence[float]
) -> dict[str, float]:
    """nn-Meter's figures: share within ±10%, median and mean absolute relative error, Spearman
    and bias."""
    p = np.asarray(predicted_ms, dtype=float)
    m = np.asarray(measured_ms, dtype=float)
    rel = p / m - 1.0
    return {
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "within_5pct": float(np.mean(np.abs(rel) <= 0.05)),
        "median_abs_error": float(np.median(np.abs(rel))),
        "mean_abs_error": float(np.mean(np.abs(rel))),
        "median_signed_error": float(np.median(rel)),
        "spearman": spearman(p, m),
    }
