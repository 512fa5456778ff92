"""Check a candidate study against a baseline, measured side by side on this machine.

Each baseline point is matched with the candidate's point of the same measurement key and the
same architecture (else the candidate front's point of that key nearest in the objectives, said
to be a different architecture). Both artifacts are loaded with the real backends and timed
interleaved, in one process, by the one interleaved timer; their latency ratio gets a bootstrap
interval (:func:`workbench._stats.ratio_ci`). Both are evaluated on the same test split, and the
accuracy change gets an exact McNemar test on the per-sample correctness. The baseline's stored
latencies are never compared with today's: they only say how far the machine itself moved.

A regression is a change beyond its threshold whose interval (or test) excludes no change; an
improvement is the mirror image. The front (hypervolume, points newly dominated) is reported,
not gated: on an A/A check noise alone can make a point dominated by its own twin.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import ConfigError
from workbench._stats import mcnemar_exact, proportion_ci, ratio_ci
from workbench._thresholds import CHECK_TIME_S, Thresholds
from workbench.backends import Artifact, Deployment, Runner, Threads, correct_of, get_backend
from workbench.bench import (
    LatencyStats,
    Measurement,
    MeasurementKey,
    MeasureSettings,
    MemoryProbe,
    measure_interleaved,
    profile_threads,
)
from workbench.check._baseline import (
    Baseline,
    BaselinePoint,
    config_of,
    load_baseline,
    load_study_results,
    split_fingerprint,
    study_artifact_store,
    test_split,
)
from workbench.check._result import (
    BASELINE,
    CANDIDATE,
    IMPROVEMENT,
    METRICS,
    OK,
    REGRESSION,
    SKIPPED,
    CheckResult,
    FrontCheck,
    MetricCheck,
    PointCheck,
    TimedPoint,
)

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from workbench.study import StudyConfig, StudyResults

__all__ = ["CHECK_SETTINGS", "check_baseline", "check_settings", "resolve_thresholds"]

#: timing of a check: long enough for a 1% interval of each median on a quiet machine
CHECK_SETTINGS = MeasureSettings(
    warmup=10,
    warmup_s=0.1,
    min_repeats=100,
    max_repeats=3000,
    min_time_s=1.0,
    max_time_s=CHECK_TIME_S,
    block=5,
    target_rel_ci=0.01,
)


# -- matching ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Side:
    """One artifact to load and time: a baseline point or a candidate point."""

    label: str
    trial: int
    key: str
    measurement: Measurement
    arch_hash: str | None
    arch: str | None


def _candidate_points(results: StudyResults, key: str) -> list[_Side]:
    """Every candidate trial's successful, stored artifact of ``key``."""
    out = []
    for t in results.trials:
        for m in t.measurements():
            if m.key == key and m.ok and m.meta.get("artifact_id"):
                out.append(
                    _Side(
                        f"{CANDIDATE}:{t.number}:{key}",
                        t.number,
                        key,
                        m,
                        t.user_attrs.get("arch_hash"),
                        t.user_attrs.get("arch"),
                    )
                )
    return out


def _nearest(point: BaselinePoint, front: Sequence[_Side]) -> _Side:
    """The front point nearest the baseline's in (log latency, accuracy), each scaled by the
    front's spread, from the figures both studies stored."""

    def objectives(m: Measurement) -> tuple[float, float]:
        lat = m.latency_ms or 0.0
        return math.log(max(lat, 1e-9)), float(m.accuracy or 0.0)

    pts = np.asarray([objectives(s.measurement) for s in front])
    scale = np.maximum(pts.max(axis=0) - pts.min(axis=0), 1e-6)
    target = np.asarray(objectives(point.measurement))
    dist = (((pts - target) / scale) ** 2).sum(axis=1)
    return front[int(np.argmin(dist))]


def match_points(
    baseline: Baseline, results: StudyResults
) -> tuple[list[tuple[BaselinePoint, _Side | None]], dict[str, list[_Side]]]:
    """Each baseline point's candidate point (None: the candidate has no artifact of that key),
    and the candidate's front per key."""
    fronts = results.fronts()
    pairs: list[tuple[BaselinePoint, _Side | None]] = []
    cand_fronts: dict[str, list[_Side]] = {}
    for key in baseline.point_keys():
        every = _candidate_points(results, key)
        on_front = set(fronts[key].trials) if key in fronts else set()
        cand_fronts[key] = [s for s in every if s.trial in on_front]
        for p in (p for p in baseline.points if p.key == key):
            same = [s for s in every if p.arch_hash and s.arch_hash == p.arch_hash]
            same.sort(key=lambda s: (s.trial not in on_front, s.trial))
            if same:
                pairs.append((p, same[0]))
            elif cand_fronts[key]:
                pairs.append((p, _nearest(p, cand_fronts[key])))
            else:
                pairs.append((p, None))
    return pairs, cand_fronts


