"""Per-layer bars drawn as plain HTML in the widgets.

The panes show one series of :func:`workbench.report.layer_breakdown_info` at a time; plain
HTML bars appear at once, where each plotly ``FigureWidget`` instance ships its own copy of
plotly's 4.9 MB widget bundle (about 3-6 s before it shows in Chromium here). The same data as a
plotly figure is :func:`workbench.report.layer_breakdown_figure`, for static HTML and reports.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["COLORS", "bars_html"]

COLORS = {"cost": "#7f7f7f", "measured": "#1f77b4", "predicted": "#9467bd"}


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def bars_html(series: Any, *, max_rows: int = 60) -> str:
    """A horizontal bar per layer of ``series`` (a LayerSeries), labelled with its source."""
    color = COLORS.get(series.kind, "#7f7f7f")
    fill = (
        f"repeating-linear-gradient(45deg,{color},{color} 4px,#c9b6e0 4px,#c9b6e0 7px)"
        if series.kind == "predicted"
        else color
    )
    values = list(series.values)
    top = max(values, default=0.0) or 1.0
    rows = []
    for name, v in list(zip(series.names, values))[:max_rows]:
        pct = max(0.0, min(100.0, 100.0 * v / top))
        rows.append(
            f"<div class='wb-bar' title='{html.escape(name)}: {v:.4g} {html.escape(series.unit)} "
            f"({series.kind})'>"
            f"<span class='wb-bar-name'>{html.escape(name)}</span>"
            "<span class='wb-bar-track'><span class='wb-bar-fill' "
            f"style='width:{pct:.1f}%;background:{fill}'></span></span>"
            f"<span class='wb-bar-value'>{_fmt(v)}</span></div>"
        )
    more = (
        f"<div class='wb-bar-more'>+{len(values) - max_rows} more layers</div>"
        if len(values) > max_rows
        else ""
    )
    total = sum(values)
    return (
        "<style>.wb-bars{font-size:11px;margin:4px 0}"
        ".wb-bar{display:flex;align-items:center;gap:6px;height:16px}"
        ".wb-bar-name{flex:0 0 "
        "44%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;text-align:right;color:#333}"
        ".wb-bar-track{flex:1 1 auto;height:11px;background:#f2f2f2}"
        ".wb-bar-fill{display:block;height:100%}"
        ".wb-bar-value{flex:0 0 48px;font-variant-numeric:tabular-nums;color:#333}"
        ".wb-bar-more,.wb-bars-title{color:#666}"
        ".wb-bars-title{font-weight:600;margin-bottom:3px}</style>"
        f"<div class='wb-bars' data-kind='{series.kind}' data-n='{len(values)}'>"
        f"<div class='wb-bars-title'>{html.escape(series.label)} · total {_fmt(total)} "
        f"{html.escape(series.unit)}</div>" + "".join(rows) + more + "</div>"
    )
