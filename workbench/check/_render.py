"""A check's result as JUnit XML (one test case per point and metric, one per front) and as a
Markdown table a CI system can post on a pull request."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from workbench.check._result import IMPROVEMENT, REGRESSION, SKIPPED, CheckResult, FrontCheck

__all__ = ["to_junit", "to_markdown"]

_MARK = {REGRESSION: "❌ regression", IMPROVEMENT: "✅ improvement", SKIPPED: "– skipped"}


def to_junit(result: CheckResult) -> str:
    """JUnit XML: a regression is a failure, a skipped metric a skipped case."""
    cases = [(p, m) for p in result.points for m in p.metrics]
    suite = ET.Element(
        "testsuite",
        name=f"workbench check {result.candidate_study}",
        tests=str(len(cases) + len(result.fronts)),
        failures=str(len(result.regressions)),
        skipped=str(sum(m.verdict == SKIPPED for _, m in cases)),
        time=f"{result.wall_s:.3f}",
    )
    for p, m in cases:
        case = ET.SubElement(
            suite, "testcase", classname=f"{p.key}.trial{p.baseline_trial}", name=m.metric
        )
        text = f"{m.detail} [threshold {m.threshold}]" if m.threshold else m.detail
        if p.note:
            text += f"; {p.note}"
        if m.verdict == REGRESSION:
            ET.SubElement(case, "failure", message=f"{p.name} {m.metric}: {m.detail}").text = text
        elif m.verdict == SKIPPED:
            ET.SubElement(case, "skipped", message=m.detail)
        else:
            ET.SubElement(case, "system-out").text = f"{m.verdict}: {text}"
    for f in result.fronts:
        case = ET.SubElement(suite, "testcase", classname=f.key, name="front")
        ET.SubElement(case, "system-out").text = _front_line(f)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _front_line(f: FrontCheck) -> str:
    dominated = ", ".join(f"trial {t}" for t in f.newly_dominated) or "none"
    return (
        f"hypervolume {f.baseline_hypervolume:.4g} -> {f.candidate_hypervolume:.4g} "
        f"({100 * f.hypervolume_change:+.1f}%); newly dominated: {dominated}"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(result: CheckResult) -> str:
    """A heading with the verdict, one table row per point and metric, the fronts, the notes."""
    head = "❌" if not result.passed else "✅"
    lines = [
        f"## {head} workbench check: {result.candidate_study} against {result.baseline_study}",
        "",
        f"{result.summary()}",
        "",
        f"Thresholds: `{result.thresholds.to_text()}`; measured side by side on this machine.",
        "",
        "| point | metric | baseline | candidate | change | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for p in result.points:
        for m in p.metrics:
            base = "" if m.baseline is None else f"{m.baseline:.4g}"
            cand = "" if m.candidate is None else f"{m.candidate:.4g}"
            point = p.name if p.candidate_trial is None else f"{p.name} vs {p.candidate_trial}"
            lines.append(
                f"| {_cell(point)} | {m.metric} | {base} | {cand} | {_cell(m.detail)} | "
                f"{_MARK.get(m.verdict, m.verdict)} |"
            )
    if result.fronts:
        lines += ["", "| front | hypervolume and dominated points |", "|---|---|"]
        lines += [f"| {f.key} | {_cell(_front_line(f))} |" for f in result.fronts]
    notes = [p.note for p in result.points if p.note] + result.notes
    drift = [p.machine_drift for p in result.points if p.machine_drift]
    if drift:
        mid = sorted(drift)[len(drift) // 2]
        notes.append(
            f"this machine times the baseline's artifacts at {mid:.2f}x their stored latency "
            "(stored latencies are not compared)"
        )
    if notes:
        lines += ["", *(f"- {_cell(n)}" for n in dict.fromkeys(notes))]
    return "\n".join(lines) + "\n"
