"""MeasurementKey: the one parser of ``profile/framework/deployment`` keys."""

import pytest

from workbench import ConfigError
from workbench.bench import Measurement, MeasurementKey, measurement_key


def test_round_trip_reads_and_writes_todays_text():
    text = "x86-avx2/torch/onnxruntime-int8"
    key = MeasurementKey.parse(text)
    assert key == MeasurementKey("x86-avx2", "torch", "onnxruntime-int8")
    assert (key.profile, key.framework, key.deployment) == (
        "x86-avx2",
        "torch",
        "onnxruntime-int8",
    )
    assert str(key) == text
    assert MeasurementKey.parse(str(key)) == key
    assert measurement_key("x86-avx2", "torch", "onnxruntime-int8") == text
    assert key.variant == "torch/onnxruntime-int8"


def test_a_measurement_key_parses_back_to_its_parts():
    m = Measurement(profile="cpu", framework="keras", backend="tflite", precision="fp16")
    key = MeasurementKey.parse(m.key)
    assert key == ("cpu", "keras", "tflite-fp16")
    assert str(key) == m.key


def test_a_deployment_without_a_slash_is_the_whole_third_part():
    key = MeasurementKey.parse("pi4/keras/keras-fp32")
    assert key.deployment == "keras-fp32"
    assert "/" not in key.deployment
    # anything after the second slash stays in the deployment, as stored keys always read
    assert MeasurementKey.parse("pi4/keras/a/b").deployment == "a/b"


@pytest.mark.parametrize(
    "bad", ["", "cpu", "cpu/torch", "cpu//torch-fp32", "/torch/torch-fp32", "cpu/torch/", None]
)
def test_malformed_keys_raise_one_line_config_errors(bad):
    with pytest.raises(ConfigError) as err:
        MeasurementKey.parse(bad)
    message = str(err.value)
    assert "profile/framework/deployment" in message and "\n" not in message
    assert repr(bad) in message


def test_variant_labels():
    assert MeasurementKey.parse_variant("torch/torch-fp32") == ("torch", "torch-fp32")
    for bad in ("torch", "/torch-fp32", "torch/"):
        with pytest.raises(ConfigError, match="framework/deployment"):
            MeasurementKey.parse_variant(bad)
