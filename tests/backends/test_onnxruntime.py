"""Real ONNX Runtime: export, quantize with ISA-chosen types, check accuracy, run."""

import numpy as np
import pytest

from workbench.backends import CompileContext, Deployment, ModelSource, Threads, get_backend
from workbench.bench import accuracy_of
from workbench.hw import host_info
from workbench.quant import int8_schemes

pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.onnxruntime, pytest.mark.torch]


def _ctx(data, ref, **kw):
    return CompileContext(
        calibration=data.calibration_batches(64, batch=8),
        x_val=data.x_val,
        y_val=data.y_val,
        reference_accuracy=ref,
        threads=Threads(1, 1),
        isa_flags=host_info().isa_flags,
        **kw,
    )


@pytest.fixture
def source(trained_cnn, tmp_path):
    spec, model, _data = trained_cnn
    return ModelSource("torch", model, spec.input_shape, tmp_path, onnx_exporter="torchscript")


def test_fp32_artifact_matches_the_torch_model(trained_cnn, source):
    import torch

    _spec, model, data = trained_cnn
    b = get_backend("onnxruntime")
    art = b.compile(source, Deployment("onnxruntime", "fp32"), _ctx(data, None))
    runner = b.load(art, Threads(1, 1))
    x = data.x_test[:16]
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(runner(x), expected, rtol=1e-4, atol=1e-4)
    assert art.size_bytes and art.size_bytes > 1000


@pytest.mark.parametrize("precision", ["int8-dynamic", "int8-static"])
def test_int8_artifacts_are_checked_and_their_own_accuracy_measured(trained_cnn, source, precision):
    _spec, model, data = trained_cnn
    from workbench.train import evaluate_torch

    ref = evaluate_torch(model, data.x_val, data.y_val)
    b = get_backend("onnxruntime")
    art = b.compile(
        source, Deployment("onnxruntime", precision), _ctx(data, ref, max_accuracy_drop=0.05)
    )
    meta = art.meta
    assert meta["int8_tries"] and "val_accuracy" in meta["int8_tries"][0]
    expected_first = int8_schemes(host_info().isa_flags, static=precision == "int8-static")[0]
    assert meta["int8_tries"][0]["scheme"]["reduce_range"] == expected_first.reduce_range
    acc = accuracy_of(b.load(art, Threads(1, 1)), data.x_test, data.y_test)
    fp32_acc = evaluate_torch(model, data.x_test, data.y_test)
    assert abs(acc - fp32_acc) < 0.1  # a real, working int8 model
    import onnx

    ops = {n.op_type for n in onnx.load(str(art.path)).graph.node}
    if precision == "int8-static":
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    else:
        assert ops & {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


def test_every_scheme_is_tried_when_none_meets_the_tolerance(trained_cnn, source):
    _spec, _model, data = trained_cnn
    b = get_backend("onnxruntime")
    # a reference no int8 model can reach forces every fallback
    art = b.compile(
        source, Deployment("onnxruntime", "int8-static"), _ctx(data, 2.0, max_accuracy_drop=0.0)
    )
    n = len(int8_schemes(host_info().isa_flags))
    assert len(art.meta["int8_tries"]) == n
    assert art.meta["int8_within_tolerance"] is False
    best = max(t["val_accuracy"] for t in art.meta["int8_tries"])
    chosen = art.meta["int8_scheme"]["label"]
    assert any(
        t["scheme"]["label"] == chosen and t["val_accuracy"] == best for t in art.meta["int8_tries"]
    )
    assert art.path.exists() and not list(art.path.parent.glob("*.try*.onnx"))


def test_schemes_follow_the_isa():
    vnni = int8_schemes(["avx2", "avx512f", "avx512_vnni"])
    assert (vnni[0].activations, vnni[0].weights, vnni[0].reduce_range) == ("u8", "s8", False)
    avx2 = int8_schemes(["avx2", "fma"])
    assert (avx2[0].activations, avx2[0].weights, avx2[0].reduce_range) == ("u8", "s8", True)
    assert any(s.weights == "u8" for s in avx2[1:])
    arm = int8_schemes(["asimd", "asimddp"], machine="aarch64")
    assert (arm[0].activations, arm[0].weights) == ("s8", "s8")


def test_forced_scheme_option(trained_cnn, source):
    _spec, _model, data = trained_cnn
    b = get_backend("onnxruntime")
    dep = Deployment.parse(
        {
            "backend": "onnxruntime",
            "precision": "int8-static",
            "options": {"scheme": "s8s8", "per_channel": False},
        }
    )
    art = b.compile(source, dep, _ctx(data, None))
    assert art.meta["int8_scheme"]["label"] == "S8S8"


def test_a_model_that_cannot_export_fails_with_its_stage(tmp_path):
    import torch

    from workbench import DeploymentError

    class DataDependent(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # Python control flow on data: torch.export cannot capture it
                return x.flatten(1)[:, :10]
            return -x.flatten(1)[:, :10]

    src = ModelSource("torch", DataDependent(), (1, 8, 8), tmp_path, onnx_exporter="dynamo")
    with pytest.raises(DeploymentError) as info:
        get_backend("onnxruntime").compile(src, Deployment("onnxruntime", "fp32"), CompileContext())
    assert info.value.stage == "export"
