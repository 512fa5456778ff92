"""The shared statistics against independent computations (scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from workbench._stats import mcnemar_exact, proportion_ci, ratio_ci


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (10, 1), (25, 40)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_ratio_ci_of_an_exact_factor_is_that_factor():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0.0, 0.2, size=200)
    ratio, low, high = ratio_ci(a, 1.1 * a)
    # Paired by round, every bootstrap ratio is exactly 1.1.
    assert ratio == pytest.approx(1.1)
    assert low == pytest.approx(1.1) and high == pytest.approx(1.1)


def test_ratio_ci_matches_scipy_bootstrap_and_is_seeded():
    rng = np.random.default_rng(2)
    a = rng.lognormal(0.0, 0.1, size=300)
    b = 1.05 * rng.lognormal(0.0, 0.1, size=300)

    def stat(x, y, axis=-1):
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    ref = stats.bootstrap(
        (a, b), stat, paired=True, n_resamples=4000, method="percentile", random_state=3
    ).confidence_interval
    ratio, low, high = ratio_ci(a, b, n_boot=4000, seed=0)
    assert ratio == pytest.approx(np.median(b) / np.median(a))
    assert low == pytest.approx(ref.low, abs=0.01)
    assert high == pytest.approx(ref.high, abs=0.01)
    assert low < ratio < high
    assert ratio_ci(a, b, n_boot=4000, seed=0) == (ratio, low, high)


def test_ratio_ci_unequal_lengths_and_level():
    rng = np.random.default_rng(6)
    a = rng.normal(10.0, 0.5, size=100)
    b = rng.normal(10.0, 0.5, size=150)
    _, low90, high90 = ratio_ci(a, b, level=0.90)
    _, low99, high99 = ratio_ci(a, b, level=0.99)
    assert low99 <= low90 < 1.0 < high90 <= high99
    with pytest.raises(ValueError):
        ratio_ci([], b)
    with pytest.raises(ValueError):
        ratio_ci(a, b, level=1.5)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (7, 20), (20, 20), (180, 360)])
def test_proportion_ci_matches_scipy_wilson(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = proportion_ci(k, n)
    assert low == pytest.approx(ci.low, abs=1e-3) and high == pytest.approx(ci.high, abs=1e-3)
    assert 0.0 <= low <= k / n <= high <= 1.0
    with pytest.raises(ValueError):
        proportion_ci(3, 2)
