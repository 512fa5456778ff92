"""Figures (plotly) and the self-contained HTML report of a study."""

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

__all__ = [
    "ComparisonInfo",
    "FootprintRow",
    "ParetoInfo",
    "ParetoSeries",
    "comparison_info",
    "deployment_comparison_figure",
    "footprint_info",
    "history_figure",
    "pareto_figure",
    "pareto_info",
    "render_report",
    "write_report",
]
