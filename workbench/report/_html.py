"""A self-contained HTML report of a study (plotly.js inlined once; opens offline)."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.report._figures import (
    deployment_comparison_figure,
    footprint_info,
    history_figure,
    pareto_figure,
)
from workbench.study._results import StudyResults

if TYPE_CHECKING:
    from workbench.check import CheckResult

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1200px;color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}
h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:.92em} table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{border:1px solid #e3e3e3;padding:4px 6px;text-align:right;white-space:nowrap}
th{background:#f6f6f6;cursor:pointer}
td.l,th.l{text-align:left} tr.front td{background:#f3fbf3} .fail{color:#b00}
.pred{font-style:italic;color:#6a4c93}
details{margin:6px 0} code,pre{font-size:.85em;background:#f7f7f7} pre{padding:8px;overflow:auto}
.note{background:#fffbe6;border:1px solid #f0e0a0;padding:8px 12px;margin:12px 0}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0], rows = Array.from(body.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v || a.cells[col].textContent,
        y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _num(v: Any, fmt: str = "{:.4g}") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return '<td data-v="">–</td>'
    return f'<td data-v="{v}">{fmt.format(v)}</td>'


def render_report(
    results: StudyResults, *, title: str | None = None, check: CheckResult | bool = True
) -> str:
    """The report as one HTML string. ``check``: True draws the check saved beside the study's
    outputs, if any (:func:`workbench.check.find_check`); a result draws that one; False none."""
    attrs = results.study_attrs
    chk, check_error = _the_check(results, check)
    host = attrs.get("host") or {}
    parts: list[str] = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(title or results.study_name)} · workbench report</title><style>{_CSS}</style>"
        "</head><body>",
        f"<h1>{_e(title or 'Study ' + results.study_name)}</h1>",
        "<div class='meta'>",
        f"{len(results.trials)} trials: {len(results.completed())} complete, "
        f"{len(results.rejected())} rejected before training "
        f"(a budget broken), {len(results.failed())} failed · "
        "objectives: "
        f"{_e(', '.join(f'{n} ({d})' for n, d in zip(results.metric_names, results.directions)))}",
    ]
    if host:
        parts.append(
            f"<br>host: {_e(host.get('cpu_model'))} · {_e(host.get('isa'))} · "
            f"{_e(host.get('available_cpus'))} CPUs available · "
            f"{_e(host.get('os'))} · Python {_e(host.get('python'))}"
        )
    if attrs.get("objective_deployment"):
        parts.append(f"<br>objective deployment rule: {_e(attrs.get('objective_deployment'))}")
    parts.append("</div>")
    parts.append(
        "<div class='note'>Every latency below is <b>measured</b> on this host unless marked "
        "<span class='pred'>predicted</span>: "
        "p50 over repeated batch-1 calls after warm-up, deployments of a trial timed interleaved "
        "in one process "
        "(receipts at the bottom). Accuracy is each artifact's own, on the held-out test split; "
        "an int8 point shows the "
        "int8 model's accuracy. A <span class='pred'>predicted</span> latency (a device that is "
        "not here) is the roofline "
        "predictor's, shown with its trust figures; the accuracy beside it is still that of the "
        "real file built for the "
        "device, evaluated on this host.</div>"
    )
    parts.append(_budgets(results))
    if chk is not None or check_error:
        parts.append(_check_head(chk, check_error))

    first = True

    def fig_html(fig: Any) -> str:
        nonlocal first
        out = fig.to_html(
            full_html=False, include_plotlyjs=bool(first), config={"displaylogo": False}
        )
        first = False
        return out

    profiles = results.profiles()
    for prof in profiles or [None]:  # type: ignore[list-item]  # None: one section for a study without profiles
        parts.append(f"<h2>Pareto fronts{': ' + _e(prof) if prof else ''}</h2>")
        parts.append(fig_html(pareto_figure(results, profile=prof, check=chk)))
        fronts = results.fronts(profile=prof)
        if chk is not None:
            parts.append(_check_table(chk, list(fronts) or results.keys()))
        parts.append(
            "<table class='sortable'><thead><tr><th class='l'>deployment</th><th>points</th>"
            "<th>front size</th>"
            "<th>hypervolume</th><th class='l'>front (trial: latency ms, accuracy)</th>"
            "<th>knee trial</th></tr></thead><tbody>"
        )
        for key, f in fronts.items():
            n_points = len(results.points(key)[0])
            pred = _key_source(results, key) == "predicted"
            unit = " ms (predicted)" if pred else " ms"
            pts = ", ".join(
                f"{t}: {p[0]:.3g}{unit}, {p[1]:.3f}" for t, p in zip(f.trials, f.points)
            )
            trust = f"<br><span class='pred'>{_e(_key_trust(results, key))}</span>" if pred else ""
            parts.append(
                f"<tr><td class='l'>{_e(key)}</td>{_num(n_points, '{}')}"
                f"{_num(len(f.trials), '{}')}{_num(f.hypervolume)}"
                f"<td class='l'>{_e(pts)}{trust}</td>{_num(f.knee, '{}')}</tr>"
            )
        parts.append("</tbody></table>")
        parts.append(
            "<p class='meta'>Hypervolume: area dominated by each front, bounded by one reference "
            "point shared by all "
            "deployments of this profile (latency "
            f"{fronts and next(iter(fronts.values())).reference[0]:.4g} ms, accuracy 0), so the "
            "numbers compare.</p>"
            if fronts
            else ""
        )
        parts.append(f"<h2>Deployments compared{': ' + _e(prof) if prof else ''}</h2>")
        parts.append(fig_html(deployment_comparison_figure(results, profile=prof)))

    parts.append(_footprint(results))
    parts.append("<h2>Trials</h2>")
    parts.append(fig_html(history_figure(results)))
    parts.append(_trial_table(results))
    rejected = results.rejected()
    if rejected:
        parts.append(
            "<h2>Rejected before training</h2><p class='meta'>Latency, memory and size do not "
            "depend on trained "
            "weights: these candidates were checked untrained (measured on measured profiles, "
            "predicted on simulated "
            "ones), broke a budget, and were never trained.</p><ul>"
        )
        for t in rejected:
            arch = t.user_attrs.get("arch", "")
            reasons = "; ".join((t.rejected or {}).get("reasons", []))
            parts.append(f"<li>trial {t.number}: {_e(arch)} — {_e(reasons)}</li>")
        parts.append("</ul>")
    failures = [t for t in results.trials if t.failure]
    dep_failures = [r for r in results.rows() if r.get("status") == "failed"]
    if failures or dep_failures:
        parts.append("<h2>Failures</h2><ul>")
        for t in failures:
            failure = t.failure or {}
            stage, reason = _e(failure.get("stage")), _e(failure.get("reason"))
            parts.append(f"<li class='fail'>trial {t.number}: {stage}: {reason}</li>")
        for r in dep_failures:
            parts.append(
                f"<li class='fail'>trial {r['trial']} · {_e(r['key'])}: {_e(r.get('stage'))}: "
                f"{_e(r.get('error'))}</li>"
            )
        parts.append("</ul>")
    parts.append(_receipts(results))
    parts.append(f"<script>{_SORT_JS}</script></body></html>")
    return "\n".join(parts)


def _the_check(results: StudyResults, check: CheckResult | bool) -> tuple[CheckResult | None, str]:
    """The check to draw, or the one-line reason a saved one could not be read."""
    if check is False:
        return None, ""
    if check is not True:
        return check, ""
    from workbench._errors import ConfigError
    from workbench.check import find_check

    try:
        return find_check(results.study_name, results.study_attrs), ""
    except ConfigError as err:
        return None, str(err)


def _check_head(chk: CheckResult | None, error: str) -> str:
    """The check's verdict and how it timed the artifacts, above the Pareto figures."""
    if chk is None:
        return f"<h2>Check against a baseline</h2><p class='fail'>{_e(error)}</p>"
    timing = chk.timing
    host = timing.get("host") or {}
    settings = timing.get("settings") or {}
    cls = "" if chk.passed else " class='fail'"
    return (
        "<h2>Check against a baseline</h2>"
        f"<p{cls}><b>{_e(chk.summary())}</b></p><p class='meta'>Baseline "
        f"<code>{_e(chk.baseline)}</code> (study {_e(chk.baseline_study)}) against this study, "
        f"thresholds <code>{_e(chk.thresholds.to_text())}</code>. Both sides timed "
        f"{_e(timing.get('method'))} on {_e(host.get('cpu_model'))} "
        f"({_e(host.get('available_cpus'))} CPUs available), batch "
        f"{_e(settings.get('batch_size'))}, {_e(settings.get('min_repeats'))} to "
        f"{_e(settings.get('max_repeats'))} calls each; {_e(timing.get('latency_interval'))}; "
        f"accuracy: {_e(timing.get('accuracy_interval'))}. The figures below draw the "
        "baseline's and the candidate's points as timed in the check (squares), regressions "
        "ringed red and improvements green"
        f"{'; saved in <code>' + _e(chk.path) + '</code>' if chk.path else ''}.</p>"
    )


