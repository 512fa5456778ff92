"""Add a hand-designed architecture to a study as one more trial, measured exactly like the
searched ones: the study's own config (data, training, profiles, deployments, measurement
settings) drives the same :class:`~workbench.study.TrialPipeline`, with a one-off search space
that returns the given spec."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError, WorkbenchError
from workbench.widgets._source import DESIGNED, ORIGIN_ATTR, StudyRef, resolve_study

__all__ = ["add_designed_trial", "study_config"]


def study_config(ref: StudyRef, config: Any = None) -> Any:
    """The :class:`~workbench.study.StudyConfig` a study was run with: ``config`` (a path, a
    mapping or a StudyConfig) when given, else the config stored in the study itself."""
    from workbench.study import StudyConfig, load_config

    if isinstance(config, StudyConfig):
        cfg = config
    elif isinstance(config, (str, os.PathLike, Mapping)):
        cfg = load_config(config)
    elif config is None:
        raw = ref.user_attrs().get("config")
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"study {ref.name!r} stores no config (was it made by workbench run?); pass config= the YAML it was run with"
            )
        cfg = load_config(raw, display=f"config stored in study {ref.name}")
    else:
        raise ConfigError(
            f"config must be a path, a mapping or a StudyConfig, got {type(config).__name__}"
        )
    changes: dict[str, Any] = {"name": ref.name}
    if ref.url is not None:
        changes["storage"] = ref.url
    return replace(cfg, **changes)


def add_designed_trial(
    spec: Any,
    study: Any,
    storage: Any = None,
    *,
    config: Any = None,
    on_stage: Callable[[str], None] | None = None,
    measure_memory: bool = True,
    stop_requested: Callable[[], bool] | None = None,
) -> int:
    """Train, deploy and measure ``spec`` as a new trial of ``study``; returns its trial number.

    The trial is marked ``origin: designed``. A spec whose input shape or class count differs
    from the study's data is refused before anything runs. A trial that fails is stored as failed
    with its reason, as in a search, and the reason is raised.
    """
    import optuna

    from workbench.arch import ArchSpec
    from workbench.bench import MemoryProbe
    from workbench.data import load_data
    from workbench.study import SearchSpace, TrialFailure, TrialPipeline

    if not isinstance(spec, ArchSpec):
        raise ConfigError(f"expected an ArchSpec, got {type(spec).__name__}")
    ref = resolve_study(study, storage)
    cfg = study_config(ref, config)
    opt_study = ref.load(sampler=optuna.samplers.RandomSampler())
    dirs = [d.name.lower() for d in opt_study.directions]
    if dirs != cfg.directions():
        raise ConfigError(
            f"study {ref.name!r} optimises {dirs}, but the config asks for {cfg.directions()}: pass the config it was run with"
        )
    data = load_data(cfg.data)
    if tuple(spec.input_shape) != tuple(data.input_shape) or spec.num_classes != data.num_classes:
        raise ConfigError(
            f"the spec takes {spec.input_shape} with {spec.num_classes} classes, but study {ref.name!r} uses data of shape "
            f"{data.input_shape} with {data.num_classes} classes"
        )
    space = SearchSpace(
        lambda _trial: spec, description="designed by hand", definition={"designed": spec.to_dict()}
    )
    from optuna.artifacts import FileSystemArtifactStore

    store_dir = Path(
        ref.user_attrs().get("artifact_store") or (cfg.run_dir / "artifacts").resolve()
    )
    store_dir.mkdir(parents=True, exist_ok=True)
    work = cfg.run_dir / "work-designed"
    memory = MemoryProbe() if measure_memory else None
    try:
        pipeline = TrialPipeline(
            cfg,
            space,
            data,
            work_dir=work,
            artifact_store=FileSystemArtifactStore(str(store_dir)),
            memory=memory,
            on_stage=on_stage,
            stop_requested=stop_requested,
        )
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", UserWarning
            )  # heartbeats serve optimize(); one asked trial needs none
            trial = opt_study.ask()
        trial.set_user_attr(ORIGIN_ATTR, DESIGNED)
        try:
            values = pipeline(trial)
        except TrialFailure as err:
            opt_study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise WorkbenchError(
                f"trial {trial.number} (designed) failed at {err.stage}: {err.reason}"
            ) from None
        except BaseException:
            opt_study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        opt_study.tell(trial, values)
        return int(trial.number)
    finally:
        if memory is not None:
            memory.close()
        shutil.rmtree(work, ignore_errors=True)
