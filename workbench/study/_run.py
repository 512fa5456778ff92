"""Run a study: create or resume it, optimize within the budgets, then write its outputs.

Resuming: the trial budget counts trials that finished (completed, or failed for a reason of
their own). Trials cut short by Ctrl-C, or left running by a worker that died (failed at once
when its process is known dead on this machine, else by Optuna's heartbeat), do not count, so
rerunning the same command completes the budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError
from workbench._files import atomic_write_text, remove_dead_temporaries, replace_dir, writing
from workbench._json import dumps
from workbench._version import __version__
from workbench.bench import Measurement, MemoryProbe
from workbench.data import load_data
from workbench.hw import host_info
from workbench.study._config import StudyConfig
from workbench.study._export import export_artifacts
from workbench.study._objective import TrialFailure, TrialPipeline
from workbench.study._recover import fail_dead_trials
from workbench.study._results import StudyResults, load_results
from workbench.study._space import Task, compile_space
from workbench.study._storage import open_storage

__all__ = ["RunResult", "count_finished", "make_sampler", "run_study", "write_outputs"]


@dataclass
class RunResult:
    study: Any
    results: StudyResults
    run_dir: Path
    new_trials: int
    interrupted: bool = False
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        """``report.html``, written by :func:`workbench.run_study` (not by this package)."""
        return self.outputs["report"]


def make_sampler(cfg: StudyConfig, constraints_func: Callable[..., Any] | None = None) -> Any:
    import optuna

    if cfg.sampler == "nsga2":
        pop = cfg.population_size or max(4, min(50, cfg.trials // 4))
        return optuna.samplers.NSGAIISampler(
            population_size=pop, seed=cfg.seed, constraints_func=constraints_func
        )
    if cfg.sampler == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.TPESampler(
                seed=cfg.seed, multivariate=True, constraints_func=constraints_func
            )
    return optuna.samplers.RandomSampler(seed=cfg.seed)


def _constraints_func(cfg: StudyConfig) -> Callable[..., Any] | None:
    """Budgets reach the samplers through ``trial.set_constraint`` (Optuna 5); older Optuna
    versions read them back from the trial's ``constraints`` user attribute instead."""
    import optuna

    if not cfg.constrained or hasattr(optuna.trial.Trial, "set_constraint"):
        return None
    from workbench.study._constraints import constraints_from_attrs

    return constraints_from_attrs