def _check_table(chk: CheckResult, keys: list[str]) -> str:
    """Regressions and improvements of these keys: ratio [interval] or change (McNemar p)."""
    from workbench.report._check_figures import check_rows

    rows = check_rows(chk, keys)
    if not rows:
        return "<p class='meta'>Check: no regression or improvement on these deployments.</p>"
    body = []
    for r in rows:
        m = r.check
        if m.metric == "accuracy" and m.change is not None and m.p_value is not None:
            what = f"{m.change:+.2f} pt (McNemar p={m.p_value:.3g})"
        elif m.ratio_low is not None and m.ratio_high is not None and m.ratio is not None:
            what = f"{m.ratio:.3g}x [{m.ratio_low:.3g}, {m.ratio_high:.3g}]"
        elif m.ratio is not None:
            what = f"{m.ratio:.3g}x"
        else:
            what = m.detail
        body.append(
            f"<tr><td class='l{' fail' if r.verdict == 'regression' else ''}'>{_e(r.verdict)}</td>"
            f"<td class='l'>{_e(r.point)}</td><td>{_e(r.candidate_trial)}</td>"
            f"<td class='l'>{_e(r.metric)}</td><td class='l'>{_e(what)}</td>"
            f"<td class='l'>{_e(m.threshold)}</td></tr>"
        )
    return (
        "<table class='check'><thead><tr><th class='l'>verdict</th>"
        "<th class='l'>baseline point</th><th>candidate trial</th><th class='l'>metric</th>"
        "<th class='l'>candidate / baseline [interval], or change (test)</th>"
        "<th class='l'>threshold</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
    )


