"""Bring your own model from Python: the same deployments, measurements and report."""

import pytest

import workbench

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]


def test_benchmark_a_users_module(trained_cnn, tmp_path):
    _spec, model, data = trained_cnn
    res = workbench.benchmark(
        model,
        data=data,
        out=tmp_path,
        name="mine",
        memory=False,
        measure={"max_time_s": 0.1, "min_time_s": 0.0, "min_repeats": 5},
    )
    by = res.by_deployment()
    assert list(by) == [
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-dynamic",
        "onnxruntime-int8-static",
    ]
    assert all(m.ok and m.latency.n >= 5 and m.accuracy is not None for m in res.measurements)
    # the eager baseline's accuracy is the float model's
    assert by["torch-fp32"].accuracy == pytest.approx(res.float_accuracy)
    assert res.report_path.exists() and "Benchmark: mine" in res.report_path.read_text()
    table = res.table()
    assert "ratio vs torch-fp32" in table and "1.00x" in table


def test_benchmark_refuses_unknown_shapes_and_mismatched_data(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(workbench.ConfigError, match="input shape is unknown"):
        workbench.benchmark(net, out=tmp_path)
    with pytest.raises(
        workbench.DataError, match=r"the data's inputs are \(1, 8, 8\) but the model takes \(64,\)"
    ):
        workbench.benchmark(net, input_shape=(64,), data="digits", out=tmp_path)


def test_benchmark_without_data_says_what_is_missing(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    res = workbench.benchmark(
        net,
        input_shape=(1, 8, 8),
        out=tmp_path,
        memory=False,
        measure={"max_time_s": 0.05, "min_time_s": 0.0, "min_repeats": 3},
        deployments=["onnxruntime-int8-static"],
    )
    assert res.measurements[0].ok and res.measurements[0].accuracy is None
    assert any("random normal inputs" in n for n in res.notes)


def test_benchmark_data_names_the_built_in_sources():
    from workbench._api import _resolve_data

    assert _resolve_data("shapes", None).input_shape == (3, 32, 32)
    assert _resolve_data("digits", None).input_shape == (1, 8, 8)
    with pytest.raises(workbench.ConfigError, match="digits, shapes, synthetic"):
        _resolve_data("imagenet", None)