def count_finished(study: Any) -> int:
    """Trials that count against the budget: complete, pruned, or failed for their own reason."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and "failure" in t.user_attrs
        ):
            n += 1
    return n


def _check_resume(study: Any, cfg: StudyConfig) -> None:
    attrs = study.user_attrs
    old = attrs.get("fingerprint")
    if old is not None and old != cfg.search_fingerprint():
        raise ConfigError(
            f"study {cfg.name!r} already exists in this storage with a different search, data, "
            "training, hardware or "
            "deployment setup; resume with the original config, or give this one a new name "
            "(--set study.name=...)",
            field="study.name",
            location=cfg.path,
        )
    dirs = [d.name.lower() for d in study.directions]
    if dirs != cfg.directions():
        raise ConfigError(
            f"study {cfg.name!r} exists with objectives in directions {dirs}, this config asks "
            f"for {cfg.directions()}",
            field="study.objectives",
            location=cfg.path,
        )


def run_study(
    cfg: StudyConfig,
    *,
    progress: bool = True,
    on_stage: Callable[[str], None] | None = None,
    on_trial: Callable[[Any, Any], None] | None = None,
    measure_memory: bool = True,
    write: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run (or resume) the study ``cfg`` describes; returns its results and output paths.

    ``should_stop`` is polled after every trial (the notebook monitor's Stop button uses it).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = cfg.run_dir
    with writing(run_dir, "create the folder"):
        run_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(run_dir)  # of an earlier run killed while it wrote its outputs
    data = load_data(cfg.data)
    space = compile_space(
        _space_reader(cfg), Task(data.input_shape, data.num_classes), base_dir=cfg.base_dir
    )
    storage = open_storage(cfg.storage_url())
    study = optuna.create_study(
        study_name=cfg.name,
        storage=storage,
        sampler=make_sampler(cfg, _constraints_func(cfg)),
        directions=cfg.directions(),
        load_if_exists=True,
    )
    _check_resume(study, cfg)
    crashed = fail_dead_trials(study)
    if crashed and progress:
        print(
            f"trials {', '.join(map(str, crashed))}: their worker died; failed, and run again",
            file=sys.stderr,
        )
    info = host_info()
    if "fingerprint" not in study.user_attrs:
        study.set_user_attr("fingerprint", cfg.search_fingerprint())
        study.set_user_attr("config", json.loads(dumps(cfg.raw)))
        study.set_user_attr("workbench_version", __version__)
        study.set_user_attr("objective_deployment", cfg.objective_deployment)
        study.set_user_attr("objective_profile", cfg.objective_profile_name())
        study.set_user_attr(
            "host",
            {
                "cpu_model": info.cpu_model,
                "isa": info.isa_summary,
                "available_cpus": info.available_cpus,
                "physical_cores": info.physical_cores,
                "os": info.os,
                "python": info.python,
            },
        )
    store_dir = Path(study.user_attrs.get("artifact_store") or (run_dir / "artifacts").resolve())
    if "artifact_store" not in study.user_attrs:
        study.set_user_attr("artifact_store", str(store_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(cfg.metric_names())

    from workbench.study._artifacts import AtomicArtifactStore

    with writing(store_dir, "create the folder"):
        store_dir.mkdir(parents=True, exist_ok=True)
    store = AtomicArtifactStore(str(store_dir))
    finished = count_finished(study)
    remaining = max(0, cfg.trials - finished)
    memory = MemoryProbe() if measure_memory else None
    bar = _Progress(total=cfg.trials, initial=finished, enabled=progress, study=study)

    def stage(text: str) -> None:
        bar.stage(text)
        if on_stage is not None:
            on_stage(text)

    interrupt = _InterruptFlag()
    pipeline = TrialPipeline(
        cfg,
        space,
        data,
        work_dir=run_dir / "work",
        artifact_store=store,
        memory=memory,
        on_stage=stage,
        stop_requested=interrupt.is_set,
    )
    new = 0
    interrupted = False

    def after_trial(study_: Any, trial: Any) -> None:
        nonlocal new
        new += 1
        bar.trial_done(trial)
        if on_trial is not None:
            on_trial(study_, trial)
        if (
            interrupt.is_set()
            or (should_stop is not None and should_stop())
            or count_finished(study_) >= cfg.trials
        ):
            study_.stop()

    start = time.perf_counter()
    try:
        with interrupt:
            if remaining:
                study.optimize(
                    pipeline,
                    n_trials=remaining,
                    timeout=cfg.timeout_s,
                    catch=(TrialFailure,),
                    callbacks=[after_trial],
                    gc_after_trial=True,
                    show_progress_bar=False,
                )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        interrupted = interrupted or interrupt.is_set()
        bar.close()
        if memory is not None:
            memory.close()
        shutil.rmtree(run_dir / "work", ignore_errors=True)
    fail_dead_trials(study)  # a worker elsewhere that died meanwhile (heartbeat), if any
    result = RunResult(study, load_results(study), run_dir, new, interrupted)
    result.results.study_attrs["run_seconds"] = round(time.perf_counter() - start, 1)
    if write:
        result.outputs = write_outputs(result.results, cfg, run_dir, store)
    return result


class _InterruptFlag:
    """SIGINT handling for a run: the first Ctrl-C asks the run to stop, the second stops it
    at once.

    The first request only sets a flag. The trial pipeline polls it at every stage boundary and
    before every training batch, and raises ``KeyboardInterrupt`` there, in plain Python code:
    an exception raised asynchronously inside a storage call can leave a connection-pool lock
    held or a SQLite write transaction open, and the run would then hang while it records the
    interrupted trial. A second Ctrl-C raises ``KeyboardInterrupt`` wherever the run is.
    """

    def __init__(self) -> None:
        self._set = False
        self._previous: Any = None
        self._installed = False

    def is_set(self) -> bool:
        return self._set

    def _handler(self, signum: int, frame: Any) -> None:
        if self._set:
            raise KeyboardInterrupt
        self._set = True
        # os.write, not print: the handler may run while the main thread is inside a write to stderr
        os.write(
            2,
            b"\nstopping: the current trial ends at its next step (Ctrl-C again to stop at once)\n",
        )

    def __enter__(self) -> _InterruptFlag:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            import signal

            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


def _space_reader(cfg: StudyConfig) -> Any:
    from workbench._schema import Reader, SourceMap

    return Reader(dict(cfg.space), field="space", source=SourceMap(cfg.path))


def write_outputs(
    results: StudyResults, cfg: StudyConfig | None, run_dir: Path, store: Any | None
) -> dict[str, Path]:
    """``results.json``, ``results.csv`` and ``pareto/`` (the Pareto artifacts); the HTML report
    is written by :func:`workbench.run_study`. A file that cannot be written raises
    :class:`workbench.OutputError`; what the storage holds is untouched."""
    with writing(run_dir, "create the folder"):
        run_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(run_dir)
    out = {
        "json": _atomic_write(run_dir / "results.json", dumps(results.to_json())),
        "csv": _atomic_write(run_dir / "results.csv", results.to_csv()),
    }
    if store is not None:
        out["pareto"] = export_pareto(
            results,
            store,
            run_dir / "pareto",
            prune=cfg is not None and cfg.keep_artifacts == "pareto",
        )
    return out


def _atomic_write(path: Path, text: str) -> Path:
    return atomic_write_text(path, text)


def export_pareto(results: StudyResults, store: Any, dest: Path, *, prune: bool = False) -> Path:
    """Copy every deployment's Pareto-optimal artifacts to ``dest`` with a ``manifest.json``
    (:func:`workbench.study._export.export_artifacts`); ``prune`` removes every other artifact."""
    by_trial = {t.number: t for t in results.trials}
    points: list[tuple[int, str]] = []
    measurements: dict[tuple[int, str], Measurement] = {}
    for key, front in results.fronts().items():
        for n in front.trials:
            m = next((m for m in by_trial[n].measurements() if m.key == key), None)
            if m is not None and m.meta.get("artifact_id"):
                points.append((n, key))
                measurements[(n, key)] = m
    keep = {str(m.meta["artifact_id"]) for m in measurements.values()}
    specs = {n: by_trial[n].spec for n, _ in points}

    def fill(folder: Path) -> None:
        export_artifacts(results.study_name, points, measurements, store, folder, specs=specs)

    replace_dir(dest, fill)
    if prune:
        for t in results.trials:
            for m in t.measurements():
                art = m.meta.get("artifact_id")
                if art and art not in keep:
                    with contextlib.suppress(Exception):  # already gone
                        store.remove(art)
    return dest


class _Progress:
    """Progress over the trial budget with the current best: a live tqdm bar on a terminal,
    one plain line per finished trial otherwise (CI logs)."""

    def __init__(self, *, total: int, initial: int, enabled: bool, study: Any) -> None:
        self.enabled = enabled
        self.study = study
        self.total = total
        self.done = initial
        self.bar = None
        self.live = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        if self.live:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="trial",
                dynamic_ncols=True,
                file=sys.stderr,
                desc=f"{study.study_name}",
                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}<{remaining}] {postfix}",
            )
            self._postfix()
        elif enabled:
            sys.stderr.write(
                f"{study.study_name}: {initial}/{total} trials finished; running up to "
                f"{total - initial} more\n"
            )

    def stage(self, text: str) -> None:
        if self.bar is not None:
            self._postfix(text)

    def _postfix(self, stage: str | None = None) -> None:
        if self.bar is None:
            return
        best = self.best()
        self.bar.set_postfix_str(" | ".join(p for p in (best, stage) if p), refresh=True)

    def best(self) -> str:
        try:
            trials = self.study.best_trials
        except Exception:  # noqa: BLE001 - no completed trial yet
            return ""
        if not trials:
            return ""
        names = self.study.metric_names or []
        acc_i = names.index("accuracy") if "accuracy" in names else 0
        lat_i = names.index("latency_p50_ms") if "latency_p50_ms" in names else None
        best_acc = max(trials, key=lambda t: t.values[acc_i])
        text = f"front {len(trials)} · best acc {best_acc.values[acc_i]:.3f}"
        if lat_i is not None:
            fastest = min(t.values[lat_i] for t in trials)
            text += f" @ {best_acc.values[lat_i]:.3g} ms · fastest {fastest:.3g} ms"
        return text

    def trial_done(self, trial: Any) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
        elif self.enabled:
            state = trial.state.name.lower()
            detail = ""
            if trial.values is not None:
                detail = " values " + ", ".join(f"{v:.4g}" for v in trial.values)
            elif "failure" in trial.user_attrs:
                f = trial.user_attrs["failure"]
                detail = f" ({f.get('stage')}: {f.get('reason')})"
            elapsed = time.perf_counter() - self.t0
            sys.stderr.write(
                f"trial {trial.number} {state}{detail} | {self.done}/{self.total} | {elapsed:.0f}s "
                f"| {self.best()}\n"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def with_overrides(cfg: StudyConfig, **kwargs: Any) -> StudyConfig:
    """A copy of ``cfg`` with CLI-level overrides (trials, storage, out_dir) applied."""
    changes = {k: v for k, v in kwargs.items() if v is not None}
    return replace(cfg, **changes) if changes else cfg
