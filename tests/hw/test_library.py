"""The shipped profile library: every profile validates, every number names its source."""

import pytest

from tests.conftest import REPO
from workbench import ConfigError
from workbench.hw import DEVICE_BACKENDS, list_profiles, load_profile

EXPECTED = {
    "host-cpu": ("measured", "cpu"),
    "x86-server-avx512": ("simulated", "cpu"),
    "raspberry-pi-4": ("simulated", "cpu"),
    "raspberry-pi-5": ("simulated", "cpu"),
    "jetson-orin-nano": ("simulated", "gpu"),
    "coral-edgetpu": ("simulated", "tpu"),
    "cortex-m7": ("simulated", "mcu"),
    "nvidia-h100": ("simulated", "gpu"),
}


def test_the_library_holds_the_eight_profiles():
    found = {p.name: (p.kind, p.device) for p in list_profiles()}
    for name, kind in EXPECTED.items():
        assert found.get(name) == kind, name
    assert len(list(REPO.joinpath("hwprofiles").glob("*.yaml"))) >= 8


@pytest.mark.parametrize("name", sorted(n for n, (k, _) in EXPECTED.items() if k == "simulated"))
def test_every_simulated_number_names_its_source(name):
    p = load_profile(name)
    sources = p.sources()
    assert sources, name
    for field, source in sources.items():
        assert source != "unspecified" and len(source) > 10, (name, field)
        if source.lower().startswith(("estimate", "assumption")):
            assert ":" in source, (name, field)  # an estimate says what it is based on
    # numbers the predictor needs
    assert p.memory_bandwidth_gbs is not None and p.deploy is not None
    for prec in p.precisions:
        assert p.peak(prec) is not None, (name, prec)
    assert p.deploy.precision in p.precisions


def test_the_microcontroller_has_memory_limits_and_the_tpu_is_int8_only():
    m7 = load_profile("cortex-m7")
    assert m7.sram_kb.value == 512 and m7.flash_kb.value == 2048
    assert m7.deploy.backend == "litert" and m7.precisions == ("int8-static",)
    assert "tflite" in m7.deploy.format.lower()
    tpu = load_profile("coral-edgetpu")
    assert tpu.precisions == ("int8-static",)
    assert load_profile("nvidia-h100").deploy.format.startswith("onnx")
    assert load_profile("jetson-orin-nano").deploy.format.startswith("onnx")


def test_profiles_round_trip_through_dicts():
    from workbench.hw import HardwareProfile

    for p in list_profiles():
        assert HardwareProfile.from_dict(p.to_dict()).to_dict() == p.to_dict(), p.name


def _write(tmp_path, text, name="dev.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


_SIM = (
    "kind: simulated\nbackends: [onnxruntime]\nprecisions: [fp32]\npeak_gops: {fp32: 10}\n"
    "memory_bandwidth_gbs: 5\ndeploy: {backend: onnxruntime, precision: fp32, format: onnx}\n"
)


def test_a_users_simulated_profile_loads(tmp_path, monkeypatch):
    _write(
        tmp_path,
        _SIM + "predictor:\n  efficiency: {conv: {value: 0.3, source: 'estimate: my guess'}}\n",
    )
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path))
    p = load_profile("dev")
    assert not p.measured and p.predictor.efficiency["conv"].value == 0.3
    assert p.sources()["predictor.efficiency.conv"] == "estimate: my guess"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _SIM.replace("peak_gops: {fp32: 10}\n", ""),
            "dev.yaml: peak_gops: a simulated profile needs the peak rate of each precision it "
            "lists; add peak_gops.fp32",
        ),
        (
            _SIM.replace("memory_bandwidth_gbs: 5\n", ""),
            "dev.yaml: memory_bandwidth_gbs: missing; a simulated profile needs it",
        ),
        (
            _SIM + "predictor: {efficiency: {attention: 0.5}}\n",
            "dev.yaml:7: predictor.efficiency.attention: unknown op type; expected one of: conv, "
            "pwconv",
        ),
        (
            _SIM + "predictor: {efficiency: {conv: 1.5}}\n",
            "dev.yaml:7: predictor.efficiency.conv: expected a fraction of peak in (0, 1], got 1.5",
        ),
        (
            _SIM + "predictor: {layer_overhead: 3}\n",
            "dev.yaml:7: predictor.layer_overhead: unknown key",
        ),
        (
            _SIM.replace("precision: fp32, format", "precision: int8-static, format"),
            "deploy: precision 'int8-static' is not in this profile's precisions",
        ),
        (
            _SIM.replace("peak_gops: {fp32: 10}", "peak_gops: {fp32: {value: 10, source: ''}}"),
            "dev.yaml:4: peak_gops.fp32: expected a positive number or {value: number, source: "
            "text}",
        ),
        (
            "kind: simulated\nbackends: [tensorrt]\n",
            "dev.yaml:2: backends[0]: expected a backend name",
        ),
    ],
)
def test_bad_profiles_are_refused_with_one_line(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_profile(_write(tmp_path, text))
    msg = str(info.value)
    assert expected in msg, msg
    assert "\n" not in msg


def test_a_simulated_device_may_name_a_runtime_this_installation_lacks(tmp_path):
    from workbench.backends import backend_names

    # litert is a device runtime every simulated profile may name; a measured one must have it
    # registered
    p = load_profile(_write(tmp_path, _SIM.replace("[onnxruntime]", "[onnxruntime, litert]")))
    assert "litert" in p.backends and "litert" in DEVICE_BACKENDS
    if "litert" not in backend_names():
        with pytest.raises(ConfigError, match="backends\\[0\\]: expected a backend name"):
            load_profile(_write(tmp_path, "kind: measured\nbackends: [litert]\n", name="m.yaml"))
