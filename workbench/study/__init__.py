"""Studies: configs, search spaces, the trial pipeline, storage, Pareto fronts and results."""

from workbench.study._cache import IndexCache, cached_index
from workbench.study._config import OBJECTIVES, SAMPLERS, StudyConfig, apply_overrides, load_config
from workbench.study._index import POINT_FIELDS, POINTS_ATTR, StudyIndex, load_index, points_summary
from workbench.study._objective import TrialFailure, TrialPipeline, choose_objective_measurement
from workbench.study._origin import (
    DESIGNED,
    ORIGIN_ATTR,
    SAMPLED,
    designed_mask,
    is_designed,
    trial_origin,
)
from workbench.study._pareto import hypervolume, knee_point, non_dominated, reference_point
from workbench.study._results import METRICS, Front, StudyResults, TrialRecord, load_results
from workbench.study._run import (
    RunResult,
    count_finished,
    make_sampler,
    run_study,
    with_overrides,
    write_outputs,
)
from workbench.study._space import FAMILIES, Param, SearchSpace, Task, compile_space
from workbench.study._storage import list_studies, open_storage, open_study
from workbench.study._store import (
    BestValue,
    StudySignature,
    TrialCounts,
    TrialRow,
    best_values,
    file_identity,
    schema_problem,
    state_counts,
    study_signature,
    trial_row,
    trial_user_attrs,
    uses_sql,
)
from workbench.study._summary import (
    STATUSES,
    StudySummary,
    list_study_summaries,
    study_status,
    target_trials,
)
from workbench.study._synthetic import make_synthetic_study

__all__ = [
    "DESIGNED",
    "FAMILIES",
    "METRICS",
    "OBJECTIVES",
    "ORIGIN_ATTR",
    "POINTS_ATTR",
    "POINT_FIELDS",
    "SAMPLED",
    "SAMPLERS",
    "STATUSES",
    "BestValue",
    "Front",
    "IndexCache",
    "Param",
    "RunResult",
    "SearchSpace",
    "StudyConfig",
    "StudyIndex",
    "StudyResults",
    "StudySignature",
    "StudySummary",
    "Task",
    "TrialCounts",
    "TrialFailure",
    "TrialPipeline",
    "TrialRecord",
    "TrialRow",
    "apply_overrides",
    "best_values",
    "cached_index",
    "choose_objective_measurement",
    "compile_space",
    "count_finished",
    "designed_mask",
    "file_identity",
    "hypervolume",
    "is_designed",
    "knee_point",
    "list_studies",
    "list_study_summaries",
    "load_config",
    "load_index",
    "load_results",
    "make_sampler",
    "make_synthetic_study",
    "non_dominated",
    "open_storage",
    "open_study",
    "points_summary",
    "reference_point",
    "run_study",
    "schema_problem",
    "state_counts",
    "study_signature",
    "study_status",
    "target_trials",
    "trial_origin",
    "trial_row",
    "trial_user_attrs",
    "uses_sql",
    "with_overrides",
    "write_outputs",
]
