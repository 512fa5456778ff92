"""Add a hand-designed architecture to a study, the study given as the widgets take it (a name
with its storage, an ``optuna.Study``, what ``run_study`` returns, or a StudyRef): the study
layer's :func:`workbench.study.add_designed_trial` does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from workbench.arch import ArchSpec
from workbench.study import StudyConfig
from workbench.study import add_designed_trial as _add_designed_trial
from workbench.study import study_config as _study_config
from workbench.widgets._source import StudyRef, resolve_study

if TYPE_CHECKING:
    import optuna

    from workbench.study import RunResult
    from workbench.study._design import ConfigLike

__all__ = ["add_designed_trial", "study_config"]

#: a study as the widgets take it: its name (with a storage), the study, a run's result, a ref
StudyLike: TypeAlias = "StudyRef | str | optuna.Study | RunResult"
#: where a study named by name lives: a storage URL or an Optuna storage
StorageLike: TypeAlias = "str | optuna.storages.BaseStorage | None"


def study_config(
    ref: StudyLike, config: ConfigLike = None, storage: StorageLike = None
) -> StudyConfig:
    """The :class:`~workbench.study.StudyConfig` a study was run with (see
    :func:`workbench.study.study_config`)."""
    return _study_config(resolve_study(ref, storage).load(), config)


def add_designed_trial(
    spec: ArchSpec,
    study: StudyLike,
    storage: StorageLike = None,
    *,
    config: ConfigLike = None,
    on_stage: Callable[[str], None] | None = None,
    measure_memory: bool = True,
    stop_requested: Callable[[], bool] | None = None,
) -> int:
    """Train, deploy and measure ``spec`` as a new trial of ``study``; returns its trial number
    (see :func:`workbench.study.add_designed_trial`)."""
    return _add_designed_trial(
        spec,
        resolve_study(study, storage).load(),
        config=config,
        on_stage=on_stage,
        measure_memory=measure_memory,
        stop_requested=stop_requested,
    )
