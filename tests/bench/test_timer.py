"""The one interleaved timer: its round-robin core, and time_rounds' stable medians of models."""

import itertools
import time

import pytest

from workbench.bench import noise_floor, time_rounds
from workbench.bench._timer import interleave, rel_ci, warm_up


def test_interleave_shuffles_the_order_and_goes_on_with_the_names_it_is_told():
    log: list[str] = []
    fns = {n: (lambda n=n: log.append(n.upper())) for n in "abc"}
    seen: list[tuple[int, list[str]]] = []

    def time_slice(name, fn):
        log.append(name)  # after the untimed call, which logs the name in capitals
        fn()

    def after_round(rounds, active):
        seen.append((rounds, list(active)))
        return [n for n in active if n != "a"] if rounds < 3 else []

    assert interleave(fns, time_slice, after_round) == 3
    assert seen == [(1, ["a", "b", "c"]), (2, ["b", "c"]), (3, ["b", "c"])]
    visits = [log[i] for i in range(len(log)) if log[i].islower()]
    assert sorted(visits[:3]) == ["a", "b", "c"]
    assert sorted(visits[3:5]) == sorted(visits[5:]) == ["b", "c"]
    assert all(log[i - 1] == log[i].upper() for i in range(len(log)) if log[i].islower())


def test_interleave_gives_no_name_a_fixed_predecessor_and_repeats_with_its_seed():
    """A rotation keeps each name right after the same neighbour in every round (a pool that
    neighbour leaves spinning would bill it alone); the shuffle varies the neighbour."""
    names = "abcd"

    def run(seed):
        visits: list[str] = []
        interleave(
            dict.fromkeys(names, lambda: None),
            lambda name, _fn: visits.append(name),
            lambda rounds, active: active if rounds < 200 else [],
            seed=seed,
        )
        return visits

    visits = run(0)
    assert len(visits) == 800 and run(0) == visits and run(1) != visits
    after: dict[str, set[str]] = {n: set() for n in names}
    for prev, name in itertools.pairwise(visits):
        after[name].add(prev)
    assert all(after[n] == set(names) for n in names)  # itself included, across rounds
    firsts = [visits[i] for i in range(0, 800, 4)]
    assert all(firsts.count(n) > 20 for n in names)  # each name leads some rounds


def test_rel_ci_and_warm_up():
    assert rel_ci([1.0, 1.0]) == float("inf") and rel_ci([0.0] * 10) == float("inf")
    assert rel_ci([1.0] * 20) == 0.0
    wide, narrow = rel_ci([1.0, 2.0, 3.0, 4.0, 5.0] * 4), rel_ci([2.9, 3.0, 3.1, 3.0] * 5)
    assert wide > narrow > 0.0
    calls = []
    warm_up(lambda: calls.append(1), 5)
    assert len(calls) == 5
    start = time.perf_counter()
    warm_up(lambda: (calls.append(1), time.sleep(0.001)), 1, min_s=0.05)
    assert time.perf_counter() - start >= 0.05 and len(calls) > 6
    calls.clear()
    warm_up(lambda: calls.append(1), 1, min_s=60.0)  # a time floor never keeps it going for ever
    assert len(calls) == 100_001


def test_time_rounds_interleaves_and_reports_halves():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1
        sum(range(2000))

    def slow():
        calls["slow"] += 1
        sum(range(20000))

    res = time_rounds(
        {"fast": fast, "slow": slow},
        slice_s=0.002,
        min_rounds=6,
        max_rounds=12,
        target_rel_ci=0.5,
        warmup=1,
    )
    assert res["slow"].p50_ms > res["fast"].p50_ms
    for t in res.values():
        assert 6 <= t.rounds <= 12 and t.n >= 3 * 6 * (1 - t.preempted_share) - 1
        assert t.first_half_ms > 0 and t.second_half_ms > 0 and 0.0 <= t.preempted_share <= 1.0
    nf = noise_floor(res)
    assert nf["models"] == 2 and 0.0 <= nf["within_10pct"] <= 1.0


def test_time_rounds_runs_each_companion_right_after_its_models_calls_in_every_round():
    log: list[str] = []
    fns = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    res = time_rounds(
        fns,
        slice_s=0.0,
        min_calls=2,
        min_rounds=4,
        max_rounds=4,
        target_rel_ci=1.0,
        warmup=0,
        companions={"b": lambda: log.append("B")},
    )
    assert res["a"].rounds == 4 and log.count("B") == 4
    # every companion visit follows b's untimed call and its timed calls, before the next model's
    for i, x in enumerate(log):
        if x == "B":
            assert log[i - 3 : i] == ["b", "b", "b"]


def test_time_rounds_stops_at_its_time_cap():
    calls = []

    def one_ms() -> None:
        calls.append(1)
        time.sleep(0.001)

    time_rounds(
        {"a": one_ms},
        slice_s=0.01,
        min_rounds=2,
        max_rounds=10_000,
        target_rel_ci=1e-9,
        max_time_s=0.3,
    )
    # each call sleeps at least 1 ms: 0.3 s of rounds (plus warm-up and one round's slice) holds
    # at most ~320 calls, while 10,000 rounds were allowed; the count shows the cap stopped it
    assert 2 <= len(calls) <= 400


def test_the_thread_cpu_clock_leaves_out_time_the_thread_did_not_run():
    """Time off the CPU (sleeping here, as when another process holds the core) is not the
    model's."""

    def busy_then_off_cpu():
        sum(range(20000))
        time.sleep(0.01)

    res = time_rounds(
        {"m": busy_then_off_cpu},
        slice_s=0.0,
        min_calls=3,
        min_rounds=3,
        max_rounds=3,
        warmup=1,
        clock="thread-cpu",
    )
    t = res["m"]
    assert t.clock == "thread-cpu" and t.wall_p50_ms >= 10.0 and t.p50_ms < 5.0
    wall = time_rounds(
        {"m": busy_then_off_cpu}, slice_s=0.0, min_calls=3, min_rounds=3, max_rounds=3, warmup=1
    )["m"]
    assert wall.clock.startswith("wall") and wall.p50_ms >= 10.0
    with pytest.raises(ValueError, match="clock must be wall or thread-cpu"):
        time_rounds({"m": busy_then_off_cpu}, clock="gpu")
