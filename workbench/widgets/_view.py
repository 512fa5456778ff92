"""A live WebGL scatter of an :class:`~workbench.report.ExplorerInfo`, updated in place.

When the new drawing has the same traces as the last (same roles, colour groups and facets),
only their data and the layout change, in one ``batch_update`` message; otherwise the traces
are replaced. Click and selection callbacks are re-attached whenever traces are replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from plotly.graph_objs import FigureWidget

from workbench.report._study_figures import ExplorerInfo, explorer_layout, explorer_trace_dicts

__all__ = ["ScatterView"]

_HIGHLIGHT = {
    "type": "scattergl",
    "x": [],
    "y": [],
    "mode": "markers",
    "name": "picked point",
    "showlegend": False,
    "hoverinfo": "skip",
    "marker": {
        "size": 18,
        "symbol": "circle-open",
        "color": "#111",
        "line": {"width": 3, "color": "#111"},
    },
    "meta": {"role": "highlight"},
}


class ScatterView:
    """Owns a ``FigureWidget``; :meth:`apply` draws an ExplorerInfo into it."""

    def __init__(
        self,
        *,
        on_click: Callable[..., Any] | None = None,
        on_selection: Callable[..., Any] | None = None,
        max_facets: int = 1,
        title: str | None = None,
        height: int | None = None,
    ) -> None:
        self.figure = FigureWidget()
        self.figure.layout.autosize = True
        self.on_click = on_click
        self.on_selection = on_selection
        self.max_facets = max_facets
        self.title = title
        self.height = height
        self.info: ExplorerInfo | None = None
        self.signature: tuple[Any, ...] | None = None
        #: per trace: (index rows, key positions) of its points; the last trace is the
        #: highlight ring
        self.points: list[tuple[np.ndarray, np.ndarray]] = []
        self.replaced = (
            0  # how many times traces had to be replaced (in-place updates do not count)
        )
        self._layout: dict[str, Any] = {}

    def apply(self, info: ExplorerInfo) -> None:
        traces = explorer_trace_dicts(info)
        layout = explorer_layout(info, max_facets=self.max_facets, title=self.title)
        if self.height is not None and not info.facet_by:
            layout["height"] = self.height
        # only what changed in the layout is sent (a profile switch changes the title, not the axes)
        changed = {k: v for k, v in layout.items() if self._layout.get(k) != v}
        self._layout = layout
        shapes, annotations = changed.pop("shapes", None), changed.pop("annotations", None)
        signature = tuple(
            (d["meta"]["role"], d["meta"]["group"], d["meta"]["facet"]) for d in traces
        )
        fig = self.figure

        def relayout() -> None:
            if changed:
                fig.layout.update(changed)
            if shapes is not None:
                fig.layout.shapes = shapes
            if annotations is not None:
                fig.layout.annotations = annotations

        if signature == self.signature:
            with fig.batch_update():
                for trace, d in zip(fig.data, traces):
                    trace.update({k: v for k, v in d.items() if k != "type"})
                fig.data[-1].update(x=[], y=[])
                relayout()
        else:
            with fig.batch_update():
                relayout()
            fig.data = ()
            fig.add_traces([*traces, dict(_HIGHLIGHT)])
            for trace in fig.data:
                if self.on_click is not None:
                    trace.on_click(self.on_click)
                if self.on_selection is not None:
                    trace.on_selection(self.on_selection)
            self.signature = signature
            self.replaced += 1
        empty = np.zeros(0, np.int64)
        # overlay traces (a check's points) and the highlight ring hold no study index rows
        self.points = [(s.rows, s.keyidx) for s in info.series]
        self.points += [(empty, empty)] * (len(traces) - len(info.series) + 1)
        self.info = info

    def indexed(self, trace_index: int, point_index: int) -> bool:
        """Whether a point of the figure is a study point (not a check's or the ring)."""
        return 0 <= trace_index < len(self.points) and point_index < len(
            self.points[trace_index][0]
        )

    def point_at(self, trace_index: int, point_index: int) -> tuple[int, str]:
        """(trial number, measurement key) of a point of the figure."""
        if self.info is None:
            raise ValueError("nothing is drawn yet")
        rows, keyidx = self.points[trace_index]
        return int(self.info.index.numbers[rows[point_index]]), self.info.keys[
            int(keyidx[point_index])
        ]

    def locate(self, trial: int, key: str) -> tuple[int, int] | None:
        """(trace index, point index) of a drawn point, or None."""
        if self.info is None or key not in self.info.keys:
            return None
        k = self.info.keys.index(key)
        rows = np.flatnonzero(self.info.index.numbers == trial)
        for ti, (trows, tkeys) in enumerate(self.points):
            hit = np.flatnonzero(np.isin(trows, rows) & (tkeys == k))
            if len(hit):
                return ti, int(hit[0])
        return None

    def ring(self, trace_index: int, point_index: int) -> None:
        """Draw the highlight ring around a point."""
        src = self.figure.data[trace_index]
        with self.figure.batch_update():
            hl = self.figure.data[-1]
            hl.x = [src.x[point_index]]
            hl.y = [src.y[point_index]]
            hl.xaxis, hl.yaxis = src.xaxis, src.yaxis