# -- loading and timing -----------------------------------------------------------------------
def _artifact(path: Path, m: Measurement) -> Artifact:
    """The artifact a stored measurement describes, at ``path``."""
    shape = (m.receipt.get("input_shape") or [])[1:]
    return Artifact(
        deployment=Deployment(m.backend, m.precision),
        framework=m.framework,
        path=path,
        input_shape=tuple(int(d) for d in shape),
        meta=dict(m.meta),
    )


def _fed(x: np.ndarray, m: Measurement) -> np.ndarray:
    """Data (images channels first) in the layout the artifact was measured with."""
    if m.receipt.get("input_layout") == "NHWC" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def _threads(key: str, m: Measurement) -> Threads:
    from workbench.hw import load_profile

    try:
        return profile_threads(load_profile(MeasurementKey.parse(key).profile))
    except Exception:  # noqa: BLE001 - a profile not on this host: the threads it was timed with
        th = m.receipt.get("threads") or {}
        return Threads(int(th.get("intra_op", 1)), int(th.get("inter_op", 1)))


@dataclass
class _Loaded:
    side: _Side
    artifact: Artifact
    runner: Runner
    correct: np.ndarray
    samples: list[float] = field(default_factory=list)
    peak_memory: int | None = None

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.correct.size else float("nan")

    @property
    def p50_ms(self) -> float:
        return float(np.median(self.samples) * 1e3) if self.samples else float("nan")


@contextlib.contextmanager
def _loaded(
    sides: Sequence[tuple[_Side, Path]], x: np.ndarray, y: np.ndarray
) -> Iterator[dict[str, _Loaded]]:
    out: dict[str, _Loaded] = {}
    try:
        for side, path in sides:
            art = _artifact(path, side.measurement)
            runner = get_backend(side.measurement.backend).load(
                art, _threads(side.key, side.measurement)
            )
            xf = _fed(x, side.measurement)
            out[side.label] = _Loaded(side, art, runner, correct_of(runner, xf, y))
        yield out
    finally:
        for item in out.values():
            with contextlib.suppress(Exception):
                item.runner.close()


# -- verdicts ---------------------------------------------------------------------------------
def _latency_check(base: _Loaded, cand: _Loaded, th: Thresholds) -> MetricCheck:
    n = min(len(base.samples), len(cand.samples))  # the rounds both were timed in
    ratio, low, high = ratio_ci(
        base.samples[:n], cand.samples[:n], level=1.0 - th.alpha, n_boot=2000, seed=0
    )
    limit = th.latency
    verdict = OK
    if limit is not None and ratio - 1 > limit and low > 1:
        verdict = REGRESSION
    elif limit is not None and 1 - ratio > limit and high < 1:
        verdict = IMPROVEMENT
    level = round(100 * (1 - th.alpha))
    return MetricCheck(
        "latency",
        verdict,
        base.p50_ms,
        cand.p50_ms,
        ratio - 1,
        low - 1,
        high - 1,
        threshold=th.describe("latency"),
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        detail=(
            f"{100 * (ratio - 1):+.1f}% ({level}% CI {100 * (low - 1):+.1f}% to "
            f"{100 * (high - 1):+.1f}%; {base.p50_ms:.4g} -> {cand.p50_ms:.4g} ms, "
            f"{n} paired samples)"
        ),
    )


def _accuracy_check(base: _Loaded, cand: _Loaded, th: Thresholds) -> MetricCheck:
    b = int((base.correct & ~cand.correct).sum())  # only the baseline right
    c = int((~base.correct & cand.correct).sum())  # only the candidate right
    p = mcnemar_exact(b, c)
    change = 100 * (cand.accuracy - base.accuracy)
    limit = th.accuracy
    verdict = OK
    if limit is not None and -change > limit and p < th.alpha:
        verdict = REGRESSION
    elif limit is not None and change > limit and p < th.alpha:
        verdict = IMPROVEMENT
    return MetricCheck(
        "accuracy",
        verdict,
        base.accuracy,
        cand.accuracy,
        change,
        p_value=p,
        threshold=th.describe("accuracy"),
        detail=(
            f"{change:+.2f}pt ({100 * base.accuracy:.2f}% -> {100 * cand.accuracy:.2f}% on "
            f"{base.correct.size} test samples; McNemar p={p:.3g}, {b} lost, {c} gained)"
        ),
    )


