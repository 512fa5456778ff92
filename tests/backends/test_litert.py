"""Real LiteRT: Keras to TFLite at every precision, run by ai-edge-litert's interpreter
(XNNPACK)."""

import numpy as np
import pytest

from tests.conftest import keras_source
from workbench import ConfigError, DeploymentError
from workbench.backends import CompileContext, Deployment, Threads, get_backend
from workbench.bench import accuracy_of

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytestmark = pytest.mark.keras


def _ctx(data, ref=None, **kw):
    x_val = data.x_val.transpose(0, 2, 3, 1)  # measure_deployments feeds each model its own layout
    calib = [b.transpose(0, 2, 3, 1) for b in data.calibration_batches(64, batch=8)]
    return CompileContext(
        calibration=calib,
        x_val=x_val,
        y_val=data.y_val,
        reference_accuracy=ref,
        threads=Threads(1, 1),
        **kw,
    )


@pytest.fixture(scope="module")
def compiled(trained_keras, tmp_path_factory):
    """Every LiteRT precision of the trained Keras model, compiled once for this module."""
    from workbench.train import evaluate_keras

    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path_factory.mktemp("litert"))
    ref = evaluate_keras(model, data.x_val, data.y_val)
    b = get_backend("litert")
    arts = {
        p: b.compile(src, Deployment("litert", p), _ctx(data, ref, max_accuracy_drop=0.05))
        for p in b.precisions
    }
    return arts, ref


