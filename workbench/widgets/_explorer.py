"""ParetoExplorer: any two objectives of a study, for any profile and deployment, at 10k trials.

The scatter is a plotly ``FigureWidget`` of WebGL traces built from the study's columnar index
(:func:`workbench.study.load_index`); every control change recomputes what to draw with
vectorised NumPy (:func:`workbench.report.explorer_info`) and updates the traces in place in one
message. Clicking a point loads that one trial's full record into the detail pane; a box or
lasso selection fills a sortable table that exports as CSV with the artifacts.
"""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np

from workbench.bench import MeasurementKey
from workbench.report._study_figures import ExplorerInfo, explorer_info
from workbench.study import METRICS
from workbench.widgets._detail import DetailPane
from workbench.widgets._export import ExportResult, export_points
from workbench.widgets._predict import Predictor, profile_budgets, resolve_predictor
from workbench.widgets._source import StudyRef, resolve_study
from workbench.widgets._table import SortableTable
from workbench.widgets._view import ScatterView

if TYPE_CHECKING:
    from workbench.check import CheckResult

__all__ = ["ParetoExplorer"]

#: the metrics with a budget field in the controls (bounds in their display units)
_BUDGET_FIELDS = ("latency", "size", "memory", "accuracy")
_TABLE_COLUMNS = (
    ("trial", "trial", "int"),
    ("deployment", "deployment", "text"),
    ("profile", "profile", "text"),
    ("framework", "framework", "text"),
    ("source", "source", "text"),
    ("accuracy", "accuracy", "float"),
    ("latency_p50_ms", f"p50 {METRICS['latency'].display_unit}", "float"),
    ("latency_p90_ms", f"p90 {METRICS['latency_p90'].display_unit}", "float"),
    ("size_kib", f"size {METRICS['size'].display_unit}", "float"),
    ("memory_mib", f"memory {METRICS['memory'].display_unit}", "float"),
    ("params", "params", "int"),
    ("macs", "MACs", "int"),
    ("on_front", "Pareto", "text"),
    ("arch", "architecture", "text"),
)


ALL = "*"  # option value meaning "no filter" (ipywidgets shows a None value as a blank selection)


def _opt(value: str | None) -> str:
    return ALL if value is None else value


def _val(value: str) -> str | None:
    return None if value == ALL else value


