"""Every example notebook runs top to bottom (nbclient, the venv's own kernel, tiny budgets).

Like papermill, the cell tagged ``parameters`` is followed by an injected cell with the CI
values. Widget state is stored in the executed notebook, as a saved notebook would have it. A
notebook that needs a backend or a profile this installation lacks is skipped, naming it, and
runs as soon as it is installed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.notebook]

NOTEBOOKS = REPO / "notebooks"
TINY = {"TRIALS": 3, "EPOCHS": 2, "MEASURE_MAX_S": 0.1}


def _missing_for(name: str) -> str | None:
    """Why ``name`` cannot run in this installation, or None when it can."""
    from workbench._imports import is_available

    base = [
        m for m in ("torch", "onnxruntime", "onnx", "nbclient", "ipykernel") if not is_available(m)
    ]
    if base:
        return f"needs {', '.join(base)}"
    if name == "pytorch_vs_keras.ipynb":
        from workbench.backends import backend_names
        from workbench.study import _config

        missing = [b for b in ("keras", "litert") if b not in backend_names()]
        if missing or "keras" not in getattr(_config, "FRAMEWORKS", ()):
            return (
                f"needs the Keras framework and the {', '.join(missing) or 'keras'} backend(s) "
                "(the keras branch)"
            )
        if not (REPO / "search" / "compare_frameworks.yaml").exists():
            return "needs search/compare_frameworks.yaml (the keras branch)"
        if not is_available("tensorflow"):
            return "needs tensorflow (pip install 'workbench-nas[keras]')"
    if name == "hardware_targets.ipynb":
        import workbench.hw as hw

        if not hasattr(hw, "predict_latency"):
            return "needs the latency predictor workbench.hw.predict_latency (the hwaware branch)"
        sims = [p for p in hw.list_profiles() if not p.measured and "onnxruntime" in p.backends]
        if not sims:
            return "needs a simulated hardware profile that lists onnxruntime (the hwaware branch)"
    return None


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernelspec for this interpreter in a temporary Jupyter path (none installed globally)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / "workbench-test"
    spec_dir.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "workbench test kernel",
                "language": "python",
                "env": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "2"},
            }
        )
    )
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), old) if p)
    yield "workbench-test"
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def _inject(nb, values: dict) -> None:
    import nbformat

    idx = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if "parameters" in c.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    assert idx is not None, "every example notebook has a cell tagged 'parameters'"
    src = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    nb.cells.insert(
        idx + 1, nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    )


def _outputs_text(nb) -> str:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o:
                out.append(o["data"].get("text/plain", ""))
    return "\n".join(out)


def _widget_models(nb) -> dict:
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return state.get("state", {})


def _run(name: str, kernel: str, tmp_path: Path):
    import nbformat
    from nbclient import NotebookClient

    why = _missing_for(name)
    if why:
        pytest.skip(f"{name} {why}")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    _inject(nb, {"SEARCH": str(REPO / "search"), "OUT": str(tmp_path / "runs"), **TINY})
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name=kernel,
        resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / name)  # the executed notebook, for a look after a failure
    return nb


def test_every_notebook_has_a_parameters_cell_and_is_listed():
    import nbformat

    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(
        [
            "quickstart.ipynb",
            "design_by_hand.ipynb",
            "pytorch_vs_keras.ipynb",
            "hardware_targets.ipynb",
        ]
    )
    for n in names:
        nb = nbformat.read(NOTEBOOKS / n, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and "TRIALS" in tagged[0].source and "OUT" in tagged[0].source, n
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
            f"{n} is stored without outputs"
        )


def test_quickstart(kernel_name, tmp_path):
    nb = _run("quickstart.ipynb", kernel_name, tmp_path)
    text = _outputs_text(nb)
    assert "3 trials completed" in text
    assert "exported model accuracy" in text
    models = _widget_models(nb)
    names = {m["model_name"] for m in models.values()}
    assert "AnyModel" in names or any(
        "Figure" in n for n in names
    )  # the plotly FigureWidgets (anywidget)
    assert "IntProgressModel" in names and "DropdownModel" in names
    assert any(p.suffix == ".onnx" for p in (tmp_path / "runs" / "chosen").iterdir())
    # nbconvert output: the plain figures render as plotly, the widgets from their saved state
    nbconvert = pytest.importorskip("nbconvert")
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert (
        "application/vnd.jupyter.widget-state+json" in html
    )  # the widgets, from their saved state
    assert html.count("Plotly.newPlot") >= 2 and '"type":"scattergl"' in html.replace(
        " ", ""
    )  # the plain figures


def test_design_by_hand(kernel_name, tmp_path):
    nb = _run("design_by_hand.ipynb", kernel_name, tmp_path)
    text = _outputs_text(nb)
    assert "hand-made: c16k3 ir24e4k3s2 ir24e4k5 ir32e4k3s2 c64k1 fc10" in text
    assert "blocks[0].kernel: expected an odd kernel size, got 4" in text and "valid again" in text
    assert "trial 3: hand-made" in text
    assert "parameters in PyTorch and in the spec" in text
    assert _widget_models(nb)


def test_pytorch_vs_keras(kernel_name, tmp_path):
    nb = _run("pytorch_vs_keras.ipynb", kernel_name, tmp_path)
    text = _outputs_text(nb)
    assert "/keras/" in text and "/torch/" in text


def test_hardware_targets(kernel_name, tmp_path):
    nb = _run("hardware_targets.ipynb", kernel_name, tmp_path)
    assert "simulated targets:" in _outputs_text(nb)
