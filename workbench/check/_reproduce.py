"""Reproduce stored trials: rebuild each from what its study stored, retrain, redeploy, compare.

A trial is rebuilt from its stored architecture spec and the study's stored config (data,
seeded training budget, deployments, measurement settings) by the study's own trial pipeline
(:class:`workbench.study.TrialPipeline`): the same build, training and compile context. Before
anything is trained, the data the config builds now is checked against the data fingerprint the
trial stored; a different one is a one-line :class:`~workbench.ConfigError`.

Per deployment on each measured profile, the rebuilt artifact is compared with the stored one:

* accuracy: both artifacts are evaluated now on the same test split, sample by sample. Where
  training is deterministic (PyTorch on CPU with a fixed seed and a budget not cut short by
  time) the rebuilt artifact must match the stored accuracy exactly; elsewhere the two may
  differ by chance only: the exact McNemar test on the samples exactly one of them gets right
  must not reject at ``alpha``;
* latency: the stored file and the rebuilt one are timed interleaved in this process by the
  bench's one timer; the ratio rebuilt / stored of their medians comes with a bootstrap
  interval, and they differ when the whole interval lies beyond ``latency_tolerance``.

Simulated profiles are not re-measured: their latency is predicted, not timed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import ConfigError
from workbench._stats import mcnemar_exact, ratio_ci

if TYPE_CHECKING:
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.trial import FrozenTrial

    from workbench.arch import ArchSpec
    from workbench.backends import Artifact, Deployment, Runner
    from workbench.bench import Measurement, MeasureSettings
    from workbench.hw import HardwareProfile
    from workbench.study import TrialPipeline

__all__ = [
    "DeploymentReproduction",
    "ReproduceResult",
    "TrialReproduction",
    "reproduce_trials",
]

#: accuracy verdicts: identical, different by chance only, or different
EXACT, WITHIN_NOISE, DIFFERS = "exact", "within-noise", "differs"


@dataclass(frozen=True)
class DeploymentReproduction:
    """One deployment of a reproduced trial: the stored artifact against the rebuilt one."""

    key: str
    deterministic: bool  # training is expected to give the same weights bit for bit
    stored_accuracy: float | None  # as stored with the trial
    accuracy: float | None = None  # the rebuilt artifact's, on the same test split
    stored_accuracy_now: float | None = None  # the stored artifact evaluated again here
    discordant: tuple[int, int] = (0, 0)  # samples only the stored / only the rebuilt gets right
    mcnemar_p: float = 1.0
    latency_ratio: float | None = None  # median rebuilt / median stored, timed interleaved
    latency_low: float | None = None  # the ratio's bootstrap interval
    latency_high: float | None = None
    stored_p50_ms: float | None = None  # both medians as measured now
    rebuilt_p50_ms: float | None = None
    identical_file: bool = False  # the rebuilt artifact's bytes equal the stored file's
    alpha: float = 0.05
    latency_tolerance: float = 0.10
    error: str | None = None  # why it could not be compared

    @property
    def accuracy_verdict(self) -> str:
        """``exact``, ``within-noise`` (not deterministic, McNemar does not reject) or
        ``differs``."""
        if self.error is not None or self.accuracy is None:
            return DIFFERS
        same = self.discordant == (0, 0) and (
            self.stored_accuracy is None or self.accuracy == self.stored_accuracy
        )
        if same:
            return EXACT
        if not self.deterministic and self.mcnemar_p >= self.alpha:
            return WITHIN_NOISE
        return DIFFERS

    @property
    def latency_reproduced(self) -> bool:
        """False only when the whole ratio interval lies beyond the tolerance on one side."""
        if self.latency_low is None or self.latency_high is None:
            return self.error is None
        tol = self.latency_tolerance
        return not (self.latency_low > 1 + tol or self.latency_high < 1 / (1 + tol))

    @property
    def reproduced(self) -> bool:
        return self.error is None and self.accuracy_verdict != DIFFERS and self.latency_reproduced

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "reproduced": self.reproduced,
            "accuracy_verdict": self.accuracy_verdict,
            "latency_reproduced": self.latency_reproduced,
            "deterministic": self.deterministic,
            "stored_accuracy": self.stored_accuracy,
            "accuracy": self.accuracy,
            "stored_accuracy_now": self.stored_accuracy_now,
            "discordant": list(self.discordant),
            "mcnemar_p": self.mcnemar_p,
            "latency_ratio": self.latency_ratio,
            "latency_ci95": (
                [self.latency_low, self.latency_high] if self.latency_low is not None else None
            ),
            "stored_p50_ms": self.stored_p50_ms,
            "rebuilt_p50_ms": self.rebuilt_p50_ms,
            "identical_file": self.identical_file,
            "error": self.error,
        }


@dataclass
class TrialReproduction:
    """One trial rebuilt: float accuracy per framework then and now, and every deployment."""

    trial: int
    arch_hash: str
    data_fingerprint: str
    stored_data_fingerprint: str | None  # None: the trial predates stored fingerprints
    float_accuracy: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    deployments: list[DeploymentReproduction] = field(default_factory=list)
    #: PyTorch's training threads then (None: not stored) and now; bit-identical weights need both
    #: equal (a float sum split over another count rounds differently)
    train_threads: tuple[int | None, int] | None = None

    @property
    def reproduced(self) -> bool:
        return bool(self.deployments) and all(d.reproduced for d in self.deployments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "reproduced": self.reproduced,
            "arch_hash": self.arch_hash,
            "data_fingerprint": self.data_fingerprint,
            "stored_data_fingerprint": self.stored_data_fingerprint,
            "float_accuracy": {
                fw: {"stored": then, "now": now} for fw, (then, now) in self.float_accuracy.items()
            },
            "deployments": [d.to_dict() for d in self.deployments],
            "train_threads": (
                {"stored": self.train_threads[0], "now": self.train_threads[1]}
                if self.train_threads is not None
                else None
            ),
        }


@dataclass
class ReproduceResult:
    """Every trial asked for, rebuilt and compared with what its study stored."""

    study: str
    trials: list[TrialReproduction]
    alpha: float
    latency_tolerance: float

    @property
    def reproduced(self) -> bool:
        return all(t.reproduced for t in self.trials)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "reproduced": self.reproduced,
            "alpha": self.alpha,
            "latency_tolerance": self.latency_tolerance,
            "trials": [t.to_dict() for t in self.trials],
        }


def reproduce_trials(
    storage: str | Any,
    study: str,
    trials: Sequence[int],
    *,
    settings: MeasureSettings | None = None,
    alpha: float = 0.05,
    latency_tolerance: float = 0.10,
    work_dir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ReproduceResult:
    """Rebuild trials ``trials`` of ``study`` in ``storage`` and compare them with what was stored.

    ``settings`` times the stored and rebuilt artifacts (default: the study's measurement
    settings); ``alpha`` is the McNemar test's level and ``latency_tolerance`` the relative
    latency change an interval must lie beyond to count as a difference. ``on_stage`` gets a
    line per step (progress). Unknown trial numbers, trials without a stored spec and data that
    no longer matches the stored fingerprint raise a one-line :class:`~workbench.ConfigError`
    before anything is trained.
    """
    from workbench.arch import ArchSpec
    from workbench.data import load_data
    from workbench.study import (
        DATA_FINGERPRINT_ATTR,
        TRAIN_THREADS_ATTR,
        SearchSpace,
        TrialPipeline,
        open_study,
        study_config,
    )

    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if latency_tolerance < 0:
        raise ConfigError(f"latency tolerance must be >= 0, got {latency_tolerance}")
    if not trials:
        raise ConfigError("name at least one trial number to reproduce")
    opt_study = open_study(study, storage)
    by_number = {t.number: t for t in opt_study.get_trials(deepcopy=False)}
    for n in trials:
        if n not in by_number:
            known = ", ".join(str(k) for k in sorted(by_number)) or "(none)"
            raise ConfigError(f"study {study!r} has no trial {n}; known trials: {known}")
        if not isinstance(by_number[n].user_attrs.get("spec"), Mapping):
            raise ConfigError(
                f"trial {n} of study {study!r} stores no architecture spec "
                f"({by_number[n].state.name.lower()}): there is nothing to rebuild"
            )
    cfg = study_config(opt_study)
    say = on_stage or (lambda _s: None)
    data = load_data(cfg.data)
    fingerprint = data.fingerprint()
    for n in trials:
        stored = by_number[n].user_attrs.get(DATA_FINGERPRINT_ATTR)
        if stored is not None and stored != fingerprint:
            raise ConfigError(
                f"trial {n} of study {study!r} was trained on data with fingerprint {stored}, "
                f"but its config now builds data with fingerprint {fingerprint}: the data changed"
            )
    store = _artifact_store(opt_study.user_attrs.get("artifact_store"))
    space = SearchSpace(_no_sampling, description="stored specs only")
    timing = settings or cfg.measure
    work = Path(tempfile.mkdtemp(prefix="reproduce-", dir=work_dir))
    pipeline = TrialPipeline(
        cfg, space, data, work_dir=work, artifact_store=None, memory=None, on_stage=on_stage
    )
    out: list[TrialReproduction] = []
    try:
        for n in trials:
            trial = by_number[n]
            spec = ArchSpec.from_dict(trial.user_attrs["spec"])
            rep = TrialReproduction(
                n, spec.hash, fingerprint, trial.user_attrs.get(DATA_FINGERPRINT_ATTR)
            )
            if "torch" in cfg.frameworks:
                stored_threads = trial.user_attrs.get(TRAIN_THREADS_ATTR)
                rep.train_threads = (
                    int(stored_threads) if stored_threads is not None else None,
                    pipeline.train_threads(),
                )
            for fw in cfg.frameworks:
                rep.deployments.extend(
                    _reproduce_framework(
                        pipeline,
                        trial,
                        fw,
                        spec,
                        rep,
                        store,
                        timing,
                        alpha,
                        latency_tolerance,
                        work / f"trial-{n}" / fw,
                        say,
                    )
                )
            out.append(rep)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ReproduceResult(study, out, alpha, latency_tolerance)


def _no_sampling(_trial: Any) -> Any:
    raise ConfigError("reproducing rebuilds stored specs; it samples none")


def _artifact_store(path: object) -> FileSystemArtifactStore | None:
    if not isinstance(path, str) or not Path(path).is_dir():
        return None
    from optuna.artifacts import FileSystemArtifactStore

    return FileSystemArtifactStore(path)


def _stored_measurements(trial: FrozenTrial, framework: str) -> list[Measurement]:
    from workbench.bench import Measurement
    from workbench.study._results import MEASURE_PREFIX

    return [
        Measurement.from_dict(v)
        for k, v in trial.user_attrs.items()
        if k.startswith(MEASURE_PREFIX)
        and isinstance(v, Mapping)
        and v.get("framework") == framework
    ]


def _stored_train(trial: FrozenTrial, framework: str) -> Mapping[str, Any]:
    per_fw = (trial.user_attrs.get("frameworks") or {}).get(framework) or {}
    return per_fw.get("train") or trial.user_attrs.get("train") or {}


def _stored_float_accuracy(trial: FrozenTrial, framework: str) -> float | None:
    per_fw = (trial.user_attrs.get("frameworks") or {}).get(framework) or {}
    value = per_fw.get("float_accuracy", trial.user_attrs.get("float_accuracy"))
    return float(value) if value is not None else None


def _reproduce_framework(
    pipeline: TrialPipeline,
    trial: FrozenTrial,
    framework: str,
    spec: ArchSpec,
    rep: TrialReproduction,
    store: FileSystemArtifactStore | None,
    timing: MeasureSettings,
    alpha: float,
    tolerance: float,
    workdir: Path,
    say: Callable[[str], None],
) -> list[DeploymentReproduction]:
    """Retrain ``spec`` in ``framework`` and compare every stored measured deployment."""
    from workbench.backends import correct_of
    from workbench.bench import DeployJob, measure_jobs

    n = trial.number

    def step(text: str) -> None:
        say(f"trial {n}: {text}")

    stored = [m for m in _stored_measurements(trial, framework) if m.ok]
    if not stored and not _stored_train(trial, framework):
        return []  # this framework never trained for the trial
    step(f"retrain {framework}")
    source, result = pipeline.build_and_train(framework, spec, workdir)
    rep.float_accuracy[framework] = (_stored_float_accuracy(trial, framework), result.test_accuracy)
    deterministic = (
        framework == "torch"
        and not result.stopped_early
        and not _stored_train(trial, framework).get("stopped_early", False)
    )
    cfg = pipeline.config
    data = pipeline.data
    out: list[DeploymentReproduction] = []
    for profile in cfg.hardware:
        if not profile.measured:
            continue
        mine = {m.deployment: m for m in stored if m.profile == profile.name}
        deps = [
            _as_recorded(d, mine[d.name].meta)
            for d in cfg.profile_deployments(profile, framework)
            if d.name in mine
        ]
        if not deps:
            continue
        # compile and load through the bench, as the trial did; its own timing is kept short:
        # the comparison below times stored and rebuilt files together
        ms, artifacts = measure_jobs(
            [DeployJob(source, deps, pipeline.compile_context(result))],
            profile,
            x_test=data.x_test,
            y_test=data.y_test,
            settings=_quick(timing),
            on_stage=step,
        )
        pairs: dict[str, tuple[Runner, Runner]] = {}
        partial: dict[str, dict[str, Any]] = {}
        for m in ms:
            old = mine[m.deployment]
            base: dict[str, Any] = {
                "key": old.key,
                "deterministic": deterministic,
                "stored_accuracy": old.accuracy,
                "alpha": alpha,
                "latency_tolerance": tolerance,
            }
            art = artifacts.get(f"{framework}/{m.deployment}")
            if not m.ok or art is None:
                out.append(DeploymentReproduction(**base, error=m.error or "did not compile"))
                continue
            try:
                stored_art = _stored_artifact(store, old, art, n, workdir / "stored")
            except ConfigError as err:
                out.append(DeploymentReproduction(**base, error=str(err)))
                continue
            # both from their files: the rebuilt model's live module would run another way
            runners = (
                _load(profile, stored_art),
                _load(profile, dataclasses.replace(art, live=None)),
            )
            x = source.feed(data.x_test)
            step(f"evaluate {m.deployment} stored and rebuilt")
            was, now = (correct_of(r, x, data.y_test) for r in runners)
            b, c = int((was & ~now).sum()), int((~was & now).sum())
            base.update(
                accuracy=float(now.mean()) if now.size else None,
                stored_accuracy_now=float(was.mean()) if was.size else None,
                discordant=(b, c),
                mcnemar_p=mcnemar_exact(b, c),
                identical_file=_same_bytes(stored_art.path, art.path),
            )
            pairs[old.key] = runners
            partial[old.key] = base
        if pairs:
            step(f"time stored and rebuilt artifacts interleaved on {profile.name}")
            x_batch = np.ascontiguousarray(source.feed(data.x_test)[: timing.batch_size])
            samples = _time_pairs(pairs, x_batch, timing)
            for key, base in partial.items():
                a, b_ = samples[f"{key} stored"], samples[f"{key} rebuilt"]
                ratio, low, high = ratio_ci(a, b_)
                out.append(
                    DeploymentReproduction(
                        **base,
                        latency_ratio=ratio,
                        latency_low=low,
                        latency_high=high,
                        stored_p50_ms=float(np.median(a)) * 1e3,
                        rebuilt_p50_ms=float(np.median(b_)) * 1e3,
                    )
                )
            for pair in pairs.values():
                for r in pair:
                    r.close()
    return out


def _as_recorded(dep: Deployment, meta: Mapping[str, Any]) -> Deployment:
    """``dep`` with the options its backend chose and recorded when the stored file was built
    (:attr:`Backend.recorded_options`), so the rebuild makes the same choice."""
    from dataclasses import replace

    from workbench.backends import get_backend

    pinned = {k: meta[k] for k in get_backend(dep.backend).recorded_options if k in meta}
    if not pinned:
        return dep
    return replace(dep, options=tuple(sorted({**dep.opts, **pinned}.items())))


def _quick(settings: MeasureSettings) -> MeasureSettings:
    """The fewest timed calls the bench allows, at the study's batch size."""
    from workbench.bench import MeasureSettings

    return MeasureSettings(
        warmup=0,
        warmup_s=0.0,
        min_repeats=3,
        max_repeats=3,
        min_time_s=0.0,
        max_time_s=1.0,
        block=1,
        batch_size=settings.batch_size,
    )