def _ratio_check(
    metric: str, base: float | None, cand: float | None, limit: float | None, how: str
) -> MetricCheck:
    """Size or memory: deterministic figures, compared without an interval."""
    if base is None or cand is None or base <= 0:
        return MetricCheck(metric, SKIPPED, base, cand, detail=f"not measured on both sides{how}")
    change = cand / base - 1
    verdict = OK
    if limit is not None and change > limit:
        verdict = REGRESSION
    elif limit is not None and -change > limit:
        verdict = IMPROVEMENT
    return MetricCheck(
        metric,
        verdict,
        float(base),
        float(cand),
        change,
        detail=f"{100 * change:+.1f}% ({base:.0f} -> {cand:.0f} bytes{how})",
        ratio=cand / base,
    )


def _front(
    key: str, base: Sequence[_Loaded], cand: Sequence[_Loaded], th: Thresholds
) -> FrontCheck:
    """Hypervolumes of both fronts against one reference, and the candidate points newly
    dominated: beaten by a baseline point by more than the latency and accuracy thresholds (so
    noise alone does not count), while their baseline twin (same architecture) was not beaten
    by its own front measured now."""
    from workbench.study import get_metric, hypervolume, non_dominated, reference_point

    dirs = [get_metric("latency").direction, get_metric("accuracy").direction]
    bp = np.asarray([(b.p50_ms, b.accuracy) for b in base], dtype=np.float64).reshape(-1, 2)
    cp = np.asarray([(c.p50_ms, c.accuracy) for c in cand], dtype=np.float64).reshape(-1, 2)
    ref = tuple(reference_point(np.vstack([bp, cp]), dirs))
    # the baseline's points made worse by the thresholds: what still dominates is a real loss
    margin = bp * [1 + (th.latency or 0.0), 1.0] - [0.0, (th.accuracy or 0.0) / 100]
    already = {b.side.arch_hash for b, kept in zip(base, non_dominated(bp, dirs)) if not kept}
    dominated = [
        c.side.trial
        for c, pt in zip(cand, cp)
        if len(margin)
        and not non_dominated(np.vstack([margin, pt[None, :]]), dirs)[-1]
        and not (c.side.arch_hash and c.side.arch_hash in already)
    ]
    return FrontCheck(
        key, hypervolume(bp, ref, dirs), hypervolume(cp, ref, dirs), sorted(set(dominated))
    )


# -- the check --------------------------------------------------------------------------------
def resolve_thresholds(
    thresholds: Thresholds | str | None, config: StudyConfig | None
) -> Thresholds:
    """The thresholds a check applies: a :class:`Thresholds` as given; else the text (a
    command line's ``--fail``) over the candidate config's ``check.fail`` over the defaults."""
    if isinstance(thresholds, Thresholds):
        return thresholds
    from_config = Thresholds.parse(config.check_fail if config is not None else None)
    return Thresholds.parse(thresholds, base=from_config)


def check_settings(batch_size: int, time_s: float | None = None) -> MeasureSettings:
    """:data:`CHECK_SETTINGS` at ``batch_size``, its timing per artifact capped at ``time_s``."""
    if time_s is None:
        return replace(CHECK_SETTINGS, batch_size=batch_size)
    if not time_s > 0:
        raise ConfigError(f"check timing: expected seconds > 0, got {time_s}")
    return replace(
        CHECK_SETTINGS,
        max_time_s=time_s,
        min_time_s=min(CHECK_SETTINGS.min_time_s, time_s),
        batch_size=batch_size,
    )


