"""Peak memory is measured in a real worker process, and scales with the model."""

import pytest

from workbench.arch import build_torch, mlp
from workbench.backends import CompileContext, Deployment, ModelSource, Threads, get_backend
from workbench.bench import MemoryProbe

pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.onnxruntime, pytest.mark.torch]


def _artifact(tmp_path, hidden):
    spec = mlp((256,), 10, hidden)
    src = ModelSource(
        "torch",
        build_torch(spec, seed=0).eval(),
        spec.input_shape,
        tmp_path / str(hidden[0]),
        onnx_exporter="torchscript",
    )
    return get_backend("onnxruntime").compile(
        src, Deployment("onnxruntime", "fp32"), CompileContext()
    )


def test_bigger_model_needs_more_memory(tmp_path):
    small = _artifact(tmp_path, (16,))
    big = _artifact(tmp_path, (4096, 2048))  # about 9.4 M params = 38 MB of fp32 weights
    with MemoryProbe() as probe:
        if not probe.supported:
            pytest.skip("needs Linux /proc")
        s, note_s = probe.measure(small, Threads(1, 1))
        b, note_b = probe.measure(big, Threads(1, 1))
    assert note_s is None and note_b is None
    assert b > 30 * 2**20  # at least the weights
    assert b > 5 * s


def test_unreadable_artifact_is_reported_not_raised(tmp_path):
    art = _artifact(tmp_path, (16,))
    art.path.write_bytes(b"garbage")
    with MemoryProbe() as probe:
        peak, note = probe.measure(art, Threads(1, 1))
    assert peak is None and note
