"""``import workbench`` must stay cheap: no deep-learning runtime is loaded until used."""

import subprocess
import sys

HEAVY = (
    "torch",
    "tensorflow",
    "keras",
    "onnxruntime",
    "onnx",
    "ai_edge_litert",
    "tf2onnx",
    "optuna",
    "plotly",
    "sklearn",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_workbench_loads_no_heavy_runtime():
    assert _loaded_after("import workbench") == []


def test_library_subpackages_stay_light_until_used():
    # importing the pieces the CLI and server import up front still loads no runtime
    assert (
        _loaded_after(
            "import workbench.arch, workbench.study, workbench.hw, workbench.backends, "
            "workbench.bench, workbench.cli"
        )
        == []
    )


def test_using_a_builder_loads_torch_lazily():
    loaded = _loaded_after("import workbench.arch as a; a.build_torch(a.mlp())")
    assert "torch" in loaded and "tensorflow" not in loaded


def test_public_surface():
    import workbench

    for name in workbench.__all__:
        assert getattr(workbench, name) is not None
    assert issubclass(workbench.ConfigError, ValueError)
    assert issubclass(workbench.ConfigError, workbench.WorkbenchError)