def check_baseline(
    baseline: Baseline | str | Path,
    storage: str | BaseStorage,
    study: str,
    thresholds: Thresholds | str | None = None,
    *,
    settings: MeasureSettings | None = None,
    time_s: float | None = None,
    measure_memory: bool = False,
    on_progress: Callable[[str], None] | None = None,
    save: bool = True,
    outputs: str | os.PathLike[str] | None = None,
) -> CheckResult:
    """Check study ``study`` in ``storage`` (the candidate) against ``baseline``.

    ``thresholds``: see :func:`resolve_thresholds`. ``settings`` times the artifacts (default
    :data:`CHECK_SETTINGS` at the baseline's batch size, each artifact timed for at most
    ``time_s``, else the candidate config's ``check.time_s``, else
    :data:`~workbench._thresholds.CHECK_TIME_S`); ``measure_memory`` measures both artifacts'
    peak memory now instead of comparing the figures each study stored. With ``save`` the
    result is written as ``check.json`` to ``outputs`` (default: the candidate study's outputs
    folder, where its report is; :func:`workbench.check.load_check` reads it back).
    """
    import time

    t0 = time.perf_counter()
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    if isinstance(thresholds, str):
        Thresholds.parse(thresholds)  # bad input fails before anything is read
    say = on_progress or (lambda _t: None)
    results = load_study_results(storage, study)
    notes = [f"baseline point without a file: {m}" for m in base.missing]

    data = test_split(base.study_config())
    x, y = data.x_test, data.y_test
    if split_fingerprint(x, y) != base.data_fingerprint:
        raise ConfigError(
            f"baseline {base.folder}: its config no longer builds the test split it was saved "
            "with (data fingerprint differs)"
        )
    cand_cfg = None
    try:
        cand_cfg = config_of(results)
        cand_data = test_split(cand_cfg)
        if split_fingerprint(cand_data.x_test, cand_data.y_test) != base.data_fingerprint:
            notes.append(
                "the candidate study's test split differs from the baseline's; both artifacts "
                "are evaluated on the baseline's"
            )
    except ConfigError as err:
        notes.append(f"candidate config not read: {err}")
    th = resolve_thresholds(thresholds, cand_cfg)
    result = CheckResult(str(base.folder), base.study, study, th)
    result.notes.extend(notes)

    pairs, cand_fronts = match_points(base, results)
    store = study_artifact_store(results)
    by_trial = {t.number: t for t in results.trials}
    from workbench.study._export import artifact_name, download_artifact, stored_as_folder

    with tempfile.TemporaryDirectory(prefix="workbench-check-") as tmp:
        sides: dict[str, tuple[_Side, Path]] = {}
        for p, _ in pairs:
            label = f"{BASELINE}:{p.trial}:{p.key}"
            side = _Side(label, p.trial, p.key, p.measurement, p.arch_hash, _arch_name(p.spec))
            sides[label] = (side, p.file)
        for s in [c for _, c in pairs if c is not None] + [
            s for f in cand_fronts.values() for s in f
        ]:
            if s.label not in sides:
                dest = Path(tmp) / artifact_name(s.trial, s.key, s.measurement)
                art_id = str(s.measurement.meta["artifact_id"])
                sides[s.label] = (
                    s,
                    download_artifact(store, art_id, dest, folder=stored_as_folder(s.measurement)),
                )
        say(f"loading {len(sides)} artifacts")
        with _loaded(list(sides.values()), x, y) as loaded:
            batch = int(
                (base.points[0].measurement.receipt.get("settings") or {}).get("batch_size", 1)
            )
            cap = time_s if time_s is not None else cand_cfg.check_time_s if cand_cfg else None
            timing = settings or check_settings(batch, cap)
            fns = {
                label: _timed(item.runner, _fed(x[: timing.batch_size], item.side.measurement))
                for label, item in loaded.items()
            }
            raw: dict[str, list[float]] = {}

            def progress(counts: dict[str, int]) -> None:
                say(f"timing {len(counts)} artifacts interleaved: {min(counts.values())} rounds")

            stats = measure_interleaved(
                fns, timing, on_round=progress, samples_out=raw, paired=True
            )
            for label, samples in raw.items():
                loaded[label].samples = samples
            if measure_memory:
                say("measuring peak memory")
                probe = MemoryProbe()
                try:
                    for item in loaded.values():
                        th_ = _threads(item.side.key, item.side.measurement)
                        item.peak_memory, _ = probe.measure(item.artifact, th_, timing.batch_size)
                finally:
                    probe.close()

            for p, c in pairs:
                bl = loaded[f"{BASELINE}:{p.trial}:{p.key}"]
                pc = PointCheck(p.key, p.trial, None, False, _arch_name(p.spec))
                result.points.append(pc)
                if c is None:
                    pc.note = "the candidate has no artifact of this deployment"
                    pc.metrics = [MetricCheck(m, SKIPPED, detail=pc.note) for m in METRICS]
                    continue
                cl = loaded[c.label]
                pc.candidate_trial = c.trial
                pc.candidate_arch = c.arch or by_trial[c.trial].user_attrs.get("arch")
                pc.same_architecture = bool(p.arch_hash) and c.arch_hash == p.arch_hash
                if not pc.same_architecture:
                    pc.note = (
                        f"different architecture: no candidate trial has the baseline's; compared "
                        f"with trial {c.trial}, the nearest on the candidate's front"
                    )
                pc.metrics = [
                    _latency_check(bl, cl, th),
                    _accuracy_check(bl, cl, th),
                    _ratio_check(
                        "size", bl.artifact.size_bytes, cl.artifact.size_bytes, th.size, ""
                    ),
                    _memory_check(bl, cl, th, measure_memory),
                ]
                stored_b, stored_c = p.measurement.latency_ms, c.measurement.latency_ms
                if stored_b and stored_c:
                    pc.stored_latency_ratio = stored_c / stored_b
                if stored_b:
                    pc.machine_drift = bl.p50_ms / stored_b
            for key, front in cand_fronts.items():
                bls = [loaded[f"{BASELINE}:{p.trial}:{p.key}"] for p in base.points if p.key == key]
                cls = [loaded[s.label] for s in front]
                result.fronts.append(_front(key, bls, cls, th))
            result.timed = [
                _timed_point(item, stats[label], measure_memory) for label, item in loaded.items()
            ]
    result.mark_timed()
    result.timing = _timing(timing, int(y.size))
    result.wall_s = time.perf_counter() - t0
    if save:
        from workbench.check._saved import save_check, study_outputs

        folder = outputs if outputs is not None else study_outputs(results.study_attrs)
        if folder is None:
            result.notes.append("not saved: the candidate study records no outputs folder")
        else:
            save_check(result, folder)
    return result


