"""ModelDesigner: build an ArchSpec by hand and see its cost, fit and speed as you edit.

Blocks are added, removed, reordered and edited with widgets; every edit re-validates the spec
(an invalid edit shows its one-line reason and keeps the last valid spec as the value) and
recomputes, from the spec alone, parameters, MACs and peak activation memory, and shows the
library's design check (:func:`workbench.study.check_design`) on each selected profile: its
recipe's predicted (or measured) latency, size, memory and, on a microcontroller, tensor arena
and flash, with a verdict for every budget a study would apply and a warning for each the
design breaks. It renders that check and computes nothing of its own. "Measure" builds the
model and measures it on this host for real; "Add to study" runs it through a study's own trial
pipeline, so it appears on the Pareto explorer beside the searched trials.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import ipywidgets as w

from workbench._errors import ConfigError
from workbench.arch import (
    ACTIVATIONS,
    ArchSpec,
    BasicBlock,
    Block,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
    block_from_dict,
    cost_summary,
)
from workbench.hw import HardwareProfile
from workbench.study import (
    LIMITS,
    BudgetVerdict,
    DesignCheck,
    DesignFigure,
    RecipeCheck,
    check_design,
)
from workbench.study._constraints import BUDGET_FIELDS
from workbench.study._design import NO_PREDICTOR
from workbench.widgets._bars import bars_html
from workbench.widgets._predict import Prediction, Predictor, resolve_predictor

if TYPE_CHECKING:
    from workbench._api import BenchmarkResult
    from workbench.report._study_figures import LayerSeries
    from workbench.study._design import ConfigLike
    from workbench.widgets._source import StudyRef
    from workbench.widgets._trial import StorageLike, StudyLike

_T = TypeVar("_T")
#: the value of one field of a block (the fields of the Block dataclasses in workbench.arch)
FieldValue: TypeAlias = "int | float | str | bool"

__all__ = ["BLOCK_DEFAULTS", "ModelDesigner"]

#: new blocks of each type start from these
BLOCK_DEFAULTS: dict[str, Block] = {
    "conv": ConvBN(16),
    "inverted_residual": InvertedResidual(24, 4, 3, 1),
    "basic": BasicBlock(32),
    "bottleneck": Bottleneck(16),
    "pool": Pool("max", 3, 2),
    "dense": Dense(64),
}
_BLOCK_LABELS = {
    "conv": "conv-BN-act",
    "inverted_residual": "inverted residual",
    "basic": "ResNet basic",
    "bottleneck": "ResNet bottleneck",
    "pool": "pool",
    "dense": "dense",
}
#: the designer's budget names (display units: ms, MiB, KiB) as a study config writes them
_BUDGET_KEYS = {"latency": "latency_ms", "memory": "memory_mb", "size": "size_kb"}


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _fig(f: DesignFigure) -> str:
    """A figure in its display unit, with how it was known."""
    value = f.display()
    if value is None:
        return "<span style='color:#666'>unknown</span>"
    unit = LIMITS[f.metric].display_unit
    return f"{value:.4g} {unit} <span style='color:#666'>({_e(f.source)})</span>"


def _latency_cell(r: RecipeCheck) -> str:
    f = r.figures.get("latency_ms")
    if f is None or f.value is None:
        why = f.note if f is not None else NO_PREDICTOR
        return f"<span style='color:#666' title='{_e(why)}'>– (no predictor)</span>"
    if f.source == "measured":
        return f"{f.value:.4g} ms measured ({_e(r.deployment)})"
    trust = ", ".join(f"{k}: {v}" for k, v in r.trust.items() if k != "basis")
    return f"<i style='color:#6a3d9a' title='{_e(f.note)}'>{f.value:.4g} ms predicted</i>" + (
        f"<br><span style='color:#666;font-size:11px'>{_e(trust)}</span>" if trust else ""
    )


def _verdict_cell(v: BudgetVerdict) -> str:
    mark = {"met": "✓", "broken": "✗", "unknown": "?"}[v.status]
    colour = {"met": "#2a7d2a", "broken": "#b00", "unknown": "#666"}[v.status]
    _, bound = v.display()
    name = LIMITS[v.metric].label
    return (
        f"<span style='color:{colour}' title='{_e(v.bound_source)}'>{mark} {_e(name)} "
        f"≤ {bound:g} {_e(v.unit)}</span>"
    )


def _verdict_line(r: RecipeCheck, v: BudgetVerdict) -> str:
    """``profile: <figure> <value> exceeds the budget <bound> (<where the bound came from>)``."""
    f = r.figures.get(v.metric)
    what = f.label if f is not None else LIMITS[v.metric].label
    if v.metric == "latency_ms" or v.value_source == "measured":
        what += f" ({v.deployment})"
    if f is not None and f.note and v.value_source == "predicted" and v.metric != "latency_ms":
        what += f" ({f.note.removeprefix('predicted: ')})"
    value, bound = v.display()
    if value is None:
        return f"{v.profile}: {what} unknown; the budget is {bound:g} {v.unit} ({v.bound_source})"
    return (
        f"{v.profile}: {what} {value:.4g} {v.unit} exceeds the budget {bound:g} {v.unit} "
        f"({v.bound_source})"
    )


def _designer_budgets(
    budgets: Mapping[str, Mapping[str, float]] | None,
) -> dict[str, dict[str, float]]:
    """The designer's ``{profile: {latency, memory, size}}`` in a study config's keys."""
    out: dict[str, dict[str, float]] = {}
    for profile, given in (budgets or {}).items():
        keys = {}
        for name, bound in given.items():
            if name == "accuracy":
                continue  # accuracy needs training: "Add to study" measures it
            key = _BUDGET_KEYS.get(name, name)
            if key not in BUDGET_FIELDS:
                known = ", ".join([*_BUDGET_KEYS, *BUDGET_FIELDS])
                raise ConfigError(f"budgets[{profile!r}]: unknown budget {name!r}; known: {known}")
            keys[key] = float(bound)
        out[str(profile)] = keys
    return out


def _mib(n: float) -> str:
    return f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n / 1024:.3g} KiB"


def _close_tree(widget: w.Widget) -> None:
    """Close a widget, its children, and their layout and style models (ipywidgets leaves those
    open)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if isinstance(sub, w.Widget):
            sub.close()
    widget.close()


