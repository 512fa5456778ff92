"""Studies: configs, search spaces, the trial pipeline, storage, Pareto fronts and results."""

from workbench.study._config import OBJECTIVES, SAMPLERS, StudyConfig, apply_overrides, load_config
from workbench.study._constraints import Budget
from workbench.study._design import (
    DESIGNED,
    ORIGIN_ATTR,
    BudgetVerdict,
    DesignCheck,
    DesignFigure,
    PredictedLatency,
    Predictor,
    RecipeCheck,
    add_designed_trial,
    check_design,
    default_predictor,
    study_config,
)
from workbench.study._export import (
    ARTIFACT_EXTENSIONS,
    MANIFEST_SCHEMA,
    ArtifactExport,
    artifact_extension,
    artifact_name,
    export_artifacts,
)
from workbench.study._index import POINT_FIELDS, POINTS_ATTR, StudyIndex, load_index, points_summary
from workbench.study._metrics import METRICS, Metric, get_metric, metric_for_field, metric_names
from workbench.study._objective import TrialFailure, TrialPipeline, choose_objective_measurement
from workbench.study._pareto import hypervolume, knee_point, non_dominated, reference_point
from workbench.study._results import Front, StudyResults, TrialRecord, load_results
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
from workbench.study._synthetic import make_synthetic_study

__all__ = [
    "ARTIFACT_EXTENSIONS",
    "DESIGNED",
    "FAMILIES",
    "MANIFEST_SCHEMA",
    "METRICS",
    "OBJECTIVES",
    "ORIGIN_ATTR",
    "POINTS_ATTR",
    "POINT_FIELDS",
    "SAMPLERS",
    "ArtifactExport",
    "Budget",
    "BudgetVerdict",
    "DesignCheck",
    "DesignFigure",
    "Front",
    "Metric",
    "Param",
    "PredictedLatency",
    "Predictor",
    "RecipeCheck",
    "RunResult",
    "SearchSpace",
    "StudyConfig",
    "StudyIndex",
    "StudyResults",
    "Task",
    "TrialFailure",
    "TrialPipeline",
    "TrialRecord",
    "add_designed_trial",
    "apply_overrides",
    "artifact_extension",
    "artifact_name",
    "check_design",
    "choose_objective_measurement",
    "compile_space",
    "count_finished",
    "default_predictor",
    "export_artifacts",
    "get_metric",
    "hypervolume",
    "knee_point",
    "list_studies",
    "load_config",
    "load_index",
    "load_results",
    "make_sampler",
    "make_synthetic_study",
    "metric_for_field",
    "metric_names",
    "non_dominated",
    "open_storage",
    "open_study",
    "points_summary",
    "reference_point",
    "run_study",
    "study_config",
    "with_overrides",
    "write_outputs",
]
