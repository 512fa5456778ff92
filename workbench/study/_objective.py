"""The trial pipeline: spec -> budgets -> build -> train -> deploy every way -> measure -> store.

Everything a trial learns is written to its user attributes as it goes, so a trial that fails
or is interrupted still shows how far it got and why. A candidate that breaks a budget before
training is never trained (see :mod:`workbench.study._constraints` for how it is stored).
Measured profiles are measured; simulated ones get their recipe's real artifact, evaluated
here for accuracy, with latency and memory predicted.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._errors import ConfigError
from workbench._json import clean
from workbench.arch import ArchSpec, build_torch, cost_summary
from workbench.backends import CompileContext, ModelSource
from workbench.bench import DeployJob, Measurement, MemoryProbe, measure_jobs, profile_threads
from workbench.data import Dataset
from workbench.study._config import StudyConfig, _serves
from workbench.study._export import FOLDER_LAYOUT, pack_folder
from workbench.study._index import POINTS_ATTR, points_summary
from workbench.study._results import MEASURE_PREFIX
from workbench.study._space import SearchSpace
from workbench.study._targets import framework_builder, model_source, simulated_measurements
from workbench.train import TrainResult, train_torch

if TYPE_CHECKING:
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

__all__ = [
    "DATA_FINGERPRINT_ATTR",
    "TrialFailure",
    "TrialPipeline",
    "choose_objective_measurement",
]

#: the trial attribute holding :meth:`workbench.data.Dataset.fingerprint` of the data it saw
DATA_FINGERPRINT_ATTR = "data_fingerprint"
#: the intra-op thread count PyTorch trained with (the first profile's): another count rounds
#: float sums differently, so a rebuild is bit-identical only at the same count
TRAIN_THREADS_ATTR = "train_threads"


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:400] if text else ''}"


class TrialFailure(Exception):
    """A trial that cannot produce a result; its stage and reason are stored on the trial."""

    def __init__(self, stage: str, reason: str) -> None:
        self.stage, self.reason = stage, reason
        super().__init__(f"{stage}: {reason}")


def choose_objective_measurement(
    measurements: list[Measurement],
    float_accuracy: float | Mapping[str, float | None] | None,
    rule: str,
    max_drop: float,
) -> Measurement | None:
    """The measurement whose figures become the trial's objective values.

    ``rule`` is a deployment name (``framework/deployment`` picks one framework's; a bare name
    the first framework's that has it), or ``fastest``: the lowest p50 latency among deployments
    whose artifact accuracy is within ``max_drop`` of the float model's (the most accurate one
    when none is). ``float_accuracy`` may be given per framework: each artifact is held to its
    own framework's float model.
    """
    ok = [m for m in measurements if m.ok and m.latency is not None and m.accuracy is not None]
    if rule != "fastest":
        if "/" in rule:
            return next((m for m in ok if f"{m.framework}/{m.deployment}" == rule), None)
        return next((m for m in ok if m.deployment == rule), None)
    if not ok:
        return None

    def reference(m: Measurement) -> float | None:
        if isinstance(float_accuracy, Mapping):
            return float_accuracy.get(m.framework)
        return float_accuracy

    def within_drop(m: Measurement) -> bool:
        ref = reference(m)
        # ``ok`` holds only measurements with an accuracy
        return ref is None or ref - (m.accuracy or 0.0) <= max_drop + 1e-12

    within = [m for m in ok if within_drop(m)]
    if within:
        return min(within, key=lambda m: m.latency.p50_ms)  # type: ignore[union-attr]
    return max(ok, key=lambda m: (m.accuracy, -m.latency.p50_ms))  # type: ignore[union-attr]


@dataclass
class StageReporter:
    """Forwards stage names to a callback and times each stage (the trial stores the timings)."""

    callback: Callable[[str], None] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: polled at every stage boundary: a stop asked for while a KeyboardInterrupt got lost
    #: (raised inside a finalizer, say) still takes effect within one stage
    stop_requested: Callable[[], bool] | None = None
    _current: str | None = None
    _since: float = 0.0

    def __call__(self, text: str) -> None:
        if self.stop_requested is not None and self.stop_requested():
            raise KeyboardInterrupt
        self._close()
        self._current = text.split(": ", 1)[-1]
        self._since = time.perf_counter()
        if self.callback is not None:
            self.callback(text)

    def _close(self) -> None:
        if self._current is not None:
            name = self._current
            self.timings[name] = round(
                self.timings.get(name, 0.0) + time.perf_counter() - self._since, 3
            )
            self._current = None

    def take(self) -> dict[str, float]:
        self._close()
        out, self.timings = self.timings, {}
        return out


class TrialPipeline:
    """Callable objective for ``study.optimize``."""

    def __init__(
        self,
        config: StudyConfig,
        space: SearchSpace,
        data: Dataset,
        *,
        work_dir: Path,
        artifact_store: FileSystemArtifactStore | None,
        memory: MemoryProbe | None,
        on_stage: Callable[[str], None] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.space = space
        self.data = data
        self.work_dir = work_dir
        self.artifact_store = artifact_store
        self.memory = memory
        self.report = StageReporter(on_stage, stop_requested=stop_requested)
        self.calibration = data.calibration_batches(
            config.calibration_samples, batch=1, seed=config.train.seed
        )
        self.data_fingerprint = data.fingerprint()

    def __call__(self, trial: optuna.trial.Trial) -> tuple[float, ...]:
        from workbench.study._recover import record_worker

        record_worker(trial)
        try:
            return self._run(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("status", "interrupted")
            raise
        except TrialFailure as err:
            trial.set_user_attr("failure", {"stage": err.stage, "reason": err.reason})
            raise
        except Exception as err:
            tb = traceback.extract_tb(err.__traceback__)
            where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
            reason = (
                f"{type(err).__name__}: "
                f"{str(err).strip().splitlines()[0][:400] if str(err).strip() else ''}{where}"
            )
            trial.set_user_attr("failure", {"stage": "internal", "reason": reason})
            raise TrialFailure("internal", reason) from err
        finally:
            trial.set_user_attr("timings_s", self.report.take())
            shutil.rmtree(self.work_dir / f"trial-{trial.number}", ignore_errors=True)

    def _run(self, trial: optuna.trial.Trial) -> tuple[float, ...]:
        cfg = self.config
        self.report(f"trial {trial.number}: sample")
        try:
            spec = self.space(trial)
        except ConfigError as err:
            raise TrialFailure("space", str(err)) from err
        self._record_spec(trial, spec)
        trial.set_user_attr(DATA_FINGERPRINT_ATTR, self.data_fingerprint)
        trial.set_user_attr(TRAIN_THREADS_ATTR, self.train_threads())
        if cfg.constrained and cfg.prefilter:
            rejected = self._prefilter(trial, spec)
            if rejected is not None:
                return rejected

        workdir = self.work_dir / f"trial-{trial.number}"
        single = len(cfg.frameworks) == 1
        trained: dict[str, tuple[ModelSource, TrainResult]] = {}
        summary: dict[str, dict[str, Any]] = {}
        failed: dict[str, TrialFailure] = {}
        for fw in cfg.frameworks:
            self.report(
                f"trial {trial.number}: train" if single else f"trial {trial.number}: train {fw}"
            )
            try:
                source, result = self.build_and_train(fw, spec, workdir)
            except TrialFailure as err:
                if single:
                    raise
                failed[fw] = err
                summary[fw] = {"failure": {"stage": err.stage, "reason": err.reason}}
                continue
            except Exception as err:  # one framework failing is data; the others go on
                if single:
                    raise
                failed[fw] = TrialFailure("train", _reason(err))
                summary[fw] = {"failure": {"stage": "train", "reason": failed[fw].reason}}
                continue
            summary[fw] = {
                "train": result.to_dict(),
                "float_accuracy": result.test_accuracy,
                "float_val_accuracy": result.val_accuracy,
            }
            if not trained:  # the first framework's figures, where single-framework readers look
                trial.set_user_attr("train", result.to_dict())
                trial.set_user_attr("float_accuracy", result.test_accuracy)
                trial.set_user_attr("float_val_accuracy", result.val_accuracy)
            if result.train_loss != result.train_loss:  # NaN: diverged
                diverged = TrialFailure("train", "training diverged (loss is NaN)")
                if single:
                    raise diverged
                failed[fw] = diverged
                summary[fw]["failure"] = {"stage": diverged.stage, "reason": diverged.reason}
                continue
            trained[fw] = (source, result)
        trial.set_user_attr("frameworks", summary)
        if not trained:
            raise TrialFailure(
                "train", "; ".join(f"{fw}: {e.stage}: {e.reason}" for fw, e in failed.items())
            )

        measurements: list[Measurement] = []
        for profile in cfg.hardware:
            ctxs = {fw: self.compile_context(result) for fw, (_, result) in trained.items()}
            on_stage = lambda s, n=trial.number: self.report(f"trial {n}: {s}")  # noqa: E731
            if profile.measured:
                jobs = [
                    DeployJob(source, cfg.profile_deployments(profile, fw), ctxs[fw])
                    for fw, (source, _) in trained.items()
                ]
                ms, artifacts = measure_jobs(
                    jobs,
                    profile,
                    x_test=self.data.x_test,
                    y_test=self.data.y_test,
                    settings=cfg.measure,
                    memory=self.memory,
                    on_stage=on_stage,
                )
                for fw, why in failed.items():  # deployments of a framework that did not train
                    for dep in cfg.profile_deployments(profile, fw):
                        ms.append(
                            Measurement(
                                profile=profile.name,
                                framework=fw,
                                backend=dep.backend,
                                precision=dep.precision,
                                status="failed",
                                stage=why.stage,
                                error=why.reason,
                            )
                        )
            else:  # the recipe's real file and accuracy; latency and memory predicted
                ms, by_name = simulated_measurements(
                    profile,
                    {fw: source for fw, (source, _) in trained.items()},
                    cfg.profile_deployments(profile),
                    spec=spec,
                    data=self.data,
                    ctx=ctxs,
                    workdir=workdir / profile.name,
                    onnx_exporter=cfg.onnx_exporter,
                    on_stage=on_stage,
                )
                artifacts = {
                    f"{m.framework}/{m.deployment}": by_name[m.deployment]
                    for m in ms
                    if m.deployment in by_name
                }
            for m in ms:
                if (
                    profile.deploy is not None
                    and m.deployment == f"{profile.deploy.backend}-{profile.deploy.precision}"
                ):
                    m.meta["recipe"] = (
                        profile.deploy.to_dict()
                    )  # the file this profile's device would get
                art = artifacts.get(f"{m.framework}/{m.deployment}")
                if (
                    art is not None
                    and art.path is not None
                    and (art.path.is_file() or art.path.is_dir())
                    and self.artifact_store is not None
                    and m.ok
                ):
                    if art.path.is_dir():  # e.g. OpenVINO's model.xml + model.bin
                        m.meta["artifact_layout"] = FOLDER_LAYOUT
                    m.meta["artifact_id"] = self._upload(trial, art.path)
                    m.artifact_path = None  # the working file is temporary; the store keeps it
                trial.set_user_attr(f"{MEASURE_PREFIX}{m.key}", clean(m.to_dict()))
            measurements.extend(ms)

        trial.set_user_attr(POINTS_ATTR, points_summary(measurements))
        if cfg.constrained:
            self._final_constraints(trial, spec, measurements)
        chosen = choose_objective_measurement(
            [m for m in measurements if m.profile == cfg.objective_profile_name()],
            {fw: result.test_accuracy for fw, (_, result) in trained.items()},
            cfg.objective_deployment,
            cfg.max_accuracy_drop,
        )
        if chosen is None:
            errors = "; ".join(f"{m.deployment}: {m.error}" for m in measurements if not m.ok)
            raise TrialFailure(
                "deploy",
                f"no deployment produced a result for the objective ({errors or 'none measured'})",
            )
        trial.set_user_attr("objective_deployment", chosen.key)
        return tuple(self._objective_value(o, chosen) for o in cfg.objectives)

    def compile_context(self, result: TrainResult) -> CompileContext:
        """What compiling a model trained to ``result`` may use: the seeded calibration batches,
        the validation split and the accuracy drop int8 may cost against that model."""
        return CompileContext(
            calibration=self.calibration,
            x_val=self.data.x_val,
            y_val=self.data.y_val,
            reference_accuracy=result.val_accuracy,
            max_accuracy_drop=self.config.max_accuracy_drop,
        )

    def train_threads(self) -> int:
        """The intra-op thread count PyTorch trains with: the first profile's, on every host."""
        return profile_threads(self.config.hardware[0]).intra_op

    def build_and_train(
        self, framework: str, spec: ArchSpec, workdir: Path
    ) -> tuple[ModelSource, TrainResult]:
        """Build ``spec`` in ``framework``, train it on the study's budget, wrap it as a source."""
        cfg = self.config
        if framework == "torch":
            import torch

            # the same thread count in every process: a float sum split over another number of
            # threads rounds differently, and the trained weights would not be bit-identical
            torch.set_num_threads(self.train_threads())
            model = build_torch(spec, seed=cfg.train.seed)
            result = train_torch(
                model, self.data, cfg.train, should_stop=self.report.stop_requested
            )
            source = model_source(
                "torch",
                model,
                spec,
                workdir / "torch",
                name="model",
                onnx_exporter=cfg.onnx_exporter,
            )
        else:
            from workbench._tf import tf_runtime
            from workbench.arch import build_keras
            from workbench.train import train_keras

            # TensorFlow's thread pools are fixed when its runtime starts: set them from the
            # profile first
            threads = profile_threads(cfg.hardware[0])
            tf_runtime(threads)
            import keras

            # drop the previous trial's graphs and layer-name counters
            keras.backend.clear_session()
            model = build_keras(spec, seed=cfg.train.seed)
            result = train_keras(
                model, self.data, cfg.train, threads=threads, should_stop=self.report.stop_requested
            )
            source = model_source("keras", model, spec, workdir / "keras", name="model")
        return source, result

    # -- budgets ---------------------------------------------------------------------------------
    def _prefilter(self, trial: optuna.trial.Trial, spec: ArchSpec) -> tuple[float, ...] | None:
        """Check every budgeted profile before training; the placeholder values when rejected."""
        from workbench.study._constraints import placeholder_values, set_trial_constraints
        from workbench.study._feasibility import check, prefilter_figures, recipe_of

        cfg = self.config
        n = trial.number
        figures = {}
        values = []
        reasons: list[str] = []
        for i, profile in enumerate(cfg.hardware):
            budget = cfg.budget_for(profile)
            if budget is None:
                continue
            dep = recipe_of(profile, cfg.profile_deployments(profile))
            self.report(f"trial {n}: check budgets on {profile.name}")
            fw = next((f for f in cfg.frameworks if _serves(dep.backend, f)), cfg.frameworks[0])
            fig = prefilter_figures(
                spec,
                profile,
                dep,
                budget=budget,
                build=functools.partial(framework_builder(fw), spec, seed=cfg.train.seed),
                framework=fw,
                workdir=self.work_dir / f"trial-{n}" / f"prefilter-{i}",
                calibration=self.calibration,
                settings=cfg.measure,
                memory=self.memory,
                onnx_exporter=cfg.onnx_exporter,
                on_stage=lambda s: self.report(f"trial {n}: prefilter {s}"),
            )
            figures[profile.name] = fig
            v, why = check(fig, budget)
            values.extend(v)
            reasons.extend(why)
        trial.set_user_attr(
            "prefilter",
            {
                "figures": {k: f.to_dict() for k, f in figures.items()},
                "constraints": [v.to_dict() for v in values],
                "feasible": not reasons,
            },
        )
        if not reasons:
            return None
        objective = cfg.objective_profile_name()
        if objective not in figures:  # the placeholder latency should still be this candidate's own
            prof = next(p for p in cfg.hardware if p.name == objective)
            if not prof.measured:
                from workbench.study._feasibility import prefilter_figures as _pf

                figures[objective] = _pf(
                    spec,
                    prof,
                    recipe_of(prof, cfg.profile_deployments(prof)),
                    budget=None,
                    build=lambda: None,
                    workdir=self.work_dir,
                    calibration=[],
                    settings=cfg.measure,
                    memory=None,
                )
        set_trial_constraints(trial, values)
        trial.set_user_attr(
            "rejected", {"stage": "prefilter", "reasons": reasons, "trained": False}
        )
        trial.set_user_attr("feasible", False)
        return placeholder_values(cfg.objectives, figures, objective)

    def _final_constraints(
        self, trial: optuna.trial.Trial, spec: ArchSpec, measurements: list[Measurement]
    ) -> None:
        """Constraint values from the trained candidate's own measurements of each recipe."""
        from workbench.study._constraints import set_trial_constraints
        from workbench.study._feasibility import check, final_figures, recipe_of

        cfg = self.config
        values = []
        reasons: list[str] = []
        figures = {}
        for profile in cfg.hardware:
            budget = cfg.budget_for(profile)
            if budget is None:
                continue
            fig = final_figures(
                spec, profile, recipe_of(profile, cfg.profile_deployments(profile)), measurements
            )
            figures[profile.name] = fig.to_dict()
            v, why = check(fig, budget)
            values.extend(v)
            reasons.extend(why)
        set_trial_constraints(trial, values)
        trial.set_user_attr("feasible", not reasons)
        trial.set_user_attr("final_check", {"figures": figures, "reasons": reasons})

    @staticmethod
    def _objective_value(name: str, m: Measurement) -> float:
        if name == "accuracy":
            return float(m.accuracy)  # type: ignore[arg-type]
        if name == "latency":
            return float(m.latency.p50_ms)  # type: ignore[union-attr]
        if name == "size":
            return float(m.size_bytes or 0)
        if name == "memory":
            if m.peak_memory_bytes is None:
                raise TrialFailure("measure", f"peak memory unavailable: {m.memory_note}")
            return float(m.peak_memory_bytes)
        raise ValueError(name)

    @staticmethod
    def _record_spec(trial: optuna.trial.Trial, spec: ArchSpec) -> None:
        cost = cost_summary(spec)
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("arch", spec.summary())
        trial.set_user_attr("arch_hash", spec.hash)
        trial.set_user_attr("params", cost.params)
        trial.set_user_attr("macs", cost.macs)
        trial.set_user_attr("cost", cost.to_dict())

    def _upload(self, trial: optuna.trial.Trial, path: Path) -> str:
        from optuna.artifacts import upload_artifact

        assert self.artifact_store is not None
        if not path.is_dir():
            return upload_artifact(
                artifact_store=self.artifact_store, file_path=str(path), study_or_trial=trial
            )
        with tempfile.TemporaryDirectory(prefix="wb-folder-") as tmp:
            archive = pack_folder(path, Path(tmp) / f"{path.name}.zip")
            return upload_artifact(
                artifact_store=self.artifact_store, file_path=str(archive), study_or_trial=trial
            )