def _footprint(results: StudyResults) -> str:
    """What each deployment needs installed on the target, beside its framework."""
    rows = footprint_info(results)
    if not rows:
        return ""

    def mib(n: int | None) -> str:
        return _num(n / 2**20 if n is not None else None, "{:.1f}")

    out = [
        "<h2>Runtime footprint</h2>",
        "<table class='sortable'><thead><tr><th class='l'>deployment</th>"
        "<th class='l'>runtime it needs</th><th>MiB</th>"
        "<th>MiB with dependencies</th><th class='l'>framework it was built in</th><th>MiB</th>"
        "<th>MiB with dependencies</th>"
        "</tr></thead><tbody>",
    ]
    for r in rows:
        out.append(
            f"<tr><td class='l'>{_e(r.key)}</td>"
            f"<td class='l'>{_e(r.runtime)}</td>"
            f"{mib(r.runtime_bytes)}{mib(r.runtime_with_deps_bytes)}"
            f"<td class='l'>{_e(r.framework)}</td>"
            f"{mib(r.framework_bytes)}{mib(r.framework_with_deps_bytes)}</tr>"
        )
    out.append(
        "</tbody></table><p class='meta'>Installed size on this host: the files each "
        "distribution's RECORD lists "
        "(its wheel for this platform, unpacked); with dependencies adds every installed "
        "distribution it requires, "
        "transitively. A target running the artifact needs the runtime only, not the framework.</p>"
    )
    return "\n".join(out)


