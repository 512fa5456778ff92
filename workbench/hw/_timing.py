"""Timing many models against each other for calibration: interleaved rounds, stable medians.

Calibration and validation of the predictor compare many models, not a few deployments of one
model, so every model is timed in every round (order rotated), each for a short slice of calls
after one untimed call. A shared machine's load then falls evenly on all of them. Rounds go on
until every model's median is stable (its distribution-free 95% confidence interval within
``target_rel_ci``) or the time cap is reached.

A call during which the process was preempted (its involuntary context-switch count rose:
another process took the CPU) measures the machine's other load, not the model. Those calls
are counted but left out of the median, and the share left out is reported; a model that was
preempted on every call keeps all its samples and says so.

Each model's samples are also split into the first and the second half of the rounds; the two
half-medians disagree by however much the machine drifted meanwhile. That disagreement over
all models is the *noise floor*: the error a perfect predictor would still show against these
measurements.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.bench import median_ci

__all__ = ["StableTiming", "noise_floor", "time_rounds"]


@dataclass(frozen=True)
class StableTiming:
    """Median latency of one model over interleaved rounds, with its stability figures."""

    p50_ms: float
    first_half_ms: float  # median of the samples of the first half of the rounds
    second_half_ms: float  # ... and of the second half
    rel_ci: float  # half-width of the median's 95% CI, relative to the median
    n: int  # samples the median is taken over
    rounds: int
    preempted_share: float = 0.0  # share of calls left out because another process preempted them

    @property
    def half_disagreement(self) -> float:
        """|first - second| / mean of the two half-medians."""
        mean = (self.first_half_ms + self.second_half_ms) / 2
        return abs(self.first_half_ms - self.second_half_ms) / mean if mean > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50_ms, "first_half_ms": self.first_half_ms, "second_half_ms": self.second_half_ms,
            "rel_ci": self.rel_ci, "n": self.n, "rounds": self.rounds, "preempted_share": self.preempted_share,
        }


def time_rounds(
    fns: Mapping[str, Callable[[], Any]],
    *,
    slice_s: float = 0.03,
    min_calls: int = 3,
    min_rounds: int = 8,
    max_rounds: int = 400,
    target_rel_ci: float = 0.02,
    max_time_s: float = 600.0,
    warmup: int = 3,
    on_round: Callable[[int, int], None] | None = None,
    exclude_preempted: bool = True,
) -> dict[str, StableTiming]:
    """Time every callable in ``fns`` in interleaved rounds until each median is stable.

    ``on_round(round, still_unstable)`` is called after every round (progress display).
    """
    names = list(fns)
    if not names:
        return {}
    clock = time.perf_counter
    switches = _involuntary_switches if exclude_preempted else (lambda: 0)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    rounds_of: dict[str, list[int]] = {n: [] for n in names}
    clean: dict[str, list[bool]] = {n: [] for n in names}
    start = clock()
    rnd = 0
    unstable = list(names)
    while True:
        order = names[rnd % len(names):] + names[: rnd % len(names)]
        for name in order:
            fn = fns[name]
            fn()  # untimed: caches and thread pools re-warmed after the previous model
            t_slice = clock()
            calls = 0
            while calls < min_calls or clock() - t_slice < slice_s:
                c0 = switches()
                t0 = clock()
                fn()
                samples[name].append(clock() - t0)
                clean[name].append(switches() == c0)
                rounds_of[name].append(rnd)
                calls += 1
        rnd += 1
        if rnd >= min_rounds:
            unstable = [n for n in names if _rel_ci(_kept(samples[n], clean[n])) > target_rel_ci]
        if on_round is not None:
            on_round(rnd, len(unstable))
        if rnd >= max_rounds or clock() - start >= max_time_s or (rnd >= min_rounds and not unstable):
            break
    half = rnd / 2
    out = {}
    for name in names:
        keep = np.asarray(clean[name], dtype=bool)
        if keep.sum() < max(3, len(keep) // 10):  # preempted (nearly) every call: keep them all
            keep = np.ones_like(keep)
        s = np.asarray(samples[name])[keep] * 1e3
        r = np.asarray(rounds_of[name])[keep]
        first, second = s[r < half], s[r >= half]
        out[name] = StableTiming(
            p50_ms=float(np.median(s)),
            first_half_ms=float(np.median(first)) if len(first) else float(np.median(s)),
            second_half_ms=float(np.median(second)) if len(second) else float(np.median(s)),
            rel_ci=_rel_ci(list(s / 1e3)),
            n=int(s.size),
            rounds=rnd,
            preempted_share=1.0 - float(np.mean(clean[name])) if clean[name] else 0.0,
        )
    return out


def _involuntary_switches() -> int:
    """Involuntary context switches of this process so far (every thread); 0 where unknown."""
    if sys.platform == "win32":
        return 0
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw)


def _kept(values: list[float], clean: list[bool]) -> list[float]:
    kept = [v for v, c in zip(values, clean, strict=True) if c]
    return kept if len(kept) >= max(3, len(values) // 10) else values


def _rel_ci(values: list[float]) -> float:
    if len(values) < 3:
        return float("inf")
    ordered = np.sort(np.asarray(values))
    lo, hi = median_ci(ordered)
    med = float(statistics.median(ordered))
    return (hi - lo) / 2 / med if med > 0 else float("inf")


def noise_floor(timings: Mapping[str, StableTiming]) -> dict[str, float]:
    """Repeatability of the measurements themselves: how far two halves of one run disagree.

    ``median_rel_diff`` is the median over models of |first - second| / mean, and
    ``within_10pct`` the share of models whose two half-medians agree within ±10%.
    """
    diffs = [t.half_disagreement for t in timings.values()]
    cis = [t.rel_ci for t in timings.values()]
    if not diffs:
        return {"median_rel_diff": float("nan"), "within_10pct": float("nan"), "median_rel_ci": float("nan"), "models": 0}
    return {
        "median_rel_diff": float(np.median(diffs)),
        "within_10pct": float(np.mean([d <= 0.10 for d in diffs])),
        "median_rel_ci": float(np.median(cis)),
        "models": len(diffs),
    }
