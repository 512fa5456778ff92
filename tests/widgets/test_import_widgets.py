"""``import workbench.widgets`` loads the widget stack (ipywidgets, plotly) but no deep-learning
runtime."""

import subprocess
import sys

RUNTIMES = ("torch", "tensorflow", "keras", "onnxruntime", "onnx", "ai_edge_litert", "tf2onnx")


def test_widgets_import_no_runtime():
    probe = (
        "import sys, workbench.widgets as w; "
        f"print(','.join(m for m in {RUNTIMES!r} if m in sys.modules)); "
        "print(all(hasattr(w, n) for n in w.__all__))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "" and out[1] == "True"


def test_public_widgets():
    import workbench.widgets as w

    for name in ("ParetoExplorer", "ModelDesigner", "StudyMonitor"):
        assert name in w.__all__
