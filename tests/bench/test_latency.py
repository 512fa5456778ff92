import time

import numpy as np
import pytest

from workbench import ConfigError
from workbench.bench import LatencyStats, MeasureSettings, measure_interleaved, median_ci


def test_stats_from_samples():
    samples = np.linspace(0.001, 0.002, 101)  # seconds
    s = LatencyStats.from_samples(samples)
    assert s.n == 101
    assert s.p50_ms == pytest.approx(1.5)
    assert s.p90_ms == pytest.approx(np.percentile(samples * 1e3, 90))
    assert s.min_ms == pytest.approx(1.0)
    assert s.ci95_low_ms < s.p50_ms < s.ci95_high_ms
    assert s.cv == pytest.approx(s.std_ms / s.mean_ms)
    assert LatencyStats.from_dict(s.to_dict()) == s


def test_median_ci_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    small = np.sort(rng.normal(10, 1, 30))
    large = np.sort(rng.normal(10, 1, 3000))
    lo1, hi1 = median_ci(small)
    lo2, hi2 = median_ci(large)
    assert hi2 - lo2 < hi1 - lo1


def test_median_ci_has_its_nominal_coverage():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        lo, hi = median_ci(np.sort(rng.exponential(1.0, 101)))
        covered += lo <= np.log(2) <= hi  # the exponential's true median
    assert 0.92 <= covered / 400 <= 0.99


def test_interleaved_measurement_ranks_and_counts():
    calls = {"fast": 0, "slow": 0}
    order = []

    def fast():
        calls["fast"] += 1
        order.append("f")

    def slow():
        calls["slow"] += 1
        order.append("s")
        time.sleep(0.003)

    s = MeasureSettings(
        warmup=2,
        warmup_s=0.0,
        min_repeats=20,
        max_repeats=40,
        min_time_s=0.0,
        max_time_s=1.0,
        block=5,
    )
    stats = measure_interleaved({"fast": fast, "slow": slow}, s)
    # a sleep lasts at least its time, so these hold however loaded the machine is
    assert stats["slow"].p50_ms >= 3.0 > stats["fast"].p50_ms
    assert 20 <= stats["fast"].n <= 40 and 20 <= stats["slow"].n <= 40
    # interleaved: after warm-up the two variants alternate in blocks, not one after the other
    timed = "".join(order[4:])
    assert timed.count("fs") + timed.count("sf") >= 3


def test_stops_at_the_time_cap():
    s = MeasureSettings(
        warmup=0,
        warmup_s=0.0,
        min_repeats=3,
        max_repeats=10**6,
        min_time_s=0.0,
        max_time_s=0.05,
        block=1,
        target_rel_ci=1e-9,
    )
    stats = measure_interleaved({"a": lambda: time.sleep(0.001)}, s)
    # each call sleeps at least 1 ms, so a run that stopped at 0.05 s of timing made at most ~50
    # (the count, not the clock, shows the cap stopped it; 10**6 repeats were allowed)
    assert 3 <= stats["a"].n <= 60


def test_settings_validation():
    with pytest.raises(
        ConfigError,
        match="measure.max_repeats: max_repeats \\(5\\) must be >= min_repeats \\(10\\)",
    ):
        MeasureSettings.from_dict({"min_repeats": 10, "max_repeats": 5})
    with pytest.raises(ConfigError, match="measure.block: expected an integer in"):
        MeasureSettings.from_dict({"block": 0})


def test_interleaved_measurement_hands_back_raw_samples():
    s = MeasureSettings(
        warmup=1, warmup_s=0.0, min_repeats=10, max_repeats=10, min_time_s=0.0, block=5
    )
    raw: dict[str, list[float]] = {}
    stats = measure_interleaved(
        {"a": lambda: time.sleep(0.0002), "b": lambda: time.sleep(0.001)}, s, samples_out=raw
    )
    assert set(raw) == {"a", "b"}
    for name in ("a", "b"):
        assert len(raw[name]) == stats[name].n == 10
        assert LatencyStats.from_samples(raw[name]) == stats[name]
    assert np.median(raw["b"]) > np.median(raw["a"])


def test_paired_measurement_times_every_variant_in_every_round():
    """Unpaired, a stable variant stops while an unstable one goes on (their samples then come
    from different minutes); paired, both run the same rounds until the first hits the cap."""
    flip = iter(range(10**9))

    def unstable():
        if next(flip) % 2:
            time.sleep(0.002)

    settings = MeasureSettings(
        warmup=0,
        warmup_s=0.0,
        min_repeats=6,
        max_repeats=100_000,
        min_time_s=0.0,
        max_time_s=0.15,
        block=3,
        target_rel_ci=0.5,
    )
    fns = {"steady": lambda: time.sleep(0.001), "unstable": unstable}
    for paired in (False, True):
        raw: dict[str, list[float]] = {}
        measure_interleaved(fns, settings, samples_out=raw, paired=paired)
        n_steady, n_unstable = len(raw["steady"]), len(raw["unstable"])
        if paired:
            assert n_steady == n_unstable and n_steady % 3 == 0
        else:
            assert n_steady < n_unstable