def _field_widget(block: Block, name: str, value: FieldValue) -> w.Widget:
    lay = w.Layout(width="auto")
    style = {"description_width": "initial"}
    if name == "activation":
        return w.Dropdown(
            options=list(ACTIVATIONS), value=value, description=name, layout=lay, style=style
        )
    if name == "kind":
        return w.Dropdown(
            options=["max", "avg"], value=value, description=name, layout=lay, style=style
        )
    if isinstance(value, bool):
        return w.Checkbox(value=value, description=name, indent=False, layout=lay)
    if isinstance(value, float):
        return w.BoundedFloatText(
            value=value,
            min=0.0,
            max=0.95,
            step=0.05,
            description=name,
            layout=w.Layout(width="130px"),
            style=style,
        )
    lo = 0 if name == "groups" else 1
    tip = "0 = depthwise" if name == "groups" else ""
    return w.BoundedIntText(
        value=value,
        min=lo,
        max=65536,
        description=name,
        layout=w.Layout(
            width="150px" if name in ("out_channels", "units", "width", "expansion") else "110px"
        ),
        style=style,
        tooltip=tip,
    )


class ModelDesigner(w.VBox):
    """Design an architecture by hand; ``.value`` is the current :class:`~workbench.arch.ArchSpec`.

    Start from ``spec``, or an empty network for ``input_shape``/``num_classes`` (default:
    digits, 1x8x8, 10 classes; with ``study`` the study's data decides). ``profiles`` are the
    hardware profiles to check (default: every installed one); ``budgets`` adds bounds per
    profile in display units, e.g. ``{"host-cpu": {"latency": 1.0, "memory": 64}}`` (ms, MiB;
    ``size`` in KiB; or a study config's keys such as ``latency_ms``) to the profile's own
    limits. ``predictor``: ``"default"`` (the study's prediction), a callable
    ``(spec, profile, backend, precision) -> Prediction``, or None.
    ``study`` (+ ``storage``, ``config``) is where "Add to study" puts the design.
    """

    def __init__(
        self,
        spec: ArchSpec | None = None,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        profiles: Sequence[str] | None = None,
        budgets: Mapping[str, Mapping[str, float]] | None = None,
        study: StudyLike | None = None,
        storage: StorageLike = None,
        config: ConfigLike = None,
        predictor: Predictor | str | None = "default",
        name: str = "designed",
    ) -> None:
        from workbench.hw import list_profiles

        self._quiet = False
        self.predictor = resolve_predictor(predictor)
        self.study = study
        self.storage = storage
        self.config = config
        self._ref: StudyRef | None = None
        if study is not None:
            from workbench.widgets._source import resolve_study

            self._ref = resolve_study(study, storage)
        if spec is None:
            shape, classes = self._task(input_shape, num_classes)
            spec = ArchSpec(
                shape,
                classes,
                (ConvBN(16), InvertedResidual(24, 4, 3, 2), InvertedResidual(32, 4, 3, 2)),
                name=name,
            )
        if not isinstance(spec, ArchSpec):
            raise ConfigError(f"spec must be an ArchSpec, got {type(spec).__name__}")
        self._blocks: list[dict[str, Any]] = [b.to_dict() for b in spec.blocks]
        self._spec = spec
        self.error: str | None = None
        self._profiles = {p.name: p for p in list_profiles()}
        chosen = list(profiles) if profiles is not None else list(self._profiles)
        unknown = [p for p in chosen if p not in self._profiles]
        if unknown:
            raise ConfigError(
                f"unknown hardware profile {unknown[0]!r}; known: {', '.join(self._profiles)}"
            )
        self._extra_budgets = _designer_budgets(budgets)
        self._check = DesignCheck(spec)
        self.measurement: dict[str, Any] | None = None  # the last "Measure": result, spec, ...
        self.added_trial: int | None = None

        self.name = w.Text(
            value=spec.name or name, description="name", layout=w.Layout(width="200px")
        )
        self.input_shape = w.Text(
            value=",".join(map(str, spec.input_shape)),
            description="input",
            layout=w.Layout(width="170px"),
            continuous_update=False,
            tooltip="C,H,W or features",
        )
        self.num_classes = w.BoundedIntText(
            value=spec.num_classes,
            min=2,
            max=100000,
            description="classes",
            layout=w.Layout(width="150px"),
        )
        self.head_dropout = w.BoundedFloatText(
            value=spec.head_dropout,
            min=0.0,
            max=0.95,
            step=0.05,
            description="head dropout",
            layout=w.Layout(width="170px"),
            style={"description_width": "initial"},
        )
        for ctl in (self.name, self.input_shape, self.num_classes, self.head_dropout):
            ctl.observe(lambda _c: self._rebuild_spec(), "value")
        self.blocks_box = w.VBox()
        self.new_type = w.Dropdown(
            options=[(label, t) for t, label in _BLOCK_LABELS.items()],
            value="inverted_residual",
            layout=w.Layout(width="190px"),
        )
        self.add_button = w.Button(
            description="Add block", icon="plus", layout=w.Layout(width="auto")
        )
        self.add_button.on_click(lambda _b: self.add_block(self.new_type.value))
        self.profile_select = w.SelectMultiple(
            options=list(self._profiles),
            value=tuple(chosen),
            description="profiles",
            rows=min(6, max(2, len(self._profiles))),
            layout=w.Layout(width="260px"),
        )
        self.profile_select.observe(lambda _c: self._refresh_stats(), "value")
        self.error_html = w.HTML()
        self.stats_html = w.HTML()
        self.profiles_html = w.HTML()
        self.bars = w.HTML()
        self.series: LayerSeries | None = None  # the series drawn
        self.measure_button = w.Button(
            description="Measure on this host",
            icon="stopwatch",
            layout=w.Layout(width="auto"),
            tooltip="build the model and measure latency, size and memory here (untrained weights)",
        )
        self.measure_button.on_click(lambda _b: self.measure(_raise=False))
        self.add_study_button = w.Button(
            description="Add to study",
            icon="plus-square",
            layout=w.Layout(width="auto"),
            disabled=self._ref is None,
            tooltip="train, deploy and measure it as a trial of the study"
            if self._ref
            else "pass study= to enable",
        )
        self.add_study_button.on_click(lambda _b: self.add_to_study(_raise=False))
        self.job_status = w.HTML()
        self.measure_html = w.HTML()
        left = w.VBox(
            [
                w.HBox(
                    [self.name, self.input_shape, self.num_classes, self.head_dropout],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HTML(
                    "<b>blocks</b> <span style='color:#666'>"
                    "(in order; the classifier head follows)</span>"
                ),
                self.blocks_box,
                w.HBox([self.new_type, self.add_button]),
                self.error_html,
            ],
            layout=w.Layout(flex="1 1 55%", min_width="460px"),
        )
        right = w.VBox(
            [self.stats_html, self.profile_select, self.profiles_html, self.bars],
            layout=w.Layout(flex="1 1 45%", min_width="560px"),
        )
        super().__init__(
            [
                w.HTML(
                    "<b>Model designer</b> · edit blocks; "
                    "cost, fit and predicted speed update as you type"
                ),
                w.HBox([left, right], layout=w.Layout(width="100%", align_items="flex-start")),
                w.HBox([self.measure_button, self.add_study_button]),
                self.job_status,
                self.measure_html,
            ]
        )
        self.add_class("wb-designer")
        self._render_blocks()
        self._rebuild_spec()

    # -- value -------------------------------------------------------------------------------
    @property
    def value(self) -> ArchSpec:
        """The current (last valid) architecture."""
        return self._spec

    @value.setter
    def value(self, spec: ArchSpec) -> None:
        if not isinstance(spec, ArchSpec):
            raise ConfigError(f"value must be an ArchSpec, got {type(spec).__name__}")
        self._blocks = [b.to_dict() for b in spec.blocks]
        self._set_header(spec)
        self._render_blocks()
        self._rebuild_spec()

    spec = value

    def _set_header(self, spec: ArchSpec) -> None:
        self._quiet = True
        try:
            self.name.value = spec.name or self.name.value
            self.input_shape.value = ",".join(map(str, spec.input_shape))
            self.num_classes.value = spec.num_classes
            self.head_dropout.value = spec.head_dropout
        finally:
            self._quiet = False

    def _task(
        self, input_shape: Sequence[int] | None, num_classes: int | None
    ) -> tuple[tuple[int, ...], int]:
        if input_shape is not None and num_classes is not None:
            return tuple(int(d) for d in input_shape), int(num_classes)
        if self._ref is not None:
            from workbench.data import load_data
            from workbench.study import study_config

            data = load_data(study_config(self._ref.load(), self.config).data)
            return tuple(input_shape or data.input_shape), int(num_classes or data.num_classes)
        return tuple(input_shape or (1, 8, 8)), int(num_classes or 10)

    # -- editing -----------------------------------------------------------------------------
    def add_block(self, block: Block | str, index: int | None = None) -> None:
        """Insert a block (or a new one of a type name such as ``"conv"``) at ``index``
        (default: the end)."""
        if isinstance(block, str):
            if block not in BLOCK_DEFAULTS:
                raise ConfigError(
                    f"unknown block type {block!r}; expected one of: {', '.join(BLOCK_DEFAULTS)}"
                )
            block = BLOCK_DEFAULTS[block]
        if not isinstance(block, Block):
            raise ConfigError(f"expected a Block or a block type name, got {type(block).__name__}")
        data = block.to_dict()
        if block.spatial and isinstance(block, Block) and index is None:
            # a spatial block cannot follow a dense one: put it before the first dense block
            dense = [i for i, b in enumerate(self._blocks) if b["type"] == "dense"]
            index = dense[0] if dense else None
        self._blocks.insert(len(self._blocks) if index is None else index, data)
        self._render_blocks()
        self._rebuild_spec()

    def remove_block(self, index: int) -> None:
        self._check_index(index)
        del self._blocks[index]
        self._render_blocks()
        self._rebuild_spec()

    def move_block(self, index: int, offset: int) -> None:
        """Move block ``index`` by ``offset`` places (-1: up, 1: down)."""
        self._check_index(index)
        j = max(0, min(len(self._blocks) - 1, index + offset))
        self._blocks.insert(j, self._blocks.pop(index))
        self._render_blocks()
        self._rebuild_spec()

    def set_block(self, index: int, **changes: FieldValue) -> None:
        """Change fields of block ``index`` (``set_block(1, out_channels=48, stride=2)``)."""
        self._check_index(index)
        names = {f for f in self._blocks[index] if f != "type"}
        unknown = set(changes) - names
        if unknown:
            raise ConfigError(
                f"block {index} ({self._blocks[index]['type']}) has no field "
                f"{sorted(unknown)[0]!r}; fields: {', '.join(sorted(names))}"
            )
        self._blocks[index].update(changes)
        self._render_blocks()
        self._rebuild_spec()

    def _check_index(self, index: int) -> None:
        if not isinstance(index, int) or not 0 <= index < len(self._blocks):
            raise IndexError(
                f"block index {index!r} out of range (the design has {len(self._blocks)} blocks)"
            )

    def _render_blocks(self) -> None:
        old = self.blocks_box.children
        rows = []
        for i, data in enumerate(self._blocks):
            cls_block = BLOCK_DEFAULTS[data["type"]]
            controls = []
            for f in fields(cls_block):
                ctl = _field_widget(cls_block, f.name, data.get(f.name, getattr(cls_block, f.name)))
                ctl.observe(
                    lambda c, i=i, name=f.name: self._field_changed(i, name, c["new"]), "value"
                )
                controls.append(ctl)
            up = w.Button(
                icon="arrow-up", tooltip="move up", layout=w.Layout(width="34px"), disabled=i == 0
            )
            down = w.Button(
                icon="arrow-down",
                tooltip="move down",
                layout=w.Layout(width="34px"),
                disabled=i == len(self._blocks) - 1,
            )
            rm = w.Button(
                icon="trash", tooltip="remove", layout=w.Layout(width="34px"), button_style="danger"
            )
            up.on_click(lambda _b, i=i: self.move_block(i, -1))
            down.on_click(lambda _b, i=i: self.move_block(i, 1))
            rm.on_click(lambda _b, i=i: self.remove_block(i))
            label = w.HTML(
                f"<b>{i}</b> {_e(_BLOCK_LABELS[data['type']])}", layout=w.Layout(width="150px")
            )
            row = w.HBox(
                [label, *controls, up, down, rm],
                layout=w.Layout(
                    flex_flow="row wrap", align_items="center", border_bottom="1px solid #eee"
                ),
            )
            row.add_class("wb-block-row")
            rows.append(row)
        self.blocks_box.children = rows
        for row in old:
            _close_tree(row)

    def _field_changed(self, index: int, name: str, value: FieldValue) -> None:
        if index < len(self._blocks):
            self._blocks[index][name] = value
            self._rebuild_spec()

    def _rebuild_spec(self) -> None:
        if self._quiet:
            return
        try:
            shape = tuple(
                int(p) for p in self.input_shape.value.replace("x", ",").split(",") if p.strip()
            )
        except ValueError:
            self._invalid(
                f"input: expected integers like 1,8,8 or 64, got {self.input_shape.value!r}"
            )
            return
        try:
            blocks = tuple(
                block_from_dict(b, where=f"blocks[{i}]") for i, b in enumerate(self._blocks)
            )
            spec = ArchSpec(
                shape,
                int(self.num_classes.value),
                blocks,
                float(self.head_dropout.value),
                name=self.name.value.strip(),
            )
        except ConfigError as err:
            self._invalid(str(err))
            return
        self.error = None
        self.error_html.value = ""
        self._spec = spec
        self._refresh_stats()

    def _invalid(self, message: str) -> None:
        self.error = message
        self.error_html.value = (
            f"<span style='color:#b00'>⚠ {_e(message)}</span> "
            "<span style='color:#666'>(the value stays the last valid design)</span>"
        )

    # -- live figures ------------------------------------------------------------------------
    def profiles(self) -> list[HardwareProfile]:
        return [self._profiles[n] for n in self.profile_select.value]

    def check(self) -> DesignCheck:
        """The library's design check of the current spec on the selected profiles: the figures
        of each recipe and a verdict per budget (the study's rules, the designer's budgets)."""
        measured = self.measurement if self._measurement_current() else None
        return check_design(
            self._spec,
            self.profiles(),
            budgets=self._extra_budgets,
            predictor=self.predictor,
            measurements=measured["result"].measurements if measured else (),
            budget_source="given to the designer",
        )

    def predictions(self) -> dict[str, Prediction | str]:
        """Per selected profile: the predicted latency of its recipe, or why there is none."""
        out: dict[str, Prediction | str] = {}
        for r in self._check.recipes:
            lat = r.figures.get("latency_ms")
            out[r.profile] = r.prediction or (lat.note if lat else NO_PREDICTOR)
        return out

    def warnings(self) -> list[str]:
        """Every budget the current design breaks, one line each, naming the source of both
        numbers."""
        return [_verdict_line(self._check[v.profile], v) for v in self._check.broken()]

    def _measurement_current(self) -> bool:
        return self.measurement is not None and self.measurement.get("spec_hash") == self._spec.hash

    def _measured_p50(self) -> tuple[str, float] | None:
        if self.measurement is None or not self._measurement_current():
            return None
        best = self.measurement.get("fastest")
        return best if best else None

    def _refresh_stats(self) -> None:
        spec = self._spec
        cost = cost_summary(spec)
        # everything is computed before any widget changes, so the front end receives the new
        # figures together rather than the spec's first and the checks' a moment later
        self._check = self.check()
        self.stats_html.value = (
            f"<div><b>{_e(spec.summary())}</b></div><table style='font-size:12px'>"
            f"<tr><td>parameters</td><td style='text-align:right'><b>{cost.params:,}</b></td></tr>"
            f"<tr><td>MACs</td><td style='text-align:right'><b>{cost.macs:,}</b></td></tr>"
            "<tr><td>peak activation memory (fp32, batch 1)</td>"
            f"<td style='text-align:right'><b>{_mib(cost.peak_activation_bytes)}</b></td></tr>"
            "<tr><td>weights fp32 / int8</td><td style='text-align:right'>"
            f"{_mib(cost.weight_bytes)} / {_mib(cost.params)}</td></tr>"
            f"<tr><td>layers</td><td style='text-align:right'>{cost.layers}</td></tr></table>"
            "<div style='color:#666;font-size:11px'>computed from the spec</div>"
        )
        measured = self._measured_p50()
        rows = []
        for r in self._check.recipes:
            lat = _latency_cell(r)
            if r.kind == "measured" and measured is not None:
                lat += f"<br>{measured[1]:.4g} ms measured here ({_e(measured[0])})"
            footprint = "<br>".join(
                f"<span title='{_e(f.note)}'>{_e(LIMITS[m].label)} {_fig(f)}</span>"
                for m, f in r.figures.items()
                if m != "latency_ms"
            )
            budgets = "<br>".join(_verdict_cell(v) for v in r.verdicts) or "none stated"
            rows.append(
                f"<tr><td><b>{_e(r.profile)}</b><br><span style='color:#666'>{_e(r.kind)}, "
                f"{_e(r.deployment)}</span></td><td>{lat}</td><td>{footprint}</td>"
                f"<td>{budgets}</td></tr>"
            )
        broken = self.warnings()
        warn_html = "".join(f"<div style='color:#b00'>⚠ {_e(x)}</div>" for x in broken)
        unknown = [v for v in self._check.verdicts() if v.status == "unknown"]
        warn_html += "".join(
            f"<div style='color:#666'>? {_e(_verdict_line(self._check[v.profile], v))}</div>"
            for v in unknown
        )
        if not broken and not unknown and self._check.recipes:
            warn_html = "<div style='color:#2a7d2a'>✓ within every stated budget</div>"
        self.profiles_html.value = (
            "<table style='font-size:12px;border-collapse:collapse'><tr>"
            "<th style='text-align:left'>profile</th><th style='text-align:left'>latency</th>"
            "<th style='text-align:left'>memory, size</th>"
            "<th style='text-align:left'>budgets</th></tr>" + "".join(rows) + f"</table>{warn_html}"
        )
        self._draw_bars([r.prediction for r in self._check.recipes if r.prediction is not None])
        self.measure_html.value = self._measurement_html()

    def _draw_bars(self, preds: Sequence[Prediction]) -> None:
        from workbench.report import layer_breakdown_info

        first = preds[0] if preds else None
        info = layer_breakdown_info(
            self._spec, metric="macs", predicted=first.breakdown() if first is not None else None
        )
        self.series = info.series[-1]
        self.bars.value = bars_html(self.series)

    # -- actions -----------------------------------------------------------------------------
    def _run_job(self, target: Callable[[], _T], *, raise_errors: bool) -> _T | None:
        """Run an action in the calling thread (the kernel's), buttons disabled meanwhile.

        Not in a background thread on purpose: a thread of its own gets its own OpenMP pool
        beside the kernel's idle one, which slowed eager PyTorch timings on a two-core host.
        """
        self.measure_button.disabled = True
        self.add_study_button.disabled = True
        try:
            return target()
        except Exception as err:
            self.job_status.value = (
                f"<span style='color:#b00'>{_e(type(err).__name__)}: {_e(err)}</span>"
            )
            if raise_errors:
                raise
            return None
        finally:
            self.measure_button.disabled = False
            self.add_study_button.disabled = self._ref is None

    def measure(
        self,
        *,
        deployments: Sequence[str] = ("torch-fp32", "onnxruntime-fp32", "onnxruntime-int8-dynamic"),
        measure: Mapping[str, Any] | None = None,
        memory: bool = False,
        _raise: bool = True,
    ) -> BenchmarkResult | None:
        """Build the design (untrained weights) and measure each deployment on this host for real.

        Latency, size and memory do not depend on the weights; accuracy does, so it is not
        reported here ("Add to study" trains and measures it). Returns the BenchmarkResult.
        """
        spec = self._spec
        settings = {
            "warmup": 5,
            "warmup_s": 0.05,
            "min_repeats": 20,
            "max_repeats": 2000,
            "min_time_s": 0.2,
            "max_time_s": 1.0,
            **(measure or {}),
        }

        def job() -> BenchmarkResult:
            import workbench
            from workbench.arch import build_torch

            self.job_status.value = f"<span>measuring {_e(spec.summary())} on this host…</span>"
            model = build_torch(spec, seed=0).eval()
            out = Path(tempfile.mkdtemp(prefix="wb-designer-"))
            res = workbench.benchmark(
                model,
                input_shape=spec.input_shape,
                data=None,
                deployments=list(deployments),
                profile="host-cpu",
                out=out,
                name=spec.name or "designed",
                measure=settings,
                memory=memory,
                report=False,
            )
            ok = [m for m in res.measurements if m.ok and m.latency is not None]
            fastest = min(ok, key=lambda m: m.latency.p50_ms) if ok else None
            self.measurement = {
                "spec_hash": spec.hash,
                "spec": spec,
                "result": res,
                "fastest": (fastest.deployment, fastest.latency.p50_ms) if fastest else None,
            }
            self.job_status.value = "<span>measured on this host (see below)</span>"
            self._refresh_stats()
            return res

        return self._run_job(job, raise_errors=_raise)

    def _measurement_html(self) -> str:
        if self.measurement is None:
            return ""
        res, spec = self.measurement["result"], self.measurement["spec"]
        stale = (
            ""
            if spec.hash == self._spec.hash
            else " <span style='color:#b00'>"
            "(an earlier version of the design: measure again)</span>"
        )
        return (
            f"<div style='color:#666'>{_e(spec.summary())}{stale}</div>"
            + self._measurement_table(res)
        )

    @staticmethod
    def _measurement_table(res: BenchmarkResult) -> str:
        rows = []
        right = "<td style='text-align:right'>"
        for m in res.measurements:
            if not m.ok:
                rows.append(
                    f"<tr><td>{_e(m.deployment)}</td><td colspan=5 style='color:#b00'>"
                    f"failed at {_e(m.stage)}: {_e(m.error)}</td></tr>"
                )
                continue
            lat = m.latency
            assert lat is not None  # an ok measurement has its latency
            rows.append(
                f"<tr><td>{_e(m.deployment)}</td>{right}{lat.p50_ms:.4g}</td>"
                f"{right}{lat.p90_ms:.4g}</td>{right}{lat.n}</td>"
                f"{right}{_mib(m.size_bytes or 0)}</td>"
                f"{right}{_mib(m.peak_memory_bytes) if m.peak_memory_bytes else '–'}</td></tr>"
            )
        host = (
            res.measurements[0].receipt.get("host", {}).get("cpu_model", "")
            if res.measurements
            else ""
        )
        notes = "".join(f"<div style='color:#666;font-size:11px'>{_e(n)}</div>" for n in res.notes)
        return (
            "<div><b>measured on this host</b> <span style='color:#666'>"
            f"({_e(host)}; untrained weights, batch 1, interleaved timing with warm-up)"
            "</span></div>"
            "<table style='font-size:12px'><tr><th>deployment</th><th>p50 ms</th>"
            "<th>p90 ms</th><th>n</th><th>size</th><th>peak mem</th></tr>"
            f"{''.join(rows)}</table>{notes}"
        )

    def add_to_study(self, *, measure_memory: bool = True, _raise: bool = True) -> int | None:
        """Train, deploy and measure the design as a new trial of the study (its own pipeline and
        settings); returns the trial number. It then shows on a ParetoExplorer of the study."""
        if self._ref is None:
            raise ConfigError(
                "no study to add to: create the designer with study=... (and storage=...)"
            )
        if self.error is not None:
            raise ConfigError(f"the design is not valid: {self.error}")
        spec, ref = self._spec, self._ref
        from workbench.study import add_designed_trial

        def job() -> int:
            self.job_status.value = (
                f"<span>adding {_e(spec.summary())} to study <code>{_e(ref.name)}</code>…</span>"
            )

            def stage(text: str) -> None:
                self.job_status.value = (
                    f"<span>adding to study <code>{_e(ref.name)}</code>: {_e(text)}</span>"
                )

            number = add_designed_trial(
                spec,
                ref.load(),
                config=self.config,
                on_stage=stage,
                measure_memory=measure_memory,
            )
            self.added_trial = number
            t = ref.trial(number)
            key = t.user_attrs.get("objective_deployment")
            m = t.measurement(key) if key else None
            figures = (
                f"accuracy {m.accuracy:.4f}, p50 {m.latency.p50_ms:.4g} ms ({m.source}) on {key}"
                if m is not None and m.latency is not None and m.accuracy is not None
                else ""
            )
            self.job_status.value = (
                f"<span>added as trial <b>{number}</b> of <code>{_e(ref.name)}</code>: "
                f"{_e(figures)}. "
                "Refresh a ParetoExplorer of the study to see it (★).</span>"
            )
            return number

        return self._run_job(job, raise_errors=_raise)
