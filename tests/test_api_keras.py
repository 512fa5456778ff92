"""Bring your own Keras model: every TensorFlow-side deployment, failures kept as data."""

import pytest

import workbench

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")
pytestmark = [pytest.mark.keras, pytest.mark.onnxruntime]

QUICK = {"max_time_s": 0.05, "min_time_s": 0.0, "min_repeats": 5}


def _users_model(with_asinh):
    """A user's own Keras CNN, optionally with a custom layer calling tf.math.asinh.

    tf.math.asinh has no TFLite builtin."""
    import keras
    import tensorflow as tf

    class Asinh(keras.layers.Layer):
        def call(self, x):
            return tf.math.asinh(x)

    inp = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    if with_asinh:
        x = Asinh(name="asinh")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="fc")(x), name="users_cnn")


def test_benchmark_a_users_keras_model(trained_keras, tmp_path):
    _spec, model, data = trained_keras
    res = workbench.benchmark(
        model, data=data, out=tmp_path, name="mine", memory=False, measure=QUICK
    )
    by = res.by_deployment()
    assert list(by) == [
        "keras-fp32",
        "keras-xla-fp32",
        "litert-fp32",
        "litert-fp16",
        "litert-int8-dynamic",
        "litert-int8-static",
        "onnxruntime-fp32",
        "onnxruntime-int8-dynamic",
        "onnxruntime-int8-static",
    ]
    assert all(m.ok and m.latency.n >= 5 and m.accuracy is not None for m in res.measurements), (
        res.table()
    )
    assert by["keras-fp32"].accuracy == pytest.approx(res.float_accuracy)
    receipt = by["litert-int8-static"].receipt
    assert (
        receipt["input_shape"] == [1, 8, 8, 1] and receipt["input_layout"] == "NHWC"
    )  # what was fed
    assert "ratio vs keras-fp32" in res.table()
    foot = by["litert-fp32"].meta["runtime_footprint"]
    assert (
        foot["runtime"]["label"].startswith("installed size of ai-edge-litert")
        and foot["runtime"]["bytes"] > 0
    )
    assert (
        "tensorflow" in foot["framework"]["label"]
        and foot["framework"]["bytes"] > foot["runtime"]["bytes"]
    )


def test_an_op_litert_lacks_fails_those_deployments_only(tmp_path, digits):
    model = _users_model(with_asinh=True)
    deps = ["keras-fp32", "litert-fp32", "litert-int8-static", "onnxruntime-fp32"]
    res = workbench.benchmark(
        model, data=digits, out=tmp_path, memory=False, measure=QUICK, deployments=deps
    )
    by = res.by_deployment()
    for name in ("litert-fp32", "litert-int8-static"):
        assert not by[name].ok and by[name].stage == "convert"
        assert "Asinh" in by[name].error and "builtin op set" in by[name].error
    assert by["keras-fp32"].ok and by["onnxruntime-fp32"].ok  # tf2onnx converts Asinh
    assert (
        by["onnxruntime-fp32"].latency is not None and by["onnxruntime-fp32"].accuracy is not None
    )
    assert "FAILED at convert" in res.table()


def test_a_keras_model_without_data_takes_its_own_input_shape(tmp_path):
    res = workbench.benchmark(
        _users_model(with_asinh=False),
        out=tmp_path,
        memory=False,
        measure=QUICK,
        deployments=["litert-fp32", "keras-fp32"],
    )
    assert res.input_shape == (1, 8, 8)  # the data layout (channels first), read from the model
    assert all(m.ok and m.accuracy is None for m in res.measurements)
    assert res.measurements[0].receipt["input_shape"] == [1, 8, 8, 1]


def test_a_saved_keras_file_is_a_model_reference(tmp_path, digits):
    model = _users_model(with_asinh=False)
    path = tmp_path / "cnn.keras"
    model.save(str(path))
    res = workbench.benchmark(
        str(path),
        data=digits,
        out=tmp_path,
        memory=False,
        measure=QUICK,
        deployments=["keras-fp32"],
    )
    assert res.framework == "keras" and res.measurements[0].ok


def test_mismatched_keras_input_is_refused(tmp_path):
    with pytest.raises(
        workbench.DataError, match=r"channels first\) but the Keras model takes \(8, 8, 1\)"
    ):
        workbench.benchmark(
            _users_model(with_asinh=False), data="synthetic", input_shape=(3, 8, 8), out=tmp_path
        )
