"""The one interleaved timer: round-robin rounds, and timing many models against each other.

:func:`interleave` is the round-robin core every measurement here uses: in each round every
callable still being timed gets one untimed call (caches and thread pools re-warmed after the
previous one) and then a timed slice, in an order shuffled afresh each round (seeded, so a run
repeats), so drift of a noisy machine spreads evenly over all of them instead of favouring
whichever ran first. A shuffle rather than a rotation: a rotation keeps every callable right
after the same neighbour in every round, and a runtime whose thread pool is still spinning
after its calls (ONNX Runtime, OpenMP) then slows that one neighbour and no other, a bias of
up to 1.5x seen between two sessions of one identical file on a loaded two-core machine.
:func:`workbench.bench.measure_interleaved` times a few deployments of one model with it;
:func:`time_rounds` below times many models.

Calibration and validation of the predictor compare many models, not a few deployments of one
model, so every model is timed in every round, each for a short slice of calls after one untimed
call. A shared machine's load then falls evenly on all of them. Rounds go on
until every model's median is stable (its distribution-free 95% confidence interval within
``target_rel_ci``) or the time cap is reached.

A shared machine's other processes take the CPU away in the middle of calls, and the longer a
call the likelier it is to be interrupted: a 30 ms call on a loaded two-core machine can take
twice as long in wall-clock time as on an idle core. Two clocks keep that out of the figures:

* ``clock="thread-cpu"`` (single-threaded runtimes: intra- and inter-op threads 1, so the whole
  inference runs on the calling thread): each call is timed by the calling thread's CPU time,
  which stops while the thread is descheduled. It is the latency the call would have on a core
  of its own; the wall-clock median is reported beside it.
* ``clock="wall"`` (multi-threaded runtimes, whose worker threads the calling thread's clock does
  not see): wall-clock time, leaving out calls during which the process was preempted (its
  involuntary context-switch count rose); a model preempted on (nearly) every call keeps all its
  samples and says so.

Each model's samples are also split into the first and the second half of the rounds; the two
half-medians disagree by however much the machine drifted meanwhile. That disagreement over
all models is the *noise floor*: the error a perfect predictor would still show against these
measurements.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench._stats import median_ci

__all__ = [
    "StableTiming",
    "clock_for",
    "interleave",
    "noise_floor",
    "rel_ci",
    "time_rounds",
    "warm_up",
]


def warm_up(fn: Callable[[], object], calls: int, min_s: float = 0.0) -> None:
    """Call ``fn`` untimed at least ``calls`` times and for at least ``min_s`` seconds (at most
    100,000 calls)."""
    clock = time.perf_counter
    start = clock()
    done = 0
    while done < calls or clock() - start < min_s:
        fn()
        done += 1
        if done > 100_000:
            break


def interleave(
    fns: Mapping[str, Callable[[], object]],
    time_slice: Callable[[str, Callable[[], object]], None],
    after_round: Callable[[int, list[str]], list[str]],
    *,
    seed: int = 0,
) -> int:
    """Round-robin timing rounds; returns how many ran.

    Each round visits every name still active in an order shuffled afresh each round by a
    generator seeded with ``seed``: one untimed call of its callable, then
    ``time_slice(name, fn)``, which times its calls. ``after_round(rounds so far, active
    names)`` returns the names to go on with; none stops.
    """
    active = list(fns)
    rng = np.random.default_rng(seed)
    rnd = 0
    while active:
        order = [active[i] for i in rng.permutation(len(active))]
        for name in order:
            fn = fns[name]
            fn()  # untimed: caches and thread pools re-warmed after the previous callable
            time_slice(name, fn)
        rnd += 1
        active = after_round(rnd, active)
    return rnd


def rel_ci(values: Sequence[float] | np.ndarray) -> float:
    """Half-width of the median's distribution-free 95% CI relative to the median (inf below
    three values or for a median of zero)."""
    if len(values) < 3:
        return float("inf")
    ordered = np.sort(np.asarray(values))
    lo, hi = median_ci(ordered)
    med = float(statistics.median(ordered))
    return (hi - lo) / 2 / med if med > 0 else float("inf")


@dataclass(frozen=True)
class StableTiming:
    """Median latency of one model over interleaved rounds, with its stability figures."""

    p50_ms: float
    first_half_ms: float  # median of the samples of the first half of the rounds
    second_half_ms: float  # ... and of the second half
    rel_ci: float  # half-width of the median's 95% CI, relative to the median
    n: int  # samples the median is taken over
    rounds: int
    preempted_share: float = 0.0  # share of calls during which another process preempted this one
    clock: str = "wall"  # thread-cpu | wall (undisturbed calls) | wall-all (every call)
    wall_p50_ms: float = 0.0  # wall-clock median of every call, for reference

    @property
    def half_disagreement(self) -> float:
        """|first - second| / mean of the two half-medians."""
        mean = (self.first_half_ms + self.second_half_ms) / 2
        return abs(self.first_half_ms - self.second_half_ms) / mean if mean > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50_ms,
            "first_half_ms": self.first_half_ms,
            "second_half_ms": self.second_half_ms,
            "rel_ci": self.rel_ci,
            "n": self.n,
            "rounds": self.rounds,
            "preempted_share": self.preempted_share,
            "clock": self.clock,
            "wall_p50_ms": self.wall_p50_ms,
        }


def time_rounds(
    fns: Mapping[str, Callable[[], object]],
    *,
    slice_s: float = 0.03,
    min_calls: int = 3,
    min_rounds: int = 8,
    max_rounds: int = 400,
    target_rel_ci: float = 0.02,
    max_time_s: float = 600.0,
    warmup: int = 3,
    on_round: Callable[[int, int], None] | None = None,
    clock: str = "wall",
    companions: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, StableTiming]:
    """Time every callable in ``fns`` in interleaved rounds until each median is stable.

    ``clock`` is ``thread-cpu`` for callables that run entirely on the calling thread, else
    ``wall`` (see the module docstring). ``on_round(round, still_unstable)`` is called after
    every round (progress display). ``companions[name]``, where given, is called untimed right
    after ``name``'s calls in every round: work that should see the machine as those calls do
    (the same model under a profiler).
    """
    if clock not in ("wall", "thread-cpu"):
        raise ValueError(f"clock must be wall or thread-cpu, got {clock!r}")
    names = list(fns)
    if not names:
        return {}
    wall_clock = time.perf_counter
    cpu_clock = time.thread_time if clock == "thread-cpu" else wall_clock
    switches = _involuntary_switches
    for name in names:
        warm_up(fns[name], warmup)
    samples: dict[str, list[float]] = {n: [] for n in names}
    walls: dict[str, list[float]] = {n: [] for n in names}
    rounds_of: dict[str, list[int]] = {n: [] for n in names}
    clean: dict[str, list[bool]] = {n: [] for n in names}
    thread_cpu = clock == "thread-cpu"
    start = wall_clock()
    rnd = 0

    def time_slice(name: str, fn: Callable[[], object]) -> None:
        t_slice = wall_clock()
        calls = 0
        while calls < min_calls or wall_clock() - t_slice < slice_s:
            c0 = switches()
            p0 = cpu_clock()
            t0 = wall_clock()
            fn()
            t1 = wall_clock()
            p1 = cpu_clock()
            samples[name].append(p1 - p0)
            walls[name].append(t1 - t0)
            clean[name].append(switches() == c0)
            rounds_of[name].append(rnd)
            calls += 1
        if companions is not None and name in companions:
            companions[name]()

    def after_round(done: int, active: list[str]) -> list[str]:
        nonlocal rnd
        rnd = done
        unstable = names
        if rnd >= min_rounds:
            unstable = [
                n
                for n in names
                if rel_ci(samples[n] if thread_cpu else _kept(samples[n], clean[n])) > target_rel_ci
            ]
        if on_round is not None:
            on_round(rnd, len(unstable))
        if (
            rnd >= max_rounds
            or wall_clock() - start >= max_time_s
            or (rnd >= min_rounds and not unstable)
        ):
            return []
        return active  # every model every round, until all are stable

    interleave(fns, time_slice, after_round)
    half = rnd / 2
    out = {}
    for name in names:
        keep = np.asarray(clean[name], dtype=bool)
        used = clock
        if thread_cpu:
            keep = np.ones_like(keep)  # the thread's clock already leaves descheduled time out
        elif keep.sum() < max(3, len(keep) // 10):  # preempted (nearly) every call: keep them all
            keep = np.ones_like(keep)
            used = "wall-all"
        s = np.asarray(samples[name])[keep] * 1e3
        r = np.asarray(rounds_of[name])[keep]
        first, second = s[r < half], s[r >= half]
        out[name] = StableTiming(
            p50_ms=float(np.median(s)),
            first_half_ms=float(np.median(first)) if len(first) else float(np.median(s)),
            second_half_ms=float(np.median(second)) if len(second) else float(np.median(s)),
            rel_ci=rel_ci(s / 1e3),
            n=int(s.size),
            rounds=rnd,
            preempted_share=1.0 - float(np.mean(clean[name])) if clean[name] else 0.0,
            clock=used,
            wall_p50_ms=float(np.median(walls[name])) * 1e3,
        )
    return out


def clock_for(intra_op: int, inter_op: int) -> str:
    """``thread-cpu`` when the runtime runs on the calling thread alone, else ``wall``."""
    return "thread-cpu" if intra_op == 1 and inter_op == 1 else "wall"


def _involuntary_switches() -> int:
    """Involuntary context switches of this process so far (every thread); 0 where unknown."""
    if sys.platform == "win32":
        return 0
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw)


def _kept(values: list[float], clean: list[bool]) -> list[float]:
    kept = [v for v, c in zip(values, clean, strict=True) if c]
    return kept if len(kept) >= max(3, len(values) // 10) else values


def noise_floor(timings: Mapping[str, StableTiming]) -> dict[str, float]:
    """Repeatability of the measurements themselves: how far two halves of one run disagree.

    ``median_rel_diff`` is the median over models of |first - second| / mean, and
    ``within_10pct`` the share of models whose two half-medians agree within ±10%.
    """
    diffs = [t.half_disagreement for t in timings.values()]
    cis = [t.rel_ci for t in timings.values()]
    if not diffs:
        return {
            "median_rel_diff": float("nan"),
            "within_10pct": float("nan"),
            "median_rel_ci": float("nan"),
            "models": 0,
        }
    return {
        "median_rel_diff": float(np.median(diffs)),
        "within_10pct": float(np.mean([d <= 0.10 for d in diffs])),
        "median_rel_ci": float(np.median(cis)),
        "models": len(diffs),
    }
