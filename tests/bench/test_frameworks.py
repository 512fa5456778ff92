"""A PyTorch and a Keras build deployed in one run: timed interleaved, each fed its own layout."""

import pytest

from tests.conftest import TINY_MEASURE, keras_source
from workbench import ConfigError
from workbench.backends import CompileContext, Deployment, ModelSource
from workbench.bench import DeployJob, MeasureSettings, measure_jobs
from workbench.hw import load_profile

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.keras, pytest.mark.torch, pytest.mark.onnxruntime]


def _deps(*names):
    return [Deployment.parse(n) for n in names]


def test_both_frameworks_are_measured_side_by_side(trained_cnn, trained_keras, tmp_path):
    spec, tmodel, data = trained_cnn
    _, kmodel, _ = trained_keras
    tsrc = ModelSource(
        "torch", tmodel, spec.input_shape, tmp_path / "torch", onnx_exporter="torchscript"
    )
    ksrc = keras_source(spec, kmodel, tmp_path / "keras")
    calib = data.calibration_batches(32)
    jobs = [
        DeployJob(
            tsrc,
            _deps("torch-fp32", "onnxruntime-fp32", "onnxruntime-int8-static"),
            CompileContext(calibration=calib, x_val=data.x_val, y_val=data.y_val),
        ),
        DeployJob(
            ksrc,
            _deps(
                "keras-fp32", "litert-int8-static", "onnxruntime-fp32", "onnxruntime-int8-static"
            ),
            CompileContext(calibration=calib, x_val=data.x_val, y_val=data.y_val),
        ),
    ]
    ms, artifacts = measure_jobs(
        jobs,
        load_profile("host-cpu"),
        x_test=data.x_test,
        y_test=data.y_test,
        settings=MeasureSettings(**TINY_MEASURE),
    )
    by = {m.key: m for m in ms}
    assert list(by) == [
        "host-cpu/torch/torch-fp32",
        "host-cpu/torch/onnxruntime-fp32",
        "host-cpu/torch/onnxruntime-int8-static",
        "host-cpu/keras/keras-fp32",
        "host-cpu/keras/litert-int8-static",
        "host-cpu/keras/onnxruntime-fp32",
        "host-cpu/keras/onnxruntime-int8-static",
    ]
    assert all(m.ok and m.latency.n >= 5 and 0.8 < m.accuracy <= 1.0 for m in ms), [
        m.summary() for m in ms
    ]
    assert set(artifacts) == {f"{m.framework}/{m.deployment}" for m in ms}
    keras_litert = by["host-cpu/keras/litert-int8-static"].receipt
    assert (
        "torch/torch-fp32" in keras_litert["interleaved_with"]
        and "keras/keras-fp32" in keras_litert["interleaved_with"]
    )
    assert len(keras_litert["interleaved_with"]) == len(ms) - 1
    # each model was fed what it takes, and the receipt says so
    assert by["host-cpu/torch/onnxruntime-fp32"].receipt["input_shape"] == [1, 1, 8, 8]
    assert by["host-cpu/keras/onnxruntime-fp32"].receipt["input_shape"] == [1, 8, 8, 1]
    assert by["host-cpu/keras/onnxruntime-fp32"].receipt["input_layout"] == "NHWC"
    # the Keras ONNX graph was calibrated on NHWC batches: its int8 model is accurate
    assert by["host-cpu/keras/onnxruntime-int8-static"].accuracy > 0.85
    assert (
        by["host-cpu/keras/keras-fp32"].receipt["framework_threads"]["tensorflow"]["intra_op"] >= 1
    )
    for m in ms:
        foot = m.meta["runtime_footprint"]
        assert foot["runtime"]["bytes"] > 0 and foot["framework"]["bytes"] > 0
    assert (
        by["host-cpu/torch/torch-fp32"]
        .meta["runtime_footprint"]["framework"]["label"]
        .startswith("installed size of torch")
    )


def test_one_model_per_framework_in_a_run(trained_cnn, tmp_path):
    spec, model, _ = trained_cnn
    src = ModelSource("torch", model, spec.input_shape, tmp_path)
    with pytest.raises(ConfigError, match="one model per framework"):
        measure_jobs(
            [DeployJob(src, _deps("torch-fp32")), DeployJob(src, _deps("torch-fp32"))],
            load_profile("host-cpu"),
        )
