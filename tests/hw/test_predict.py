"""The roofline predictor: per-layer arithmetic, fusion, ONNX-graph costs, user modules and
footprints."""

import math

import pytest

from workbench import ConfigError
from workbench.arch import (
    ArchSpec,
    ConvBN,
    Dense,
    InvertedResidual,
    cost_summary,
    mobilenet_v2,
    resnet18,
)
from workbench.hw import (
    OpRecord,
    PredictorParams,
    default_params,
    estimate_footprint,
    load_profile,
    ops_from_spec,
    predict_latency,
    predict_ops,
    tensor_arena_bytes,
)
from workbench.hw._predict import reduction_factor


def _params(**over):
    base = dict(
        peak_gops=100.0,
        bandwidth_gbs=10.0,
        lanes=1,
        efficiency={
            "conv": 0.5,
            "pwconv": 0.5,
            "dwconv": 0.25,
            "linear": 0.5,
            "pool": 1.0,
            "eltwise": 1.0,
            "memory": 1.0,
        },
        overhead_us={
            "conv": 1.0,
            "pwconv": 1.0,
            "dwconv": 1.0,
            "linear": 1.0,
            "pool": 1.0,
            "eltwise": 1.0,
        },
        call_us=10.0,
        fuses=True,
        k_half=0.0,
    )
    base.update(over)
    return PredictorParams(**base)


def test_compute_bound_layer_time_is_ops_over_peak_times_efficiency():
    # 1e6 MACs = 2e6 ops at 100 GOPS x 0.5 -> 40 us; 1000 fp32 elements moved -> 0.4 us at 10 GB/s
    op = OpRecord(
        "c",
        "conv",
        macs=1_000_000,
        input_elems=500,
        output_elems=500,
        params=0,
        out_channels=8,
        reduction=100,
    )
    p = predict_ops([op], _params(), "fp32")
    assert p.latency_ms == pytest.approx((10 + 1 + 40) / 1000)
    assert p.compute_bound_layers == 1 and p.memory_bound_layers == 0


def test_memory_bound_layer_time_is_bytes_over_bandwidth():
    # few MACs, many bytes: (1e6 + 1e6) fp32 elements = 8 MB at 10 GB/s = 800 us
    op = OpRecord(
        "c",
        "conv",
        macs=1000,
        input_elems=1_000_000,
        output_elems=1_000_000,
        out_channels=8,
        reduction=1,
    )
    p = predict_ops([op], _params(), "fp32")
    assert p.latency_ms == pytest.approx((10 + 1 + 800) / 1000)
    assert p.memory_bound_layers == 1
    # int8 moves a quarter of the bytes
    assert predict_ops([op], _params(), "int8-static").latency_ms == pytest.approx(
        (10 + 1 + 200) / 1000
    )


def test_fusing_runtimes_skip_batchnorm_and_relu_but_eager_pays_for_them():
    bn = OpRecord("bn", "eltwise", input_elems=250_000, output_elems=250_000, fusable=True)
    silu = OpRecord("silu", "eltwise", input_elems=250_000, output_elems=250_000, fusable=False)
    fused = predict_ops([bn, silu], _params(fuses=True), "fp32").latency_ms
    eager = predict_ops([bn, silu], _params(fuses=False), "fp32").latency_ms
    assert fused == pytest.approx((10 + 1 + 200) / 1000)  # only the SiLU: 2 MB at 10 GB/s
    assert eager == pytest.approx((10 + 2 * 201) / 1000)


def test_lane_padding_and_short_reductions_cost_extra():
    op = OpRecord("c", "conv", macs=1_000_000, out_channels=17, reduction=64)
    base = predict_ops([op], _params(lanes=1), "fp32").latency_ms
    padded = predict_ops([op], _params(lanes=16), "fp32").latency_ms  # 17 channels occupy 32 lanes
    assert (padded - 0.011) == pytest.approx((base - 0.011) * 32 / 17)
    assert reduction_factor(op, 64.0) == pytest.approx(0.5)
    assert reduction_factor(OpRecord("d", "dwconv", macs=10, reduction=9), 64.0) == 1.0