def _fmt_bound(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


class ParetoExplorer(w.VBox):
    """Explore a study's accuracy/latency/size/memory trade-offs.

    ``study`` is a study name (with ``storage``, a URL or Optuna storage), an ``optuna.Study`` or
    what :func:`workbench.run_study` returns. Keywords set the initial view; ``constraints``
    maps objectives to bounds in display units (ms, KiB, MiB), e.g. ``{"latency": 2.0}``.
    ``predictor`` gives predicted per-layer latency in the detail pane (default: the library's,
    when installed). ``check``: True overlays the check saved beside the study's outputs, if
    any (``workbench check``), toggled by the "check overlay" box; a result overlays that one;
    False none.
    """

    def __init__(
        self,
        study: Any,
        storage: Any = None,
        *,
        x: str = "latency",
        y: str = "accuracy",
        profile: str | None = "",
        framework: str | None = None,
        deployment: str | None = None,
        color_by: str = "deployment",
        facet_by: str | None = None,
        constraints: Mapping[str, float] | None = None,
        profile_budgets: bool = False,
        predictor: Predictor | str | None = "default",
        export_dir: str | Path | None = None,
        auto_profile: bool = False,
        check: CheckResult | bool = True,
    ) -> None:
        t0 = time.perf_counter()
        self.ref: StudyRef = resolve_study(study, storage)
        self.index = self.ref.index()
        self.designed = self.index.designed()
        self.load_seconds = time.perf_counter() - t0
        self.predictor = resolve_predictor(predictor)
        self.export_dir = (
            Path(export_dir) if export_dir is not None else Path("exports") / self.ref.name
        )
        self.info: ExplorerInfo | None = None
        self.last_update_seconds = 0.0
        self._hold = 0
        self._pending_selection: dict[int, list[int]] = {}
        self.selection: list[tuple[int, str]] = []
        self.picked: tuple[int, str] | None = None

        profiles = self.index.profiles()
        if profile == "":
            profile = profiles[0] if profiles else None
        for name, value, known in (
            ("profile", profile, profiles),
            ("framework", framework, self.index.frameworks()),
            ("deployment", deployment, self.index.deployments()),
        ):
            if value is not None and value not in known:
                raise ValueError(
                    f"unknown {name} {value!r}; study {self.ref.name!r} has: "
                    f"{', '.join(known) or '(none)'}"
                )
        axis_options = [(m.title, k) for k, m in METRICS.items()]
        self.x = w.Dropdown(
            options=axis_options, value=x, description="x", layout=w.Layout(width="250px")
        )
        self.y = w.Dropdown(
            options=axis_options, value=y, description="y", layout=w.Layout(width="250px")
        )
        self.profile = w.Dropdown(
            options=self._profile_options(),
            value=_opt(profile),
            description="profile",
            layout=w.Layout(width="230px"),
        )
        self.framework = w.Dropdown(
            options=self._filter_options(self.index.frameworks()),
            value=_opt(framework),
            description="framework",
            layout=w.Layout(width="190px"),
        )
        self.deployment = w.Dropdown(
            options=self._filter_options(self.index.deployments()),
            value=_opt(deployment),
            description="deployment",
            layout=w.Layout(width="290px"),
        )
        self.color_by = w.Dropdown(
            options=["deployment", "profile", "framework"],
            value=color_by,
            description="colour by",
            layout=w.Layout(width="210px"),
        )
        self.facet_by = w.Dropdown(
            options=[("none", ALL), *[(d, d) for d in ("deployment", "profile", "framework")]],
            value=_opt(facet_by),
            description="facet by",
            layout=w.Layout(width="210px"),
        )
        self.log_x = w.Checkbox(
            value=False, description="log x", indent=False, layout=w.Layout(width="80px")
        )
        self._log_auto = True
        self.budget_fields: dict[str, w.Text] = {}
        for metric in _BUDGET_FIELDS:
            m = METRICS[metric]
            unit = m.display_unit
            self.budget_fields[metric] = w.Text(
                value=_fmt_bound((constraints or {}).get(metric)),
                placeholder="no limit",
                description=f"{metric} {'≥' if m.bound_op == '>=' else '≤'}",
                layout=w.Layout(width="180px"),
                style={"description_width": "80px"},
                continuous_update=False,
                tooltip=f"bound in {unit}" if unit else "bound",
            )
        unknown = set(constraints or {}) - set(METRICS)
        if unknown:
            raise ValueError(
                f"unknown constraint {sorted(unknown)[0]!r}; expected one of: {', '.join(METRICS)}"
            )
        self._extra_constraints = {
            k: v for k, v in (constraints or {}).items() if k not in self.budget_fields
        }
        self.use_profile_budgets = w.Checkbox(
            value=profile_budgets,
            description="profile's budgets",
            indent=False,
            layout=w.Layout(width="140px"),
        )
        self.budget_error = w.HTML()
        self.check, check_error = self._the_check(check)
        self.show_check = w.Checkbox(
            value=self.check is not None,
            description="check overlay",
            indent=False,
            layout=w.Layout(width="130px", display="" if self.check is not None else "none"),
        )
        self.check_status = w.HTML(self._check_status(check_error))
        self.status = w.HTML()
        self.view = ScatterView(
            on_click=self._on_click, on_selection=self._on_selection, max_facets=self._max_facets()
        )
        self.figure = self.view.figure
        self.detail = DetailPane(
            self.ref,
            predictor=self.predictor,
            export_dir=self.export_dir,
            auto_profile=auto_profile,
        )
        self.table = SortableTable(
            _TABLE_COLUMNS, empty="Box- or lasso-select points on the plot to list them here."
        )
        self.table.observe(self._on_table_pick, "selected_row")
        self.export_folder = w.Text(
            value=str(self.export_dir), description="folder", layout=w.Layout(width="340px")
        )
        self.export_artifacts = w.Checkbox(
            value=True, description="with artifacts", indent=False, layout=w.Layout(width="120px")
        )
        self.export_selection_button = w.Button(
            description="Export selection", icon="download", layout=w.Layout(width="auto")
        )
        self.export_pareto_button = w.Button(
            description="Export Pareto set", icon="download", layout=w.Layout(width="auto")
        )
        self.export_selection_button.on_click(lambda _b: self._export_clicked("selection"))
        self.export_pareto_button.on_click(lambda _b: self._export_clicked("pareto"))
        self.export_status = w.HTML()

        for control in (
            self.x,
            self.y,
            self.profile,
            self.framework,
            self.deployment,
            self.color_by,
            self.facet_by,
        ):
            control.observe(self._on_control, "value")
        self.log_x.observe(self._on_log, "value")
        for field in self.budget_fields.values():
            field.observe(self._on_control, "value")
        self.use_profile_budgets.observe(self._on_profile_budgets, "value")
        self.show_check.observe(self._on_control, "value")

        plot_box = w.Box([self.figure], layout=w.Layout(flex="1 1 60%", min_width="480px"))
        self.header = w.HTML(self._header())
        super().__init__(
            [
                self.header,
                w.HBox(
                    [self.x, self.y, self.profile, self.framework, self.deployment],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HBox(
                    [self.color_by, self.facet_by, self.log_x, self.show_check],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.check_status,
                w.HBox(
                    [
                        w.HTML("<b>budgets</b>", layout=w.Layout(width="60px")),
                        *self.budget_fields.values(),
                        self.use_profile_budgets,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.budget_error,
                self.status,
                w.HBox(
                    [plot_box, self.detail], layout=w.Layout(width="100%", align_items="flex-start")
                ),
                w.HBox(
                    [
                        self.export_selection_button,
                        self.export_pareto_button,
                        self.export_artifacts,
                        self.export_folder,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.export_status,
                self.table,
            ]
        )
        self.add_class("wb-explorer")
        if profile_budgets:
            self._fill_profile_budgets()
        self.update()
        self.open_seconds = time.perf_counter() - t0

    # -- state -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def hold_updates(self) -> Iterator[None]:
        """Change several controls and redraw once at the end."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        if not self._hold:
            self.update()

    def constraints(self) -> dict[str, float]:
        """The bounds in force, in display units; raises ValueError on a field that is not a
        number."""
        out: dict[str, float] = dict(self._extra_constraints)
        for metric, field in self.budget_fields.items():
            text = field.value.strip()
            if not text:
                continue
            try:
                out[metric] = float(text)
            except ValueError:
                raise ValueError(f"the {metric} budget must be a number, got {text!r}") from None
        return out

    def set_constraints(self, constraints: Mapping[str, float | None]) -> None:
        """Set bounds (display units; None clears one) and redraw."""
        with self.hold_updates():
            for metric, value in constraints.items():
                if metric in self.budget_fields:
                    self.budget_fields[metric].value = _fmt_bound(value)
                elif metric in METRICS:
                    if value is None:
                        self._extra_constraints.pop(metric, None)
                    else:
                        self._extra_constraints[metric] = float(value)
                else:
                    raise ValueError(
                        f"unknown constraint {metric!r}; expected one of: {', '.join(METRICS)}"
                    )

    # -- drawing -----------------------------------------------------------------------------
    def update(self) -> ExplorerInfo | None:
        """Recompute what to draw from the controls and update the figure in place."""
        if self._hold:
            return self.info
        t0 = time.perf_counter()
        try:
            cons = self.constraints()
            self.budget_error.value = ""
        except ValueError as err:
            self.budget_error.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return self.info
        info = explorer_info(
            self.index,
            x=self.x.value,
            y=self.y.value,
            profile=_val(self.profile.value),
            framework=_val(self.framework.value),
            deployment=_val(self.deployment.value),
            color_by=self.color_by.value,
            facet_by=_val(self.facet_by.value),
            constraints=cons,
            designed=self.designed,
            check=self.check if self.show_check.value else None,
        )
        if self._log_auto:
            self.log_x.unobserve(self._on_log, "value")
            self.log_x.value = info.log_x
            self.log_x.observe(self._on_log, "value")
        info = info._replace(log_x=self.log_x.value)
        self.view.apply(info)
        self.info = info
        self.picked = None
        self.last_update_seconds = time.perf_counter() - t0
        within = (
            f" · {info.n_feasible:,} within {' and '.join(c.label for c in info.constraints)}"
            if info.constraints
            else ""
        )
        self.status.value = (
            f"<span style='color:#555'>{info.n_points:,} points{within} · {info.n_front} on the "
            "Pareto fronts "
            f"(per {info.color_by}{', per facet' if info.facet_by else ''}) · hollow = predicted, "
            "★ = designed by hand · "
            f"updated in {self.last_update_seconds:.2f} s</span>"
        )
        return info

    def refresh(self) -> ExplorerInfo | None:
        """Re-read the study (new trials, e.g. one added by the model designer) and redraw."""
        self.index = self.ref.index()
        self.designed = self.index.designed()
        self.view.max_facets = self._max_facets()
        choices = (
            (self.profile, self._profile_options()),
            (self.framework, self._filter_options(self.index.frameworks())),
            (self.deployment, self._filter_options(self.index.deployments())),
        )
        with self.hold_updates():
            for control, options in choices:
                value = control.value
                control.unobserve(self._on_control, "value")
                control.options = options
                control.value = value if value in [v for _, v in options] else options[0][1]
                control.observe(self._on_control, "value")
        self.header.value = self._header()
        return self.info

    def _the_check(self, check: CheckResult | bool) -> tuple[CheckResult | None, str]:
        """The check to overlay, or the one-line reason a saved one could not be read."""
        if check is False:
            return None, ""
        if check is not True:
            return check, ""
        from workbench._errors import ConfigError
        from workbench.check import find_check

        try:
            return find_check(self.ref.name, self.ref.user_attrs()), ""
        except ConfigError as err:
            return None, str(err)

    def _check_status(self, error: str) -> str:
        if error:
            return f"<span style='color:#b00'>{html.escape(error)}</span>"
        if self.check is None:
            return ""
        return (
            f"<span style='color:#555'>check against baseline "
            f"<code>{html.escape(self.check.baseline_study)}</code>: "
            f"{html.escape(self.check.summary())} · squares = timed in the check (hollow: "
            "baseline), red ring = regression, green ring = improvement</span>"
        )

    def _profile_options(self) -> list[tuple[str, str]]:
        return [*[(p, p) for p in self.index.profiles()], ("every profile", ALL)]

    @staticmethod
    def _filter_options(values: Sequence[str]) -> list[tuple[str, str]]:
        return [("all", ALL), *[(v, v) for v in values]]

    def _header(self) -> str:
        return (
            f"<b>Pareto explorer</b> · study <code>{html.escape(self.ref.name)}</code> · "
            f"{len(self.index):,} trials"
        )

    def _max_facets(self) -> int:
        return max(
            1,
            len(self.index.deployments()),
            len(self.index.profiles()),
            len(self.index.frameworks()),
        )

    def _on_control(self, change: Any) -> None:
        if change["owner"] is self.x:
            self._log_auto = True
        if change["owner"] is self.profile and self.use_profile_budgets.value:
            self._fill_profile_budgets()
            return
        self.update()

    def _on_log(self, _change: Any) -> None:
        self._log_auto = False
        self.update()

    def _on_profile_budgets(self, change: Any) -> None:
        if change["new"]:
            self._fill_profile_budgets()

    def _fill_profile_budgets(self) -> None:
        """Fill the budget fields from what the profile states (RAM, flash, its budgets)."""
        profile = _val(self.profile.value)
        if profile is None:
            self.budget_error.value = (
                "<span style='color:#b00'>pick one profile to use its budgets</span>"
            )
            return
        try:
            budgets = profile_budgets(profile)
        except Exception as err:  # noqa: BLE001 - a profile not installed here
            budgets = []
            self.budget_error.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
        with self.hold_updates():
            for metric, field in self.budget_fields.items():
                b = next((b for b in budgets if b.metric == metric), None)
                field.value = _fmt_bound(b.bound if b else None)
                field.tooltip = f"from {b.source}" if b else "no budget stated by the profile"

    # -- clicks and selections ---------------------------------------------------------------
    def point_at(self, trace_index: int, point_index: int) -> tuple[int, str]:
        """(trial number, measurement key) of point ``point_index`` of trace ``trace_index``."""
        return self.view.point_at(trace_index, point_index)

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        if not points.point_inds:
            return
        ti, pi = points.trace_index, points.point_inds[0]
        if not self.view.indexed(ti, pi):
            return  # the highlight ring itself, or a check's point
        self.show_point(*self.point_at(ti, pi), at=(ti, pi))

    def show_point(self, trial: int, key: str, *, at: tuple[int, int] | None = None) -> None:
        """Open trial ``trial``'s measurement ``key`` in the detail pane and ring it on the plot."""
        self.detail.show(trial, key)
        self.picked = (trial, key)
        at = at or self.view.locate(trial, key)
        if at is not None:
            self.view.ring(*at)

    def _on_selection(self, trace: Any, points: Any, _selector: Any) -> None:
        self._pending_selection[points.trace_index] = list(points.point_inds)
        if (
            points.trace_index == len(self.figure.data) - 1
        ):  # plotly dispatches every trace, in order
            pending, self._pending_selection = self._pending_selection, {}
            self.set_selection(
                [
                    self.point_at(ti, pi)
                    for ti, inds in sorted(pending.items())
                    for pi in inds
                    if self.view.indexed(ti, pi)
                ]
            )

    def set_selection(self, points: Sequence[tuple[int, str]]) -> None:
        """Select (trial, key) points: they fill the table (duplicates from front traces are
        dropped)."""
        self.selection = list(dict.fromkeys((int(n), str(k)) for n, k in points))
        self.table.set_records(
            self.records(self.selection), caption=f"selection of {len(self.selection):,} points"
        )

    def pareto_points(self) -> list[tuple[int, str]]:
        """Every point on a drawn Pareto front (within the budgets), as (trial, key)."""
        return self.info.front_points() if self.info is not None else []

    def records(self, points: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
        """Table rows of ``points``: figures (display units), their source and the architecture."""
        front = set(self.pareto_points())
        out = []
        ix = self.index
        numbers = np.fromiter((int(n) for n, _ in points), dtype=np.int64, count=len(points))
        rows = np.searchsorted(ix.numbers, numbers)  # the index is ordered by trial number
        if (
            len(rows)
            and (
                (rows >= len(ix.numbers))
                | (ix.numbers[np.minimum(rows, len(ix.numbers) - 1)] != numbers)
            ).any()
        ):
            raise KeyError(f"a trial of the selection is not in study {self.ref.name!r}")
        for (n, key), r in zip(points, rows.tolist()):
            t = ix.tables[key]
            profile, framework, deployment = MeasurementKey.parse(key)
            out.append(
                {
                    "trial": n,
                    "key": key,
                    "deployment": deployment,
                    "profile": profile,
                    "framework": framework,
                    "source": "predicted" if t["predicted"][r] > 0 else "measured",
                    "accuracy": _f(t["accuracy"][r]),
                    "latency_p50_ms": _f(t["latency_p50_ms"][r]),
                    "latency_p90_ms": _f(t["latency_p90_ms"][r]),
                    "size_kib": _f(t["size_bytes"][r] * METRICS["size"].scale),
                    "memory_mib": _f(t["peak_memory_bytes"][r] * METRICS["memory"].scale),
                    "params": _i(ix.params[r]),
                    "macs": _i(ix.macs[r]),
                    "on_front": "yes" if (n, key) in front else "",
                    "designed": bool(self.designed[r]),
                    "arch": ix.arch[r],
                }
            )
        return out

    def _on_table_pick(self, change: Any) -> None:
        rec = self.table.picked()
        if rec is not None:
            self.show_point(rec["trial"], rec["key"])

    # -- exports -----------------------------------------------------------------------------
    def export_selection(
        self, folder: str | Path | None = None, *, artifacts: bool = True
    ) -> ExportResult:
        """Write the selected points as CSV (and their artifacts with a manifest) to ``folder``."""
        if not self.selection:
            raise ValueError("nothing is selected: box- or lasso-select points first")
        return export_points(
            self.ref,
            self.table.records,
            folder or self.export_folder.value,
            name="selection",
            artifacts=artifacts,
        )

    def export_pareto(
        self, folder: str | Path | None = None, *, artifacts: bool = True
    ) -> ExportResult:
        """Write the points on the drawn Pareto fronts as CSV (and their artifacts) to
        ``folder``."""
        points = self.pareto_points()
        if not points:
            raise ValueError("no Pareto front is drawn (no point meets the budgets)")
        return export_points(
            self.ref,
            self.records(points),
            folder or self.export_folder.value,
            name="pareto",
            artifacts=artifacts,
        )

    def _export_clicked(self, which: str) -> None:
        try:
            fn = self.export_selection if which == "selection" else self.export_pareto
            res = fn(artifacts=self.export_artifacts.value)
            missing = (
                f" ({len(res.missing)} without a file, reasons in the manifest)"
                if res.missing
                else ""
            )
            self.export_status.value = f"<span>{html.escape(res.summary())}{missing}</span>"
        except Exception as err:  # noqa: BLE001 - shown under the buttons
            self.export_status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"


def _f(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _i(v: Any) -> int | None:
    v = float(v)
    return int(v) if np.isfinite(v) else None
