"""The notebook widgets in a real JupyterLab, driven by Debian's Chromium.

A notebook runs a tiny real study with the StudyMonitor, opens the ParetoExplorer on it and a
ModelDesigner for it. The test asserts that the WebGL scatter holds exactly the study's points,
clicks a point at its pixel position (from the plot's own axes) and checks that the detail pane
fills with that trial, then saves a screenshot of each widget to the test's ``tmp_path``, or to
the folder named by ``WORKBENCH_SCREENSHOTS`` (``docs/make_images.sh`` sets it to ``docs/``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, wait_kernel_idle
from tests.conftest import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

NOTEBOOK = "widgets_demo.ipynb"
STUDY = "browser"


def _notebook() -> dict:
    import nbformat

    cells = [
        nbformat.v4.new_code_cell(
            'CONFIG = "tiny.yaml"\nimport workbench.widgets as ww',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "monitor = ww.StudyMonitor(CONFIG, measure_memory=False)\nmonitor.start()\nmonitor"
        ),
        nbformat.v4.new_code_cell(
            "result = monitor.wait()\nexplorer = ww.ParetoExplorer(result, "
            "constraints={'accuracy': 0.3})\nexplorer"
        ),
        nbformat.v4.new_code_cell(
            "designer = ww.ModelDesigner(study=result, budgets={'host-cpu': {'size': 8}})\n"
            "designer.measure(deployments=('onnxruntime-fp32', 'onnxruntime-int8-dynamic'), "
            "measure={'max_time_s': 0.3})\n"
            "designer"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat

    root = tmp_path_factory.mktemp("widgets-lab")
    cfg = tiny_config_dict(
        STUDY,
        study={
            "name": STUDY,
            "sampler": "random",
            "seed": 0,
            "trials": 4,
            "objectives": ["accuracy", "latency"],
        },
    )
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    nbformat.write(nbformat.from_dict(_notebook()), root / NOTEBOOK)
    return root


@pytest.fixture
def big_page(jupyter_lab, browser):
    """A tall page, so each widget fits whole in its screenshot."""
    context = browser.new_context(viewport={"width": 1500, "height": 1300}, device_scale_factor=1)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.goto(jupyter_lab.lab_url(f"lab/tree/{NOTEBOOK}"), wait_until="domcontentloaded")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell && "
        "document.querySelector('#jp-main-dock-panel')",
        timeout=90_000,
    )
    try:
        yield page
    finally:
        context.close()


_POINTS_JS = """
() => {
  const gd = document.querySelector('.wb-explorer .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd.data) return null;
  const traces = gd.data.map((t, i) => ({i, role: (t.meta || {}).role, n: (t.x || []).length}));
  const canvases = gd.querySelectorAll('canvas').length;
  return {traces, glcanvas: !!gd._fullLayout._glcanvas, canvases};
}
"""

# a front point far from every other drawn point, with its page coordinates and trial number
_PICK_JS = """
() => {
  const gd = document.querySelector('.wb-explorer .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const px = (t, j) => [
    box.left + xa._offset + xa.c2p(t.x[j]), box.top + ya._offset + ya.c2p(t.y[j])
  ];
  const all = [];
  gd.data.forEach((t, i) => {
    const r = (t.meta || {}).role;
    if (r === 'measured' || r === 'predicted' || r === 'front')
      for (let j = 0; j < t.x.length; j++)
        all.push({i, j, role: r, p: px(t, j), trial: t.customdata[j]});
  });
  let best = null;
  const fronts = all.filter((a) => a.role === 'front');
  const ort = fronts.filter((a) => (gd.data[a.i].meta || {}).group === 'onnxruntime-int8-static');
  (ort.length ? ort : fronts).forEach((a) => {
    const others = all.filter((b) => b.trial !== a.trial);
    const d = Math.min(...others.map((b) => Math.hypot(b.p[0] - a.p[0], b.p[1] - a.p[1])), 1e9);
    if (!best || d > best.d) best = {...a, d};
  });
  return best;
}
"""


def _expected_points(root: Path) -> int:
    from workbench.study import load_index

    index = load_index(f"sqlite:///{root / 'runs' / 'workbench.db'}", STUDY)
    profile = index.profiles()[0]
    return sum(
        len(index.points(k, "latency", "accuracy")[0])
        for k in index.tables
        if k.startswith(profile + "/")
    )


def _screenshot(page, folder: Path, selector: str, name: str) -> Path:
    el = page.locator(selector).first
    el.scroll_into_view_if_needed()
    page.mouse.move(2, 2)  # no hover label or mode bar in the picture
    page.wait_for_timeout(400)
    path = folder / name
    el.screenshot(path=str(path))
    return path


def test_widgets_render_and_a_click_fills_the_detail_pane(
    jupyter_lab, big_page, tmp_path, screenshot_dir
):
    try:
        _run(jupyter_lab, big_page, screenshot_dir)
    except BaseException:
        big_page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise


def _run(jupyter_lab, page, shots: Path) -> None:
    assert CHROMIUM and CHROMIUM_ARGS  # Debian's Chromium, flags from the shared fixture
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    wait_kernel_idle(page)
    page.evaluate("() => { window.jupyterapp.commands.execute('application:toggle-left-area'); }")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    # the monitor renders while the study runs in the background
    page.wait_for_function(
        "() => { const m = document.querySelector('.wb-monitor'); return m && "
        "m.innerText.includes('trials finished'); }",
        timeout=120_000,
    )
    # the explorer appears once the study is done; then the kernel goes idle
    page.wait_for_selector(".wb-explorer .js-plotly-plot", state="attached", timeout=300_000)
    page.wait_for_selector(".wb-designer", state="attached", timeout=120_000)
    wait_kernel_idle(page, timeout_ms=120_000)
    page.wait_for_function(
        f"() => {{ const r = ({_POINTS_JS})(); return r && r.traces.length > 1; }}", timeout=60_000
    )

    state = page.evaluate(_POINTS_JS)
    assert state["glcanvas"] and state["canvases"] >= 1, "the scatter must draw with WebGL"
    drawn = sum(
        t["n"] for t in state["traces"] if t["role"] in ("measured", "predicted", "excluded")
    )
    assert drawn == _expected_points(jupyter_lab.root)
    assert any(
        t["role"] == "excluded" for t in state["traces"]
    )  # the accuracy budget set in the notebook
    assert any(t["role"] == "front" and t["n"] >= 1 for t in state["traces"])

    # the monitor finished every trial of the budget and drew the fronts
    stats = page.locator(".wb-monitor").inner_text()
    assert "finished" in stats and "4/4 trials" in stats

    pick = page.evaluate(_PICK_JS)
    assert pick is not None
    page.mouse.move(pick["p"][0], pick["p"][1])
    # hovering shows the architecture and the figures with their spread
    page.wait_for_function(
        "() => { const h = document.querySelector('.wb-explorer .hoverlayer .hovertext'); return h "
        "&& h.textContent.includes('p90'); }",
        timeout=15_000,
    )
    hover = page.locator(".wb-explorer .hoverlayer .hovertext").first.text_content()
    assert (
        f"trial {int(pick['trial'])}" in hover
        and "mlp:" in hover
        and "(measured)" in hover
        and "acc " in hover
    )
    page.mouse.click(pick["p"][0], pick["p"][1])
    header = page.locator(".wb-detail h3")
    header.wait_for(timeout=30_000)
    page.wait_for_function(
        "(n) => { const h = document.querySelector('.wb-detail h3'); return h && "
        "h.textContent.startsWith('trial ' + n + ' '); }",
        arg=int(pick["trial"]),
        timeout=30_000,
    )
    detail = page.locator(".wb-detail").inner_text()
    assert f"trial {int(pick['trial'])} " in detail
    # the per-layer chart drew bars; the receipt and the architecture tabs are filled
    # (the pane's parts arrive as separate widget updates: the bars may land after the header)
    page.wait_for_function(
        "() => document.querySelectorAll('.wb-detail .wb-bar').length > 0", timeout=30_000
    )
    page.locator(".wb-detail .lm-TabBar-tab", has_text="Receipt").click()
    page.wait_for_function(
        "() => document.querySelector('.wb-detail').innerText.includes('latency method')",
        timeout=10_000,
    )
    page.locator(".wb-detail .lm-TabBar-tab", has_text="Per-layer").click()
    # measure this artifact per operator with ONNX Runtime's profiler, from the pane's button
    page.locator(".wb-detail button", has_text="Measure per-operator time").click()
    page.wait_for_function(
        "() => { const b = document.querySelector('.wb-detail .wb-bars');"
        " return b && b.dataset.kind === 'measured' && b.innerText.includes('measured, ONNX "
        "Runtime profiler'); }",
        timeout=60_000,
    )

    # the designer edits from its own buttons, in the browser
    designer = page.locator(".wb-designer")
    assert (
        "measured on this host" in designer.inner_text()
        and "exceeds the budget 8 KiB" in designer.inner_text()
    )
    rows_before = page.evaluate(
        "() => document.querySelectorAll('.wb-designer .wb-block-row').length"
    )
    designer.locator("button", has_text="Add block").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.wb-designer .wb-block-row').length === "
        f"{rows_before + 1}",
        timeout=30_000,
    )
    page.wait_for_function(
        "() => document.querySelector('.wb-designer').innerText.includes('ir24e4k3 fc10')",
        timeout=30_000,
    )
    # the measurement no longer matches: the designer says so (the pane updates after the spec)
    page.wait_for_function(
        "() => document.querySelector('.wb-designer').innerText"
        ".includes('an earlier version of the design')",
        timeout=30_000,
    )

    _screenshot(page, shots, ".wb-explorer", "pareto_explorer.png")
    _screenshot(page, shots, ".wb-monitor", "study_monitor.png")
    _screenshot(page, shots, ".wb-designer", "model_designer.png")
    for name in ("pareto_explorer.png", "study_monitor.png", "model_designer.png"):
        assert (shots / name).stat().st_size > 10_000
    errors = [e for e in page.console_errors if "favicon" not in e and "GL Driver" not in e]
    assert not any(
        "Error rendering" in e or ("widget" in e.lower() and "error" in e.lower()) for e in errors
    ), json.dumps(errors)[:2000]
