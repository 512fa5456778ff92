"""Keras baselines (eager, XLA) and Keras to ONNX through tf2onnx, with real TensorFlow and ORT."""

import numpy as np
import pytest

from tests.conftest import keras_source
from workbench import DeploymentError
from workbench.backends import CompileContext, Deployment, ModelSource, Threads, get_backend
from workbench.bench import MemoryProbe, accuracy_of

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.keras, pytest.mark.onnxruntime]


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("name", ["keras-fp32", "keras-xla-fp32"])
def test_framework_baselines_run_the_model_and_reload_from_file(trained_keras, tmp_path, name):
    spec, model, data = trained_keras
    dep = Deployment.parse(name)
    b = get_backend(dep.backend)
    art = b.compile(keras_source(spec, model, tmp_path), dep, CompileContext(threads=Threads(1, 1)))
    x = _nhwc(data.x_test[:16])
    expected = np.asarray(model(x, training=False))
    runner = b.load(art, Threads(1, 1))
    np.testing.assert_allclose(runner(x), expected, rtol=1e-4, atol=1e-4)
    assert runner.meta["framework_threads"]["tensorflow"]["intra_op"] >= 1
    if dep.backend == "keras-xla":
        assert runner.meta["compiler"] == "XLA (tf.function jit_compile=True)"
    # the artifact is a .keras file that reloads on its own (what the memory worker does)
    assert art.path.suffix == ".keras" and art.size_bytes > 1000
    art.live = None
    reloaded = b.load(art, Threads(1, 1))
    np.testing.assert_allclose(reloaded(x), expected, rtol=1e-4, atol=1e-4)


def test_peak_memory_of_keras_and_litert_artifacts_in_the_worker(trained_keras, tmp_path):
    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    calib = [_nhwc(b) for b in data.calibration_batches(16)]
    with MemoryProbe() as probe:
        if not probe.supported:
            pytest.skip("needs Linux /proc")
        for name in ("keras-fp32", "litert-int8-static"):
            dep = Deployment.parse(name)
            art = get_backend(dep.backend).compile(src, dep, CompileContext(calibration=calib))
            peak, note = probe.measure(art, Threads(1, 1))
            assert note is None and peak is not None and peak > 0, (name, note)


def _model_with_a_python_call(keras, tf):
    """A custom layer that calls back into Python (tf.numpy_function) through a function it is
    given: XLA cannot compile it, and Keras cannot serialise the function into a .keras file."""

    class PythonCall(keras.layers.Layer):
        def __init__(self, fn, **kwargs):
            super().__init__(**kwargs)
            self.fn = fn

        def call(self, x):
            y = tf.numpy_function(self.fn, [x], tf.float32)
            return tf.reshape(y, tf.shape(x))

    inp = keras.Input((8, 8, 1), name="input")
    x = PythonCall(lambda a: a * np.float32(1.0), name="python_call")(
        keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    )
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="fc")(x))


def test_xla_falls_back_to_graph_mode_and_says_why(tmp_path):
    import keras
    import tensorflow as tf

    model = _model_with_a_python_call(keras, tf)
    src = ModelSource("keras", model, (8, 8, 1), tmp_path, layout="channels_last")
    b = get_backend("keras-xla")
    art = b.compile(src, Deployment("keras-xla", "fp32"), CompileContext())
    runner = b.load(art, Threads(1, 1))
    assert runner.meta["compiler"] == "tf.function graph mode (XLA could not compile the model)"
    assert runner.meta["xla_error"]
    assert runner(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)
    strict = Deployment("keras-xla", "fp32", (("jit_compile", True),))
    with pytest.raises(Exception):  # noqa: B017 - XLA's own error type
        b.load(b.compile(src, strict, CompileContext()), Threads(1, 1))


def test_a_model_keras_cannot_save_is_measured_without_memory(tmp_path):
    import keras
    import tensorflow as tf

    model = _model_with_a_python_call(keras, tf)
    src = ModelSource("keras", model, (8, 8, 1), tmp_path, layout="channels_last")
    art = get_backend("keras").compile(src, Deployment("keras", "fp32"), CompileContext())
    assert (
        art.path is None
        and "cannot be saved as .keras: NotImplementedError" in art.meta["no_file_reason"]
    )
    runner = get_backend("keras").load(art, Threads(1, 1))  # still runs in process
    assert runner(np.zeros((1, 8, 8, 1), np.float32)).shape == (1, 10)
    with MemoryProbe() as probe:
        peak, note = probe.measure(art, Threads(1, 1))
    assert peak is None and "cannot be saved" in note


def test_keras_to_onnx_matches_and_takes_nhwc(trained_keras, tmp_path):
    import onnx

    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    b = get_backend("onnxruntime")
    art = b.compile(src, Deployment("onnxruntime", "fp32"), CompileContext())
    graph = onnx.load(str(art.path)).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == [
        "logits"
    ]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [8, 8, 1] and isinstance(dims[0], str)  # NHWC, dynamic batch
    assert art.meta["onnx_exporter"].startswith("tf2onnx")
    x = _nhwc(data.x_test[:16])
    np.testing.assert_allclose(
        b.load(art, Threads(1, 1))(x), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("precision", ["int8-dynamic", "int8-static"])
def test_onnxruntime_int8_serves_keras_models(trained_keras, tmp_path, precision):
    from workbench.train import evaluate_keras

    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    ref = evaluate_keras(model, data.x_val, data.y_val)
    ctx = CompileContext(
        calibration=[_nhwc(b) for b in data.calibration_batches(64, batch=8)],
        x_val=_nhwc(data.x_val),
        y_val=data.y_val,
        reference_accuracy=ref,
        max_accuracy_drop=0.05,
        threads=Threads(1, 1),
    )
    b = get_backend("onnxruntime")
    art = b.compile(src, Deployment("onnxruntime", precision), ctx)
    assert art.meta["int8_tries"] and "val_accuracy" in art.meta["int8_tries"][0]
    acc = accuracy_of(b.load(art, Threads(1, 1)), _nhwc(data.x_test), data.y_test)
    assert abs(acc - evaluate_keras(model, data.x_test, data.y_test)) < 0.1


def test_an_op_tf2onnx_cannot_convert_fails_the_export_naming_it(tmp_path):
    import keras
    import tensorflow as tf

    class LogGamma(keras.layers.Layer):
        def call(self, x):
            return tf.math.lgamma(tf.abs(x) + 1.0)

    inp = keras.Input((16,), name="input")
    out = keras.layers.Dense(3, name="fc")(LogGamma(name="lgamma")(inp))
    src = ModelSource("keras", keras.Model(inp, out), (16,), tmp_path)
    with pytest.raises(DeploymentError) as info:
        get_backend("onnxruntime").compile(src, Deployment("onnxruntime", "fp32"), CompileContext())
    assert (
        info.value.stage == "export"
        and "Lgamma" in str(info.value)
        and "tf2onnx" in str(info.value)
    )
    assert not (tmp_path / "model.onnx").exists()