def _load(profile: HardwareProfile, artifact: Artifact) -> Runner:
    from workbench.backends import get_backend
    from workbench.bench import profile_threads

    return get_backend(artifact.deployment.backend).load(artifact, profile_threads(profile))


def _stored_artifact(
    store: FileSystemArtifactStore | None,
    m: Measurement,
    rebuilt: Artifact,
    trial: int,
    folder: Path,
) -> Artifact:
    """The stored artifact of measurement ``m``, copied out of the study's artifact store."""
    from workbench.backends import Artifact
    from workbench.study import artifact_name
    from workbench.study._export import download_artifact, stored_as_folder

    art_id = m.meta.get("artifact_id")
    if store is None or not art_id:
        raise ConfigError(f"{m.key}: the study's artifact store holds no file for it")
    path = download_artifact(
        store, str(art_id), folder / artifact_name(trial, m.key, m), folder=stored_as_folder(m)
    )
    return Artifact(rebuilt.deployment, rebuilt.framework, path, rebuilt.input_shape, dict(m.meta))


def _same_bytes(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None or not a.is_file() or not b.is_file():
        return False
    return _digest(a) == _digest(b)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _time_pairs(
    pairs: Mapping[str, tuple[Runner, Runner]], x: np.ndarray, settings: MeasureSettings
) -> dict[str, np.ndarray]:
    """Raw per-call seconds of every stored and rebuilt runner, timed interleaved together."""
    from workbench.bench import measure_interleaved

    fns: dict[str, Callable[[], object]] = {}
    for key, (stored, rebuilt) in pairs.items():
        fns[f"{key} stored"] = _bound(stored, x)
        fns[f"{key} rebuilt"] = _bound(rebuilt, x)
    samples: dict[str, list[float]] = {}
    measure_interleaved(fns, settings, samples_out=samples, paired=True)
    return {name: np.asarray(v) for name, v in samples.items()}


def _bound(runner: Runner, x: np.ndarray) -> Callable[[], object]:
    return lambda: runner(x)