def test_bigger_models_take_longer_on_every_profile():
    small = ArchSpec((3, 32, 32), 10, (ConvBN(16, 3, 2), InvertedResidual(24, 4, 3, 2)))
    big = ArchSpec(
        (3, 64, 64),
        10,
        (ConvBN(32, 3, 2), InvertedResidual(48, 6, 3, 2), InvertedResidual(48, 6, 3, 1)),
    )
    for name in (
        "x86-server-avx512",
        "raspberry-pi-4",
        "raspberry-pi-5",
        "jetson-orin-nano",
        "coral-edgetpu",
        "cortex-m7",
        "nvidia-h100",
    ):
        a = predict_latency(small, name).latency_ms
        b = predict_latency(big, name).latency_ms
        assert 0 < a < b, name


def test_devices_rank_as_their_datasheets_say():
    spec = mobilenet_v2((3, 224, 224), 1000)
    ms = {
        n: predict_latency(spec, n).latency_ms
        for n in ("cortex-m7", "raspberry-pi-4", "raspberry-pi-5", "nvidia-h100")
    }
    assert ms["cortex-m7"] > ms["raspberry-pi-4"] > ms["raspberry-pi-5"] > ms["nvidia-h100"]
    # a Raspberry Pi 5 runs MobileNetV2 int8 in milliseconds, not microseconds or seconds
    assert 1.0 < ms["raspberry-pi-5"] < 100.0


def test_simulated_predictions_say_they_are_not_validated():
    p = predict_latency(resnet18((3, 64, 64), 10), "nvidia-h100")
    assert p.trust["calibrated"] is False and p.trust["validated_on_device"] is False
    assert "not validated" in p.trust["basis"]
    assert "NVIDIA H100 data sheet" in p.params.basis


def test_default_params_come_from_the_profile():
    prof = load_profile("raspberry-pi-5")
    p = default_params(prof, "litert", "int8-static")
    assert p.peak_gops == pytest.approx(614.4)  # all 4 cores of the Pi's 4 are used
    assert p.bandwidth_gbs == pytest.approx(17.1)
    assert p.lanes == 4 and p.fuses
    assert p.efficiency["conv"] == prof.predictor.efficiency["conv"].value
    server = default_params(load_profile("x86-server-avx512"), "onnxruntime", "fp32")
    assert server.peak_gops == pytest.approx(5888 * 8 / 40)  # 8 threads of 40 cores


def test_spec_ops_cover_every_mac():
    spec = resnet18((3, 64, 64), 10)
    ops = ops_from_spec(spec)
    assert sum(o.macs for o in ops) == cost_summary(spec).macs
    kinds = {o.kind for o in ops}
    assert {"conv", "pwconv", "eltwise", "pool", "linear"} <= kinds
    assert all(o.fusable for o in ops if o.source_op == "bn")


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_onnx_graph_costs_match_the_spec_and_predict_the_same(tmp_path):
    from workbench.arch import build_torch
    from workbench.backends import ModelSource
    from workbench.hw import ops_from_onnx

    spec = ArchSpec(
        (3, 32, 32),
        10,
        (ConvBN(16, 3, 2), InvertedResidual(24, 4, 3, 2), InvertedResidual(24, 4, 5, 1)),
        head_dropout=0.1,
    )
    src = ModelSource(
        "torch", build_torch(spec, seed=0), spec.input_shape, tmp_path, onnx_exporter="torchscript"
    )
    path = src.onnx_path()
    ops = ops_from_onnx(str(path))
    assert sum(o.macs for o in ops) == cost_summary(spec).macs
    assert sorted(o.kind for o in ops if o.macs) == sorted(
        o.kind for o in ops_from_spec(spec) if o.macs
    )
    for profile in ("x86-server-avx512", "jetson-orin-nano"):
        from_spec = predict_latency(spec, profile).latency_ms
        from_graph = predict_latency(str(path), profile).latency_ms
        assert from_graph == pytest.approx(from_spec, rel=0.05), profile


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_a_users_own_module_is_predicted_through_its_onnx_graph():
    import torch

    from workbench.hw._predict import _ops_of

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
    )
    # Expected MACs from the module's own layer shapes, independently of the ONNX graph:
    # Linear in*out; Conv k*k*cin/groups*cout*hout*wout, with hout/wout seen by a forward hook.
    out_hw: dict[torch.nn.Module, tuple[int, int]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: out_hw.__setitem__(mod, out.shape[-2:]))
        for m in model
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    expected = {"conv": 0, "linear": 0}
    for m in model:
        if isinstance(m, torch.nn.Conv2d):
            kh, kw = m.kernel_size
            hout, wout = out_hw[m]
            cin_per_group = m.in_channels // m.groups
            expected["conv"] += kh * kw * cin_per_group * m.out_channels * hout * wout
        elif isinstance(m, torch.nn.Linear):
            expected["linear"] += m.in_features * m.out_features
    assert expected == {"conv": 64 * 64 * 32 * 3 * 9 + 32 * 32 * 64 * 32 * 9, "linear": 640}

    # The records the predictor costs (the module exported to ONNX) carry exactly those MACs;
    # ReLU, the global average pool and the flatten carry none.
    ops = _ops_of(model, (3, 64, 64))
    got = {kind: sum(o.macs for o in ops if o.kind == kind) for kind in expected}
    assert got == expected
    assert sum(o.macs for o in ops) == sum(expected.values())

    p = predict_latency(model, "raspberry-pi-5", input_shape=(3, 64, 64))
    assert sum(1 for layer in p.layers if layer["kind"] == "conv") == 2
    assert p.latency_ms > 0
    # The module's prediction is the prediction of those records.
    assert p.latency_ms == predict_latency(ops, "raspberry-pi-5").latency_ms
    with pytest.raises(ConfigError, match="input_shape"):
        predict_latency(model, "raspberry-pi-5")


