"""The Workbench panel in a real JupyterLab and Debian's Chromium, against real runs.

One story, in order: the panel lists a study made by a tiny ``workbench run``; its Pareto plot
draws the points the server sent; "Open in notebook" writes the exploring notebook; "Run" on a
``search/*.yaml`` in the file browser launches a run that finishes and whose study appears; a
malformed config, a failing run and an unreadable storage each show a readable message.
Screenshots go to the test's ``tmp_path``, or to the folder named by ``WORKBENCH_SCREENSHOTS``
(``docs/make_images.sh`` sets it to ``docs/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config_dict
from tests.extensions.build import REPO, ensure_built

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

RUN_TIMEOUT_MS = 300_000


def _write(root: Path, name: str, **over: object) -> None:
    (root / "search").mkdir(exist_ok=True)
    (root / "search" / f"{name}.yaml").write_text(yaml.safe_dump(tiny_config_dict(name, **over)))


@pytest.fixture(scope="module")
def panel_root(lab_root: Path) -> Path:
    """The lab's root: a study made by a tiny CLI run, and configs for the panel to run."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    _write(lab_root, "tiny_seed")
    _write(lab_root, "panel_run")
    (lab_root / "search" / "broken.yaml").write_text(
        "schema: 1\nstudy: {trials: many}\nspace: {family: mlp}\n"
    )
    (lab_root / "search" / "badspace.py").write_text(
        "def space(trial):\n    trial.suggest_int('width', 8, 16)\n    raise RuntimeError('this "
        "search space always fails')\n"
    )
    _write(lab_root, "failing", space={"callable": "badspace:space"})
    (lab_root / "broken.db").write_bytes(b"not an SQLite database " * 64)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", "search/tiny_seed.yaml", "--quiet"],
        cwd=lab_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return lab_root


