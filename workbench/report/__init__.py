"""Figures (plotly) and the self-contained HTML report of a study."""

from workbench.report._check_figures import (
    CHECK_MARKS,
    CheckOverlay,
    CheckRow,
    CheckSeries,
    check_overlay,
    check_rows,
    check_trace_dicts,
)
from workbench.report._figures import (
    ComparisonInfo,
    FootprintRow,
    ParetoInfo,
    ParetoSeries,
    comparison_info,
    deployment_comparison_figure,
    footprint_info,
    history_figure,
    pareto_figure,
    pareto_info,
)
from workbench.report._html import render_report, write_report
from workbench.report._study_figures import (
    Constraint,
    ExplorerInfo,
    LayerBreakdownInfo,
    explorer_figure,
    explorer_info,
    layer_breakdown_figure,
    layer_breakdown_info,
)

__all__ = [
    "CHECK_MARKS",
    "CheckOverlay",
    "CheckRow",
    "CheckSeries",
    "ComparisonInfo",
    "Constraint",
    "ExplorerInfo",
    "FootprintRow",
    "LayerBreakdownInfo",
    "ParetoInfo",
    "ParetoSeries",
    "check_overlay",
    "check_rows",
    "check_trace_dicts",
    "comparison_info",
    "deployment_comparison_figure",
    "explorer_figure",
    "explorer_info",
    "footprint_info",
    "history_figure",
    "layer_breakdown_figure",
    "layer_breakdown_info",
    "pareto_figure",
    "pareto_info",
    "render_report",
    "write_report",
]