def _trial_table(results: StudyResults) -> str:
    front_members: set[tuple[str, int]] = set()
    for f in results.fronts().values():
        front_members.update((f.key, t) for t in f.trials)
    head = (
        "<table class='sortable'><thead><tr><th>trial</th><th class='l'>deployment</th>"
        "<th class='l'>source</th>"
        "<th>accuracy</th><th>Δ vs float (pt)</th><th>p50 ms</th><th>p90 ms</th><th>cv</th>"
        "<th>n</th><th>size B</th>"
        "<th>peak mem B</th><th>params</th><th>MACs</th><th class='l'>int8</th>"
        "<th class='l'>architecture</th>"
        "<th class='l'>trust (predicted numbers)</th></tr></thead><tbody>"
    )
    body = []
    for r in results.rows():
        if r.get("key") is None:
            why = (
                f"rejected before training: {r['rejected']}"
                if r.get("rejected")
                else f"{r['state']}: {r.get('trial_failure')}"
            )
            body.append(
                f"<tr><td>{r['trial']}</td><td class='l fail' colspan='15'>{_e(why)}</td></tr>"
            )
            continue
        cls = " class='front'" if (r["key"], r["trial"]) in front_members else ""
        if r.get("status") != "ok":
            body.append(
                f"<tr{cls}><td>{r['trial']}</td><td class='l'>{_e(r['key'])}</td>"
                f"<td class='l fail' colspan='14'>failed at {_e(r.get('stage'))}: "
                f"{_e(r.get('error'))}</td></tr>"
            )
            continue
        src = r.get("source")
        drop = r.get("accuracy_drop")
        body.append(
            f"<tr{cls}><td>{r['trial']}</td><td class='l'>{_e(r['key'])}</td>"
            f"<td class='l{' pred' if src == 'predicted' else ''}'>{_e(src)}</td>"
            f"{_num(r.get('accuracy'), '{:.4f}')}"
            f"{_num(-100 * drop if drop is not None else None, '{:+.2f}')}"
            f"{_num(r.get('latency_p50_ms'))}{_num(r.get('latency_p90_ms'))}"
            f"{_num(r.get('latency_cv'), '{:.2f}')}{_num(r.get('latency_n'), '{}')}"
            f"{_num(r.get('size_bytes'), '{:,}')}{_num(r.get('peak_memory_bytes'), '{:,}')}"
            f"{_num(r.get('params'), '{:,}')}{_num(r.get('macs'), '{:,}')}"
            f"<td class='l'>{_e(r.get('int8_scheme'))}</td><td class='l'>{_e(r.get('arch'))}</td>"
            f"<td class='l{' pred' if src == 'predicted' else ''}'>{_e(r.get('trust') or '')}</td>"
            "</tr>"
        )
    return (
        head
        + "\n".join(body)
        + "</tbody></table><p class='meta'>Rows shaded green are on their deployment's Pareto "
        "front. Click a header to sort.</p>"
    )


def _key_source(results: StudyResults, key: str) -> str:
    sources = {
        r.get("source") for r in results.rows() if r.get("key") == key and r.get("status") == "ok"
    }
    return str(sources.pop()) if len(sources) == 1 else "mixed"


def _key_trust(results: StudyResults, key: str) -> str:
    return next((r["trust"] for r in results.rows() if r.get("key") == key and r.get("trust")), "")


def _budgets(results: StudyResults) -> str:
    """The study's budgets per profile, and how many candidates met them."""
    cons: dict[str, dict[str, Any]] = {}
    for t in results.trials:
        for k, v in (t.user_attrs.get("constraints") or {}).items():
            cons.setdefault(k, v)
    if not cons:
        return ""
    from workbench.study import LIMITS, format_value

    def limit(k: str, v: dict[str, Any]) -> str:
        m = LIMITS.get(k.split(":", 1)[-1])
        return format_value(float(v.get("limit") or 0), m.unit if m else "")

    rows = "".join(
        f"<tr><td class='l'>{_e(k)}</td>"
        f"<td data-v='{v.get('limit')}'>{_e(limit(k, v))}</td>"
        f"<td class='l'>{'device limit' if v.get('from_device') else 'budget'}</td></tr>"
        for k, v in sorted(cons.items())
    )
    n_ok = sum(1 for t in results.completed() if t.feasible)
    return (
        f"<h2>Budgets</h2><p class='meta'>{n_ok} trained candidates meet every budget; "
        f"{len(results.rejected())} were rejected "
        f"before training. Fronts show only candidates that meet their profile's budgets.</p>"
        "<table><thead><tr><th class='l'>profile:metric</th><th>limit</th><th class='l'>kind</th>"
        "</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _receipts(results: StudyResults) -> str:
    import json

    out = ["<h2>Receipts of the Pareto points</h2>"]
    fronts = results.fronts()
    by_trial = {t.number: t for t in results.trials}
    for key, f in fronts.items():
        for n in f.trials:
            m = next((m for m in by_trial[n].measurements() if m.key == key), None)
            if m is None:
                continue
            record = {"receipt": m.receipt, "meta": m.meta, "spec": by_trial[n].spec}
            out.append(
                f"<details><summary>trial {n} · {_e(key)}</summary>"
                f"<pre>{_e(json.dumps(record, indent=2, default=str))}</pre></details>"
            )
    return "\n".join(out)


def write_report(
    results: StudyResults,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    check: CheckResult | bool = True,
) -> Path:
    """Write :func:`render_report` to ``path`` (folders created) and return the path."""
    from workbench._files import atomic_write_text

    return atomic_write_text(path, render_report(results, title=title, check=check))
