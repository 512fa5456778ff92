"""The detail pane of one point: its ArchSpec as a table, a per-layer breakdown, the measurement
receipt, and an export of its artifact. Every number names its source."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from workbench._errors import WorkbenchError
from workbench.widgets._bars import bars_html
from workbench.widgets._predict import Predictor, predict
from workbench.widgets._source import StudyRef, TrialDetail

__all__ = ["DetailPane", "receipt_html", "spec_table_html"]

_STYLE = """<style>
.wb-detail table{border-collapse:collapse;font-size:12px;margin:2px 0 6px}
.wb-detail td,.wb-detail th{padding:2px 6px;border-top:1px solid #eee;text-align:left;
vertical-align:top}
.wb-detail th{background:#f4f4f4}
.wb-detail td.num{text-align:right;font-variant-numeric:tabular-nums}
.wb-detail .src{color:#666;font-size:11px}
.wb-detail .pred{color:#6a3d9a;font-style:italic}
.wb-detail .warn{color:#b00}
.wb-detail h4{margin:6px 0 2px;font-size:13px}
</style>"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _num(v: Any, fmt: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return format(v, fmt)


def _bytes(n: Any) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)


def spec_table_html(spec: Any) -> str:
    """The blocks of an ArchSpec as an HTML table: settings, output shape, params and MACs
    (from the spec)."""
    from dataclasses import fields

    from workbench.arch import layer_costs

    layers = layer_costs(spec)
    shapes = spec.shapes()
    rows = []
    for i, block in enumerate(spec.blocks):
        prefix = f"blocks.{i}."
        mine = [la for la in layers if la.name.startswith(prefix)]
        settings = " ".join(f"{f.name}={getattr(block, f.name)}" for f in fields(block))
        rows.append(
            f"<tr><td class='num'>{i}</td><td>{_e(block.type)}</td><td>{_e(settings)}</td>"
            f"<td>{'×'.join(map(str, shapes[i + 1]))}</td>"
            f"<td class='num'>{sum(la.params for la in mine):,}</td>"
            f"<td class='num'>{sum(la.macs for la in mine):,}</td></tr>"
        )
    head = [la for la in layers if la.name.startswith("head.")]
    rows.append(
        f"<tr><td></td><td>head</td><td>{_e(' + '.join(la.op for la in head))} → "
        f"{spec.num_classes} classes</td><td>{spec.num_classes}</td>"
        f"<td class='num'>{sum(la.params for la in head):,}</td>"
        f"<td class='num'>{sum(la.macs for la in head):,}</td></tr>"
    )
    total_p, total_m = sum(la.params for la in layers), sum(la.macs for la in layers)
    return (
        f"<div class='src'>{_e(spec.summary())} · input {'×'.join(map(str, spec.input_shape))} · "
        f"hash {spec.hash} · "
        "counts computed from the spec</div><table><tr><th>#</th><th>block</th><th>settings</th>"
        "<th>output</th>"
        f"<th>params</th><th>MACs</th></tr>{''.join(rows)}<tr><th></th><th>total</th><th></th><th></th>"
        f"<th class='num'>{total_p:,}</th><th class='num'>{total_m:,}</th></tr></table>"
    )


def _kv(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    )


def receipt_html(trial: TrialDetail, key: str) -> str:
    """The figures of one measurement with their source and spread, and its receipt."""
    m = trial.measurement(key)
    if m is None:
        return f"<p>trial {trial.number} has no measurement {_e(key)}</p>"
    src = "<span class='pred'>predicted</span>" if m.source == "predicted" else "measured"
    lat = m.latency
    figures: list[tuple[str, Any]] = [
        ("status", _e(m.status) + (f" at {_e(m.stage)}: {_e(m.error)}" if not m.ok else ""))
    ]
    figures.append(
        (
            "accuracy",
            f"{_num(m.accuracy, '.4f')} <span class='src'>this artifact's own, on the test split "
            f"(float model: {_num(trial.user_attrs.get('float_accuracy'), '.4f')})</span>",
        )
    )
    if lat is not None:
        figures.append(
            (
                "latency",
                f"p50 {lat.p50_ms:.4g} ms · p90 {lat.p90_ms:.4g} · p99 {lat.p99_ms:.4g} · mean "
                f"{lat.mean_ms:.4g} "
                f"± {lat.std_ms:.3g} (cv {lat.cv:.2f}, n={lat.n}) · median 95% CI "
                f"[{_num(getattr(lat, 'ci95_low_ms', None))}, "
                f"{_num(getattr(lat, 'ci95_high_ms', None))}] <span class='src'>{src}</span>",
            )
        )
    figures.append(
        (
            "size on disk",
            f"{_bytes(m.size_bytes)} "
            f"<span class='src'>{src if m.source == 'predicted' else 'the artifact file'}</span>",
        )
    )
    figures.append(
        (
            "peak memory",
            f"{_bytes(m.peak_memory_bytes)} "
            f"<span class='src'>{src}{'; ' + _e(m.memory_note) if m.memory_note else ''}</span>",
        )
    )
    scheme = (m.meta.get("int8_scheme") or {}).get("label")
    if scheme:
        figures.append(("int8 scheme", _e(scheme)))
    if m.meta.get("compile_s") is not None:
        figures.append(("compile time", f"{m.meta['compile_s']:.3g} s"))
    r = m.receipt or {}
    host = r.get("host") or {}
    rec: list[tuple[str, Any]] = []
    if r.get("note"):
        rec.append(("note", _e(r["note"])))
    for label, value in (
        ("measured at", r.get("measured_at")),
        ("CPU", host.get("cpu_model")),
        ("ISA", host.get("isa")),
        (
            "cores / CPUs",
            f"{host.get('physical_cores')} / {host.get('available_cpus')}" if host else None,
        ),
        ("OS / Python", f"{host.get('os')} / {host.get('python')}" if host else None),
        ("backend", f"{r.get('backend')} {r.get('backend_version')}" if r.get("backend") else None),
        ("precision", r.get("precision")),
        ("threads", ", ".join(f"{k} {v}" for k, v in (r.get("threads") or {}).items()) or None),
        ("input shape", "×".join(map(str, r.get("input_shape") or [])) or None),
        (
            "warm-up / repeats",
            f"{r.get('warmup')} / {r.get('repeats')}" if r.get("repeats") is not None else None,
        ),
        ("interleaved with", ", ".join(r.get("interleaved_with") or []) or None),
        ("latency method", r.get("latency_method")),
        ("memory method", r.get("memory_method")),
        ("accuracy split", r.get("accuracy_split")),
        ("versions", ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items()) or None),
        ("artifact", m.meta.get("artifact_id")),
    ):
        if value not in (None, ""):
            rec.append((label, _e(value)))
    train = trial.user_attrs.get("train") or {}
    trial_rows: list[tuple[str, Any]] = [("state", _e(trial.state))]
    if trial.designed:
        trial_rows.append(
            ("origin", "designed by hand (model designer), measured by the study's own pipeline")
        )
    if train:
        trial_rows.append(
            (
                "training",
                _e(
                    f"{train.get('epochs')} epochs in {_num(train.get('seconds'), '.3g')} s, "
                    f"val accuracy {_num(train.get('val_accuracy'), '.4f')}"
                ),
            )
        )
    if trial.user_attrs.get("objective_deployment"):
        trial_rows.append(("objective from", _e(trial.user_attrs["objective_deployment"])))
    if trial.user_attrs.get("failure"):
        f = trial.user_attrs["failure"]
        trial_rows.append(
            ("failure", f"<span class='warn'>{_e(f.get('stage'))}: {_e(f.get('reason'))}</span>")
        )
    return (
        f"<h4>{_e(key)}</h4>{_kv(figures)}"
        f"<h4>receipt</h4>{_kv(rec) if rec else '<p>no receipt stored</p>'}"
        f"<h4>trial</h4>{_kv(trial_rows)}"
    )


class DetailPane(w.VBox):
    """Shows one (trial, measurement key) of a study; empty until :meth:`show` is called."""

    def __init__(
        self,
        ref: StudyRef,
        *,
        predictor: Predictor | None = None,
        export_dir: str | Path | None = None,
        auto_profile: bool = False,
    ) -> None:
        self.ref = ref
        self.predictor = predictor
        self.auto_profile = auto_profile
        self.trial: TrialDetail | None = None
        self.key: str | None = None
        self.spec: Any = None
        self.operator_profile: Any = None
        self.prediction: Any = None
        self.header = w.HTML(
            "<i>Click a point to see its architecture, per-layer breakdown and receipt.</i>"
        )
        self.spec_html = w.HTML()
        self.receipt_html = w.HTML()
        self.source = w.ToggleButtons(
            options=[
                ("MACs (spec)", "macs"),
                ("params (spec)", "params"),
                ("activations (spec)", "activation"),
            ],
            value="macs",
            style={"button_width": "auto"},
            layout=w.Layout(width="auto"),
        )
        self._quiet = False
        self.source.observe(lambda _c: None if self._quiet else self._draw_breakdown(), "value")
        self.profile_button = w.Button(
            description="Measure per-operator time",
            icon="stopwatch",
            disabled=True,
            tooltip="Run ONNX Runtime's profiler on this artifact on this host",
            layout=w.Layout(width="auto"),
        )
        self.profile_button.on_click(lambda _b: self._profile_clicked())
        self.breakdown_note = w.HTML()
        self.bars = w.HTML()
        self.series: Any = None  # the LayerSeries drawn
        folder = Path(export_dir) if export_dir is not None else Path("exports") / ref.name
        self.export_folder = w.Text(
            value=str(folder), description="folder", layout=w.Layout(width="60%")
        )
        self.export_button = w.Button(
            description="Export artifact",
            icon="download",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self.export_button.on_click(lambda _b: self._export_clicked())
        self.export_status = w.HTML()
        per_layer = w.VBox(
            [w.HBox([self.source, self.profile_button]), self.breakdown_note, self.bars]
        )
        self.tabs = w.Tab(children=[per_layer, self.spec_html, self.receipt_html])
        for i, title in enumerate(("Per-layer", "Architecture", "Receipt")):
            self.tabs.set_title(i, title)
        super().__init__(
            [
                w.HTML(_STYLE),
                self.header,
                w.HBox([self.export_folder, self.export_button]),
                self.export_status,
                self.tabs,
            ],
            layout=w.Layout(min_width="500px", flex="1 1 40%"),
        )
        self.add_class("wb-detail")

    # -- showing a point ----------------------------------------------------------------------
    def show(self, number: int, key: str) -> None:
        """Load trial ``number``'s full record and show its measurement ``key``."""
        self.trial = self.ref.trial(number)
        self.key = key
        self.spec = self.trial.spec
        self.operator_profile = None
        self.prediction = None
        m = self.trial.measurement(key)
        src = m.source if m else "?"
        arch = self.trial.user_attrs.get("arch", "")
        designed = " · <b>designed by hand</b>" if self.trial.designed else ""
        self.header.value = (
            f"<h3 style='margin:2px 0'>trial {number} · {_e(key)}</h3>"
            f"<div>{_e(arch)}{designed}</div>"
            "<div class='src'>figures "
            f"{('<span class=pred>predicted</span>' if src == 'predicted' else src)}; "
            f"architecture counts from the spec</div>"
        )
        self.spec_html.value = (
            spec_table_html(self.spec)
            if self.spec is not None
            else "<p>no spec stored for this trial</p>"
        )
        self.receipt_html.value = receipt_html(self.trial, key)
        self._set_breakdown_options()
        has_artifact = bool(m and m.meta.get("artifact_id"))
        self.export_button.disabled = not has_artifact
        self.profile_button.disabled = not (
            has_artifact and m is not None and m.backend == "onnxruntime"
        )
        self.profile_button.tooltip = (
            "Run ONNX Runtime's profiler on this artifact on this host"
            if not self.profile_button.disabled
            else "per-operator timing needs a stored ONNX Runtime artifact"
        )
        self.export_status.value = (
            "" if has_artifact else f"<span class='src'>{_e(self._no_artifact_reason(m))}</span>"
        )
        if self.auto_profile and not self.profile_button.disabled:
            self.profile_operators()
        else:
            self._draw_breakdown()

    @staticmethod
    def _no_artifact_reason(m: Any) -> str:
        from workbench.study._export import why_missing

        return "no artifact to export: " + why_missing(m)

    def _set_breakdown_options(self, prefer: str | None = None) -> None:
        options: list[tuple[str, str]] = [
            ("MACs (spec)", "macs"),
            ("params (spec)", "params"),
            ("activations (spec)", "activation"),
        ]
        m = self.trial.measurement(self.key) if self.trial and self.key else None
        if self.spec is not None and m is not None:
            from workbench.hw import load_profile

            try:
                profile: Any = load_profile(m.profile)
            except WorkbenchError:
                profile = m.profile
            pred = predict(self.predictor, self.spec, profile, m.backend, m.precision)
            self.prediction = pred
            if not isinstance(pred, str):
                options.append(("latency (predicted)", "predicted"))
        if self.operator_profile is not None:
            options.append(("latency (measured)", "measured"))
        values = [v for _, v in options]
        if prefer not in values:
            prefer = (
                "predicted"
                if "predicted" in values
                else self.source.value
                if self.source.value in values
                else "macs"
            )
        self._quiet = True
        try:
            self.source.options = options
            self.source.value = prefer
        finally:
            self._quiet = False

    # -- per-layer breakdown --------------------------------------------------------------------
    def breakdown(self) -> Any:
        """The :class:`~workbench.report.LayerBreakdownInfo` of the point shown."""
        from workbench.report import layer_breakdown_info

        if self.spec is None:
            return None
        metric = (
            self.source.value if self.source.value in ("macs", "params", "activation") else "macs"
        )
        measured = self.operator_profile.breakdown() if self.operator_profile is not None else None
        predicted = (
            self.prediction.breakdown()
            if self.prediction is not None and not isinstance(self.prediction, str)
            else None
        )
        return layer_breakdown_info(
            self.spec, metric=metric, measured=measured, predicted=predicted
        )

    def _draw_breakdown(self) -> None:
        info = self.breakdown()
        if info is None:
            return
        kind = {"measured": "measured", "predicted": "predicted"}.get(self.source.value, "cost")
        series = next(s for s in info.series if s.kind == kind)
        notes = {
            "cost": "From the spec: a cost, not a latency. Measure per-operator time for a "
            "measured latency breakdown.",
        }
        note = series.note or notes.get(kind, "")
        if isinstance(self.prediction, str) and kind == "cost":
            note += f" Predicted per-layer latency: {self.prediction}."
        self.breakdown_note.value = f"<div class='src'>{_e(note)}</div>"
        self.series = series
        self.bars.value = bars_html(series)

    def profile_operators(self, **kwargs: Any) -> Any:
        """Measure this point's ONNX artifact per operator on this host (ONNX Runtime profiler)."""
        import tempfile

        from workbench.study._export import artifact_name, download_artifact
        from workbench.widgets._opprofile import profile_onnx_operators

        if self.trial is None or self.key is None:
            raise ValueError("no point shown: click a point first")
        m = self.trial.measurement(self.key)
        if m is None or m.backend != "onnxruntime" or not m.meta.get("artifact_id"):
            raise WorkbenchError(
                f"trial {self.trial.number} {self.key}: per-operator timing needs a stored ONNX "
                "Runtime artifact"
            )
        store = self.ref.artifact_store()
        if store is None:
            raise WorkbenchError(
                f"the artifact store of study {self.ref.name!r} is not on this disk"
            )
        threads = int((m.receipt.get("threads") or {}).get("intra_op", 1))
        shape = (
            tuple(self.spec.input_shape)
            if self.spec is not None
            else tuple((m.receipt.get("input_shape") or [1, 1])[1:])
        )
        with tempfile.TemporaryDirectory(prefix="wb-art-") as tmp:
            path = download_artifact(
                store,
                m.meta["artifact_id"],
                Path(tmp) / artifact_name(self.trial.number, self.key, m),
            )
            self.operator_profile = profile_onnx_operators(path, shape, threads=threads, **kwargs)
        self._set_breakdown_options(prefer="measured")
        self._draw_breakdown()
        return self.operator_profile

    def _profile_clicked(self) -> None:
        self.profile_button.disabled = True
        self.breakdown_note.value = "<div class='src'>profiling on this host…</div>"
        try:
            self.profile_operators()
        except Exception as err:  # noqa: BLE001 - shown in the pane
            self.breakdown_note.value = (
                f"<div class='warn'>{_e(type(err).__name__)}: {_e(err)}</div>"
            )
        finally:
            self.profile_button.disabled = False

    # -- export ------------------------------------------------------------------------------
    def export(self, folder: str | Path | None = None) -> Path:
        """Copy this point's artifact (and a JSON sidecar with its spec and receipt) to
        ``folder``."""
        from workbench.widgets._export import export_artifact

        if self.trial is None or self.key is None:
            raise ValueError("no point shown: click a point first")
        return export_artifact(self.ref, self.trial, self.key, folder or self.export_folder.value)

    def _export_clicked(self) -> None:
        try:
            path = self.export()
            self.export_status.value = (
                f"<span>saved <code>{_e(path)}</code> and <code>{_e(path.name)}.json</code></span>"
            )
        except Exception as err:  # noqa: BLE001 - shown in the pane
            self.export_status.value = f"<span class='warn'>{_e(err)}</span>"