def _timed_point(item: _Loaded, lat: LatencyStats, measured_memory: bool) -> TimedPoint:
    """One loaded artifact as this check timed and evaluated it."""
    n = int(item.correct.size)
    acc_low, acc_high = proportion_ci(int(item.correct.sum()), n) if n else (math.nan, math.nan)
    m = item.side.measurement
    return TimedPoint(
        role=item.side.label.split(":", 1)[0],
        trial=item.side.trial,
        key=item.side.key,
        arch=item.side.arch,
        latency_p50_ms=lat.p50_ms,
        latency_low_ms=lat.ci95_low_ms,
        latency_high_ms=lat.ci95_high_ms,
        latency_n=lat.n,
        accuracy=item.accuracy,
        accuracy_low=acc_low,
        accuracy_high=acc_high,
        n_test=n,
        size_bytes=item.artifact.size_bytes,
        peak_memory_bytes=item.peak_memory if measured_memory else m.peak_memory_bytes,
    )


def _timing(settings: MeasureSettings, n_test: int) -> dict[str, Any]:
    """How and where this check timed and evaluated the artifacts."""
    from workbench._host import host_info

    return {
        "method": (
            "interleaved: every artifact loaded in this process and timed round by round, "
            f"{settings.block} calls each per round"
        ),
        "settings": asdict(settings),
        "host": host_info().to_dict(),
        "latency_interval": "distribution-free 95% CI of each median; ratios: paired bootstrap",
        "accuracy_interval": f"Wilson 95% on {n_test} test samples (the baseline's split)",
        "test_samples": n_test,
    }


def _memory_check(base: _Loaded, cand: _Loaded, th: Thresholds, measured: bool) -> MetricCheck:
    if measured:
        return _ratio_check("memory", base.peak_memory, cand.peak_memory, th.memory, ", now")
    return _ratio_check(
        "memory",
        base.side.measurement.peak_memory_bytes,
        cand.side.measurement.peak_memory_bytes,
        th.memory,
        ", as stored",
    )


def _arch_name(spec: dict[str, Any] | None) -> str | None:
    if not spec:
        return None
    from workbench.arch import ArchSpec

    try:
        return ArchSpec.from_dict(spec).summary()
    except Exception:  # noqa: BLE001 - a spec this version cannot read: no name
        return None


def _timed(runner: Runner, x: np.ndarray) -> Callable[[], object]:
    return lambda: runner(x)