def _tensor_types(path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    return it, {d["dtype"] for d in it.get_tensor_details()}


def test_fp32_matches_the_keras_model(trained_keras, compiled):
    _spec, model, data = trained_keras
    arts, _ = compiled
    runner = get_backend("litert").load(arts["fp32"], Threads(2, 1))
    x = data.x_test[:32].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(
        runner(x), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4
    )
    assert runner(x[:1]).shape == (1, 10)  # batch resized back and forth
    assert (
        runner.meta["delegate"].startswith("XNNPACK")
        and "num_threads=2" in runner.meta["interpreter"]
    )
    assert arts["fp32"].path.suffix == ".tflite" and arts["fp32"].meta["format"].startswith(
        "TFLite"
    )


def test_each_precision_is_what_it_says(compiled):
    arts, _ = compiled
    sizes = {p: a.size_bytes for p, a in arts.items()}
    # fp16 weights take about half the bytes; int8 weights about a quarter (plus graph overhead)
    assert sizes["fp16"] < 0.75 * sizes["fp32"]
    assert sizes["int8-dynamic"] < sizes["fp16"] and sizes["int8-static"] < sizes["fp16"]
    _, fp16_types = _tensor_types(arts["fp16"].path)
    assert np.float16 in fp16_types
    it, dyn_types = _tensor_types(arts["int8-dynamic"].path)
    assert np.int8 in dyn_types and np.float32 in dyn_types  # int8 weights, float activations
    assert "QUANTIZE" not in {o["op_name"] for o in it._get_ops_details()}
    it, _ = _tensor_types(arts["int8-static"].path)
    ops = {o["op_name"] for o in it._get_ops_details()}
    assert {"QUANTIZE", "DEQUANTIZE"} <= ops  # float model input/output around an integer graph
    inner = [d for d in it.get_tensor_details() if d["dtype"] == np.float32]
    io = {d["index"] for d in it.get_input_details() + it.get_output_details()}
    assert {d["index"] for d in inner} <= io, (
        "full-integer: only the model's input and output stay float"
    )


def test_int8_artifacts_have_their_own_accuracy_checked(trained_keras, compiled):
    _spec, model, data = trained_keras
    arts, ref = compiled
    from workbench.train import evaluate_keras

    float_acc = evaluate_keras(model, data.x_test, data.y_test)
    for p in ("int8-dynamic", "int8-static"):
        meta = arts[p].meta
        assert meta["int8_tries"] and "val_accuracy" in meta["int8_tries"][0]
        assert meta["int8_within_tolerance"] is (
            ref - meta["int8_tries"][-1]["val_accuracy"] <= 0.05
        )
        acc = accuracy_of(
            get_backend("litert").load(arts[p], Threads(1, 1)),
            data.x_test.transpose(0, 2, 3, 1),
            data.y_test,
        )
        assert abs(acc - float_acc) < 0.1  # a real, working int8 model
    assert arts["int8-static"].meta["calibration_samples"] == 64
    assert arts["int8-static"].meta["int8_scheme"]["label"] == "S8S8+per_channel"


def test_every_scheme_is_tried_when_none_meets_the_tolerance(trained_keras, tmp_path):
    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    art = get_backend("litert").compile(
        src, Deployment("litert", "int8-static"), _ctx(data, 2.0, max_accuracy_drop=0.0)
    )
    tries = art.meta["int8_tries"]
    assert [t["scheme"]["label"] for t in tries] == ["S8S8+per_channel", "S8S8"]
    assert art.meta["int8_within_tolerance"] is False
    best = max(t["val_accuracy"] for t in tries)
    assert any(t["scheme"] == art.meta["int8_scheme"] and t["val_accuracy"] == best for t in tries)
    assert art.path.exists() and not list(tmp_path.glob("*.try*.tflite"))


def test_integer_io_option(trained_keras, tmp_path):
    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    dep = Deployment.parse(
        {
            "backend": "litert",
            "precision": "int8-static",
            "options": {"io": "int8", "per_channel": True},
        }
    )
    art = get_backend("litert").compile(src, dep, _ctx(data))
    it, _ = _tensor_types(art.path)
    assert (
        it.get_input_details()[0]["dtype"] == np.int8
        and it.get_output_details()[0]["dtype"] == np.int8
    )
    runner = get_backend("litert").load(art, Threads(1, 1))
    acc = accuracy_of(runner, data.x_test.transpose(0, 2, 3, 1), data.y_test)
    assert acc > 0.8  # the runner quantizes float inputs with the model's own scale


def test_the_backend_refuses_what_it_cannot_serve():
    b = get_backend("litert")
    with pytest.raises(
        ConfigError,
        match=(
            "does not support precision 'bf16'; it supports: fp32, fp16, int8-dynamic, int8-static"
        ),
    ):
        b.check(Deployment("litert", "bf16"))
    with pytest.raises(ConfigError, match="cannot deploy torch models; it accepts: keras"):
        b.check(Deployment("litert", "fp32"), "torch")
    with pytest.raises(ConfigError, match="io: int8 needs precision int8-static"):
        b.check(Deployment("litert", "fp16", (("io", "int8"),)))
    with pytest.raises(ConfigError, match="has no option 'delegate'"):
        b.check(Deployment("litert", "fp32", (("delegate", "gpu"),)))


def _model_with_op_outside_tflite(keras, tf):
    """A user's model with a custom layer calling tf.math.asinh, which TFLite has no builtin for."""

    class Asinh(keras.layers.Layer):
        def call(self, x):
            return tf.math.asinh(x)

    inp = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = Asinh(name="asinh")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="fc")(x))


def test_an_op_tflite_lacks_fails_the_conversion_naming_it(tmp_path):
    import keras
    import tensorflow as tf

    from workbench.backends import ModelSource

    model = _model_with_op_outside_tflite(keras, tf)
    src = ModelSource("keras", model, (8, 8, 1), tmp_path, layout="channels_last")
    for precision in ("fp32", "int8-static"):
        with pytest.raises(DeploymentError) as info:
            get_backend("litert").compile(
                src,
                Deployment("litert", precision),
                CompileContext(calibration=[np.zeros((1, 8, 8, 1), np.float32)]),
            )
        assert info.value.stage == "convert"
        assert "Asinh" in str(info.value) and "not in the TFLite builtin op set" in str(info.value)