@pytest.fixture(scope="module")
def lab_extra_args(panel_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Enable the server extension and make the freshly built labextension discoverable."""
    built = ensure_built()
    exts = tmp_path_factory.mktemp("labextensions")
    (exts / "jupyterlab-workbench").symlink_to(built, target_is_directory=True)
    return [
        "--ServerApp.jpserver_extensions={'workbench.server': True}",
        f"--LabApp.extra_labextensions_path={exts}",
    ]


def _shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name))


def _open_panel(page) -> None:
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="workbench-panel"]')
    tab.wait_for(timeout=60_000)
    tab.click()
    page.locator("#workbench-panel").wait_for(state="visible", timeout=30_000)


def test_panel_lists_plots_runs_and_reports_errors(jupyter_lab, lab_page, screenshot_dir):
    page = lab_page
    lab = jupyter_lab
    assert lab.api("workbench/api/status")["storage"]["exists"] is True

    # 1. the panel lists the study made by the CLI, with its counts, objectives and best figures
    _open_panel(page)
    row = page.locator('.wb-study[data-study="tiny_seed"]')
    row.wait_for(timeout=60_000)
    assert row.locator(".wb-study-status").get_attribute("data-status") == "finished"
    assert (
        row.locator(".wb-study-trials").inner_text()
        == "2/2 complete · accuracy ↑, latency_p50_ms ↓"
    )
    assert "(measured)" in row.locator(".wb-study-best").inner_text()
    page.locator('.wb-profile[data-profile="host-cpu"]').wait_for()
    assert "measured here" in page.locator('.wb-profile[data-profile="host-cpu"]').inner_text()
    page.locator(".wb-config-select").wait_for()
    _shot(page, screenshot_dir, "panel_studies.png")

    # 2. selecting it draws its Pareto plot: every point the server sent is an SVG marker
    row.click()
    view = page.locator(".wb-study-view")
    plot = view.locator('.wb-plot[data-study="tiny_seed"][data-state="drawn"]')
    plot.wait_for(timeout=60_000)
    api = lab.api("workbench/api/studies/tiny_seed/points")
    (series,) = api["series"]
    per_trace = page.eval_on_selector_all(
        ".wb-study-view .wb-plot .scatterlayer .trace",
        "els => els.map(e => e.querySelectorAll('path.point').length)",
    )
    assert per_trace == [series["n"], len(series["front"])] and series["n"] == 2
    assert plot.get_attribute("data-points") == "2"
    assert "latency p50 (ms, measured)" in view.locator(".wb-plot .xtitle").text_content()
    assert view.locator(".wb-front-table tbody tr").count() == len(series["front"])
    # all deployments of the profile, and a click on a point shows that trial's measurements
    view.locator(".wb-pick-deployment").select_option("all")
    view.locator('.wb-plot[data-state="drawn"][data-points="6"]').wait_for(timeout=60_000)
    counts = page.eval_on_selector_all(
        ".wb-study-view .wb-plot .scatterlayer .trace",
        "els => els.map(e => e.querySelectorAll('path.point').length)",
    )
    assert sum(counts[0::2]) == 6 and len(counts) == 6  # three deployments: points + front each
    view.locator(".wb-front-table tbody tr").first.click()
    view.locator(".wb-trial table tbody tr").first.wait_for()
    assert view.locator(".wb-trial tbody tr").count() == 3
    assert "measured" in view.locator(".wb-trial tbody").inner_text()
    _shot(page, screenshot_dir, "panel_pareto.png")

    # 3. "Open in notebook" writes a notebook exploring the study with the widget library
    view.locator(".wb-open-notebook").click()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    nb = lab.api("api/contents/explore-tiny_seed.ipynb")["content"]
    code = "".join(c["source"] for c in nb["cells"] if c["cell_type"] == "code")
    assert 'STUDY = "tiny_seed"' in code and 'STORAGE = "sqlite:///runs/workbench.db"' in code
    assert "ParetoExplorer(STUDY, storage=STORAGE)" in code
    page.locator('.jp-NotebookPanel .jp-Cell:has-text("ParetoExplorer")').first.wait_for()

    # 4. "Run" on search/panel_run.yaml in the file browser launches it; it finishes and its study
    # appears
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.evaluate(
        "() => window.jupyterapp.commands.execute('filebrowser:go-to-path', {path: 'search/'})"
    )
    item = page.locator('.jp-DirListing-item:has-text("panel_run.yaml")')
    item.wait_for(timeout=30_000)
    item.click(button="right")
    page.locator('.lm-Menu-item:has-text("Run with Workbench")').click()
    job = page.locator('.wb-job:has-text("search/panel_run.yaml")')
    job.wait_for(timeout=30_000)
    # 5. a malformed config is refused with the validator's line (the panel's own Run button)
    page.locator(".wb-config-select").select_option("search/broken.yaml")
    page.locator(".wb-run-button").click()
    err = page.locator(".wb-run-error")
    err.wait_for(timeout=30_000)
    assert "study.trials" in err.inner_text() and "Traceback" not in err.inner_text()
    # 6. a run that fails shows its error line and the end of its log
    page.locator(".wb-config-select").select_option("search/failing.yaml")
    page.locator(".wb-run-button").click()
    page.locator('.wb-job[data-status="done"]:has-text("search/panel_run.yaml")').wait_for(
        timeout=RUN_TIMEOUT_MS
    )
    assert job.locator(".wb-job-text").inner_text().startswith("2/2 trials")
    assert job.locator("progress").evaluate("p => p.value") == 1
    new_row = page.locator('.wb-study[data-study="panel_run"] .wb-study-trials')
    new_row.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => (document.querySelector('.wb-study[data-study=\"panel_run\"] .wb-study-trials') || "
        "{}).textContent?.startsWith('2/2 complete')",
        timeout=60_000,
    )
    failed = page.locator('.wb-job[data-status="failed"]:has-text("search/failing.yaml")')
    failed.wait_for(timeout=RUN_TIMEOUT_MS)
    assert (
        failed.locator(".wb-job-error").inner_text()
        == "workbench: error: no trial completed; see the failures above"
    )
    assert (
        failed.locator(".wb-job-last-failure")
        .inner_text()
        .startswith("trial 1 failed at internal: RuntimeError: this search space always fails")
    )
    failed.locator(
        ".wb-log-details summary"
    ).click()  # the end of the log, without traceback frames
    tail = failed.locator(".wb-log-tail").inner_text()
    assert (
        "this search space always fails" in tail
        and "Traceback" not in tail
        and '  File "' not in tail
    )
    page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("Pareto: tiny_seed")').click()
    _shot(page, screenshot_dir, "panel_jobs.png")
    jobs = {j["config"]: j for j in lab.api("workbench/api/jobs")["jobs"]}
    assert (
        jobs["search/panel_run.yaml"]["status"] == "done"
        and jobs["search/panel_run.yaml"]["new_complete"] == 2
    )
    assert "search/broken.yaml" not in jobs  # refused before starting

    # 7. an unreadable storage is a readable message in the panel, and the default comes back
    page.evaluate(
        "() => window.jupyterapp.commands.execute('workbench:set-storage', {storage: 'sqlite:///broken.db'})"
    )
    bad = page.locator(".wb-studies-section .wb-error")
    bad.wait_for(timeout=30_000)
    assert bad.inner_text().startswith("cannot open storage sqlite:///broken.db")
    assert page.locator(".wb-study").count() == 0
    _shot(page, screenshot_dir, "panel_error.png")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('workbench:set-storage', {storage: ''})"
    )
    page.locator('.wb-study[data-study="panel_run"]').wait_for(timeout=30_000)
    errors = [e for e in page.console_errors if "workbench" in e.lower()]
    assert not errors, json.dumps(errors)