def test_onnx_file_errors_are_one_line(tmp_path):
    from workbench.hw import ops_from_onnx

    with pytest.raises(ConfigError, match="ONNX file not found"):
        ops_from_onnx(str(tmp_path / "missing.onnx"))


def test_tensor_arena_is_peak_live_int8_activations_plus_scratch():
    # input 3x32x32 -> conv 16 (s1) -> 16x32x32: live = 3*1024 + 16*1024 bytes at int8
    spec = ArchSpec((3, 32, 32), 10, (ConvBN(16, 3, 1),))
    arena = tensor_arena_bytes(spec)
    assert arena["activations"] == (3 + 16) * 32 * 32
    assert arena["scratch"] == 2 * 3 * 9 * 2  # CMSIS-NN im2col buffer: 2 columns of C_in*k*k int16
    assert arena["total"] == arena["activations"] + arena["scratch"] + arena["persistent"]
    assert arena["persistent"] >= 16 * 8


def test_microcontroller_footprint_checks_sram_and_flash():
    m7 = load_profile("cortex-m7")
    small = ArchSpec((1, 32, 32), 10, (ConvBN(8, 3, 2), InvertedResidual(16, 2, 3, 2)))
    big = ArchSpec((3, 224, 224), 10, (ConvBN(32, 3, 1), ConvBN(64, 3, 1)))
    fs, fb = (
        estimate_footprint(small, m7, "int8-static"),
        estimate_footprint(big, m7, "int8-static"),
    )
    sram = m7.sram_kb.value * 1024
    assert (
        fs.arena["total"] < sram < fb.arena["total"]
    )  # 224x224x(32+64) int8 activations do not fit 512 KB
    assert fs.peak_ram_bytes == fs.arena["total"] and fs.flash_bytes > fs.model_file_bytes
    assert fs.model_file_bytes >= cost_summary(small).params  # one byte per int8 weight at least


def test_footprint_on_an_os_device_counts_weights_activations_and_runtime():
    pi = load_profile("raspberry-pi-4")
    spec = ArchSpec((64,), 10, (Dense(1000),))
    fp = estimate_footprint(spec, pi, "fp32")
    weights = (64 * 1000 + 1000 + 1000 * 10 + 10) * 4
    assert fp.peak_ram_bytes > weights and fp.arena is None
    assert math.isclose(fp.model_file_bytes, weights + 2 * 256 + 2048, rel_tol=0.05)
