"""Latency measurement: warm-up, interleaved repeats, stability-based stopping, spread.

Variants being compared are measured in one process, in the rounds of the one interleaved
timer (:func:`workbench.bench._timer.interleave`): each round runs every variant for a short
block (the first call of a block is untimed, so thread pools another runtime left spinning or
sleeping do not bill the next one), in an order shuffled afresh each round. Drift of a noisy
machine, and a pool one runtime leaves spinning, then fall evenly on all variants instead of
favouring whichever ran first or always after the same neighbour.

Stopping: after ``min_repeats`` samples and ``min_time_s`` per variant, measurement stops once
every variant's median is stable: the distribution-free 95% confidence interval of the median
(order statistics) is within ``target_rel_ci`` of it, or at ``max_time_s`` / ``max_repeats``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench._errors import ConfigError
from workbench._schema import Float, Int, Reader, SourceMap
from workbench._stats import median_ci
from workbench.bench._timer import interleave, rel_ci, warm_up

__all__ = ["LatencyStats", "MeasureSettings", "measure_interleaved"]


@dataclass(frozen=True)
class MeasureSettings:
    warmup: int = 10
    warmup_s: float = 0.1  # and at least this long
    min_repeats: int = 30
    max_repeats: int = 2000
    min_time_s: float = 0.3  # per variant
    max_time_s: float = 10.0  # per variant
    block: int = 5  # timed calls per variant per round
    target_rel_ci: float = 0.02  # stop when the median's 95% CI half-width is within 2% of it
    batch_size: int = 1

    @classmethod
    def read(cls, r: Reader) -> MeasureSettings:
        s = cls(
            warmup=r.get("warmup", Int(min=0, max=100_000), 10),
            warmup_s=r.get("warmup_s", Float(min=0.0), 0.1),
            min_repeats=r.get("min_repeats", Int(min=3, max=1_000_000), 30),
            max_repeats=r.get("max_repeats", Int(min=3, max=10_000_000), 2000),
            min_time_s=r.get("min_time_s", Float(min=0.0), 0.3),
            max_time_s=r.get("max_time_s", Float(min=0.0, min_exclusive=True), 10.0),
            block=r.get("block", Int(min=1, max=10_000), 5),
            target_rel_ci=r.get("target_rel_ci", Float(min=0.0, max=1.0, min_exclusive=True), 0.02),
            batch_size=r.get("batch_size", Int(min=1, max=65536), 1),
        )
        r.finish()
        if s.max_repeats < s.min_repeats:
            raise r.error(
                f"max_repeats ({s.max_repeats}) must be >= min_repeats ({s.min_repeats})",
                "max_repeats",
            )
        if s.max_time_s < s.min_time_s:
            raise r.error(
                f"max_time_s ({s.max_time_s}) must be >= min_time_s ({s.min_time_s})", "max_time_s"
            )
        return s

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MeasureSettings:
        return cls.read(Reader(data or {}, field="measure", source=SourceMap()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one variant in milliseconds, with its spread and sample count."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    n: int
    ci95_low_ms: float  # distribution-free 95% CI of the median
    ci95_high_ms: float

    @property
    def cv(self) -> float:
        """Coefficient of variation, std / mean."""
        return self.std_ms / self.mean_ms if self.mean_ms > 0 else float("nan")

    @property
    def rel_ci(self) -> float:
        return (
            (self.ci95_high_ms - self.ci95_low_ms) / 2 / self.p50_ms
            if self.p50_ms > 0
            else float("inf")
        )

    @classmethod
    def from_samples(cls, samples_s: list[float] | np.ndarray) -> LatencyStats:
        ms = np.sort(np.asarray(samples_s, dtype=np.float64) * 1e3)
        if ms.size == 0:
            raise ValueError("no latency samples")
        lo, hi = median_ci(ms)
        return cls(
            p50_ms=float(np.percentile(ms, 50)),
            p90_ms=float(np.percentile(ms, 90)),
            p99_ms=float(np.percentile(ms, 99)),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
            min_ms=float(ms[0]),
            n=int(ms.size),
            ci95_low_ms=lo,
            ci95_high_ms=hi,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cv"] = self.cv
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LatencyStats:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def measure_interleaved(
    fns: Mapping[str, Callable[[], object]],
    settings: MeasureSettings | None = None,
    *,
    on_round: Callable[[dict[str, int]], None] | None = None,
    samples_out: MutableMapping[str, list[float]] | None = None,
    paired: bool = False,
) -> dict[str, LatencyStats]:
    """Time each zero-argument callable in ``fns``, interleaved; return stats per name.

    ``samples_out``, when given, receives each variant's raw samples in seconds, in timing order:
    sample ``i`` of two variants comes from the same round while both were still timed.

    ``paired``: every variant is timed in every round until all are stable or any one reaches
    ``max_time_s`` or ``max_repeats``, so all get the same rounds and sample ``i`` of each comes
    from one round. A comparison wants it: a variant that stopped early would be compared over
    other minutes of a machine whose load moves.
    """
    s = settings or MeasureSettings()
    if not fns:
        return {}
    if s.max_time_s <= 0:
        raise ConfigError("max_time_s must be positive")
    names = list(fns)
    clock = time.perf_counter
    for name in names:  # each variant separately, count and time floor both met
        warm_up(fns[name], s.warmup, s.warmup_s)
    samples: dict[str, list[float]] = {n: [] for n in names}
    spent: dict[str, float] = dict.fromkeys(names, 0.0)

    def time_block(name: str, fn: Callable[[], object]) -> None:
        block_start = clock()
        for _ in range(s.block):
            t0 = clock()
            fn()
            samples[name].append(clock() - t0)
        spent[name] += clock() - block_start

    def capped(name: str) -> bool:
        return len(samples[name]) >= s.max_repeats or spent[name] >= s.max_time_s

    def stable(name: str) -> bool:
        return (
            len(samples[name]) >= s.min_repeats
            and spent[name] >= s.min_time_s
            and rel_ci(samples[name]) <= s.target_rel_ci
        )

    def after_round(_rounds: int, active: list[str]) -> list[str]:
        if on_round is not None:
            on_round({n: len(v) for n, v in samples.items()})
        if paired:
            done = any(capped(n) for n in active) or all(stable(n) for n in active)
            return [] if done else active
        return [n for n in active if not (capped(n) or stable(n))]

    interleave(fns, time_block, after_round)
    if samples_out is not None:
        samples_out.update(samples)
    return {name: LatencyStats.from_samples(samples[name]) for name in names}
