"""Notebook widgets: the Pareto explorer, the model designer and the live study monitor.

They call the same library functions as the CLI (``run_study``, ``load_index``, the trial
pipeline, ``benchmark``); every figure they show is also a plain function in
:mod:`workbench.report` returning a plotly ``Figure`` for static HTML and nbconvert output.
Importing this package loads ipywidgets and plotly, never PyTorch, TensorFlow or ONNX Runtime.
"""

from workbench.widgets._designer import ModelDesigner
from workbench.widgets._explorer import ParetoExplorer
from workbench.widgets._export import ExportResult, export_artifact, export_points
from workbench.widgets._monitor import StudyMonitor
from workbench.widgets._opprofile import OperatorProfile, profile_onnx_operators
from workbench.widgets._predict import Prediction, ProfileBound, default_predictor, profile_budgets
from workbench.widgets._source import StudyRef, TrialDetail, resolve_study
from workbench.widgets._table import SortableTable
from workbench.widgets._trial import add_designed_trial, study_config

__all__ = [
    "ExportResult",
    "ModelDesigner",
    "OperatorProfile",
    "ParetoExplorer",
    "Prediction",
    "ProfileBound",
    "SortableTable",
    "StudyMonitor",
    "StudyRef",
    "TrialDetail",
    "add_designed_trial",
    "default_predictor",
    "export_artifact",
    "export_points",
    "profile_budgets",
    "profile_onnx_operators",
    "resolve_study",
    "study_config",
]
