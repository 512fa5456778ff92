"""Real OpenVINO (and NNCF) on digits: fp32, bf16 and int8 artifacts, refusals, a tiny study."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests._runs import wb
from tests.conftest import REPO, tiny_config_dict
from workbench import ConfigError, _host
from workbench.backends import (
    CompileContext,
    Deployment,
    ModelSource,
    Threads,
    accuracy_of,
    get_backend,
)
from workbench.backends._openvino import bf16_supported

pytest.importorskip("openvino")
pytestmark = [pytest.mark.openvino, pytest.mark.torch]

#: accuracy (fraction of the digits test split) bf16 and int8 artifacts may lose to fp32
TOLERANCE = 0.05


def _with_flags(monkeypatch, flags):
    """This host as if its CPU had exactly ``flags`` (the one place the flags are read)."""
    info = dataclasses.replace(_host.host_info(), isa_flags=tuple(flags))
    monkeypatch.setattr(_host, "host_info", lambda: info)


def _ctx(data, ref):
    return CompileContext(
        calibration=data.calibration_batches(64, batch=8),
        x_val=data.x_val,
        y_val=data.y_val,
        reference_accuracy=ref,
        max_accuracy_drop=TOLERANCE,
        threads=Threads(1, 1),
        isa_flags=_host.host_info().isa_flags,
    )


@pytest.fixture(scope="module")
def compiled(trained_cnn, tmp_path_factory):
    """The trained CNN compiled to every OpenVINO precision this host runs: {precision: art}."""
    from workbench.train import evaluate_torch

    spec, model, data = trained_cnn
    src = ModelSource(
        "torch", model, spec.input_shape, tmp_path_factory.mktemp("ov"), onnx_exporter="torchscript"
    )
    ctx = _ctx(data, evaluate_torch(model, data.x_val, data.y_val))
    b = get_backend("openvino")
    precisions = ["fp32", "int8"] + (["bf16"] if bf16_supported() else [])
    return {p: b.compile(src, Deployment("openvino", p), ctx) for p in precisions}


def test_fp32_matches_torch_and_the_receipt_says_what_ran(trained_cnn, compiled):
    import torch

    _spec, model, data = trained_cnn
    art = compiled["fp32"]
    assert {f.name for f in art.path.iterdir()} == {"model.xml", "model.bin"}
    assert art.size_bytes and art.size_bytes > 1000
    runner = get_backend("openvino").load(art, Threads(1, 1))
    x = data.x_test[:32]
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(runner(x), expected, rtol=1e-4, atol=1e-4)
    import openvino

    meta = runner.meta
    assert meta["openvino_version"] == openvino.get_version()
    assert (
        meta["openvino_precision_hint"] == "f32" and meta["openvino_inference_precision"] == "f32"
    )
    assert meta["openvino_runtime_precision"] == {"f32": sum(meta["openvino_kernels"].values())}
    assert meta["openvino_threads"] == 1 and meta["openvino_streams"] == 1


def test_bf16_follows_the_cpu_flags(trained_cnn, compiled):
    _spec, model, data = trained_cnn
    from workbench.train import evaluate_torch

    b = get_backend("openvino")
    if not bf16_supported():  # this host: the refusal is the behaviour
        with pytest.raises(ConfigError, match="cannot run bf16 on this host"):
            b.check(Deployment("openvino", "bf16"))
        return
    runner = b.load(compiled["bf16"], Threads(1, 1))
    assert runner.meta["openvino_inference_precision"] == "bf16"
    assert "bf16" in runner.meta["openvino_runtime_precision"]
    fp32 = evaluate_torch(model, data.x_test, data.y_test)
    assert abs(accuracy_of(runner, data.x_test, data.y_test) - fp32) <= TOLERANCE


def test_int8_keeps_the_faster_candidate_within_tolerance(trained_cnn, compiled):
    _spec, model, data = trained_cnn
    from workbench.train import evaluate_torch

    art = compiled["int8"]
    meta = art.meta
    tries = {t["source"]: t for t in meta["int8_tries"]}
    assert set(tries) == {"nncf", "qdq"}
    for t in tries.values():
        assert (
            t["p50_ms"] > 0
            and 0 < t["val_accuracy"] <= 1
            and "u8" in str(t["openvino_runtime_precision"])
        )
    ref = evaluate_torch(model, data.x_val, data.y_val)
    good = [k for k, t in tries.items() if ref - t["val_accuracy"] <= TOLERANCE]
    assert meta["int8_within_tolerance"] == bool(good)
    if good:
        assert meta["int8_source"] == min(good, key=lambda k: tries[k]["p50_ms"])
    runner = get_backend("openvino").load(art, Threads(1, 1))
    assert set(runner.meta["openvino_runtime_precision"]) & {"u8", "i8"}
    fp32 = evaluate_torch(model, data.x_test, data.y_test)
    assert abs(accuracy_of(runner, data.x_test, data.y_test) - fp32) <= TOLERANCE
    assert not list(art.path.glob("*.nncf.*")) and not list(art.path.glob("*.qdq*"))


def test_an_artifact_reloads_in_a_fresh_process(trained_cnn, compiled, tmp_path):
    _spec, _model, data = trained_cnn
    art = compiled["int8"]
    x = data.x_test[:8]
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "art.json").write_text(json.dumps(art.to_dict(), default=str))
    script = textwrap.dedent(
        f"""
        import json, sys, numpy as np
        from workbench.backends import Artifact, Threads, get_backend
        art = Artifact.from_dict(json.load(open({str(tmp_path / "art.json")!r})))
        out = get_backend("openvino").load(art, Threads(1, 1))(np.load({str(tmp_path / "x.npy")!r}))
        np.save({str(tmp_path / "y.npy")!r}, out)
        print("torch" in sys.modules)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"  # no model code, no torch
    here = get_backend("openvino").load(art, Threads(1, 1))(x)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), here, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flags", [("avx2", "fma"), ("avx2", "avx512f", "avx512_bf16")])
def test_bf16_refusal_is_chosen_from_the_flags(monkeypatch, flags):
    _with_flags(monkeypatch, flags)
    b = get_backend("openvino")
    if "avx512_bf16" in flags:
        assert bf16_supported()
        b.check(Deployment("openvino", "bf16"))
        return
    assert not bf16_supported()
    with pytest.raises(ConfigError) as err:
        b.check(Deployment("openvino", "bf16"))
    assert "\n" not in str(err.value)
    assert str(err.value) == (
        "backend 'openvino' cannot run bf16 on this host: its CPU flags show neither "
        "avx512_bf16 nor amx_bf16"
    )


def test_refused_pairs_are_named_at_config_validation(monkeypatch, tmp_path):
    import yaml

    from workbench.study import load_config

    def config(deployments):
        p = tmp_path / "ov.yaml"
        p.write_text(yaml.safe_dump(tiny_config_dict("ov", deployments=deployments)))
        return p

    with pytest.raises(ConfigError, match="does not support precision 'fp16'; it supports: fp32"):
        get_backend("openvino").check(Deployment("openvino", "fp16"))
    _with_flags(monkeypatch, ("avx2", "fma"))  # an AVX2-only machine: no avx512 at all
    with pytest.raises(ConfigError, match=r"deployments\[1\].*cannot run bf16 on this host"):
        load_config(config(["torch-fp32", "openvino-bf16"]))
    _with_flags(monkeypatch, ("avx2", "avx512f", "avx512_bf16"))
    cfg = load_config(config(["torch-fp32", "openvino-bf16", "openvino-int8"]))
    assert [d.name for d in cfg.deployments] == ["torch-fp32", "openvino-bf16", "openvino-int8"]


def test_a_missing_openvino_is_named_with_its_install_hint(tmp_path):
    import yaml

    cfg = tmp_path / "ov.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config_dict("ov", deployments=["openvino-fp32"])))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["openvino"] = None  # as if the package were not installed
        from workbench.study import load_config
        try:
            load_config({str(cfg)!r})
        except Exception as err:
            print(type(err).__name__, err)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.startswith("ConfigError") and len(r.stdout.strip().splitlines()) == 1
    assert "pip install 'workbench-nas[openvino]'" in r.stdout


@pytest.mark.slow
@pytest.mark.onnxruntime
def test_a_tiny_study_with_openvino_deployments_runs_end_to_end(tmp_path):
    import yaml

    (tmp_path / "ov.yaml").write_text(
        yaml.safe_dump(
            tiny_config_dict(
                "ov",
                study={
                    "name": "ov",
                    "sampler": "random",
                    "seed": 0,
                    "trials": 1,
                    "objectives": ["accuracy", "latency"],
                },
                deployments=["torch-fp32", "openvino-fp32", "openvino-int8"],
            )
        )
    )
    env = {"PYTHONPATH": str(REPO)}
    r = wb("run", "ov.yaml", "--no-memory", cwd=tmp_path, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    j = wb("show", "ov", "--json", cwd=tmp_path, env=env)
    data = json.loads(j.stdout)
    assert data["n_complete"] == 1
    assert {"host-cpu/torch/openvino-fp32", "host-cpu/torch/openvino-int8"} <= set(data["fronts"])

    # the artifact is a folder: stored as one zip, exported and reproduced as the folder again
    from workbench.check._baseline import load_study_results
    from workbench.study._export import FOLDER_LAYOUT

    res = load_study_results(f"sqlite:///{tmp_path / 'runs' / 'workbench.db'}", "ov")
    (trial,) = res.trials
    m = next(x for x in trial.measurements() if x.deployment == "openvino-fp32")
    assert m.meta["artifact_layout"] == FOLDER_LAYOUT and m.meta["artifact_id"]
    exported = sorted((tmp_path / "runs" / "ov" / "pareto").glob("*openvino-fp32*"))
    folder = next(p for p in exported if p.is_dir())
    assert sorted(x.name for x in folder.iterdir()) == ["model.bin", "model.xml"]
    r = wb(
        "reproduce",
        "ov",
        "0",
        "--json",
        "--latency-tolerance",
        "1",
        cwd=tmp_path,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (rep,) = json.loads(r.stdout)["trials"]
    ov = next(d for d in rep["deployments"] if d["key"].endswith("openvino-fp32"))
    assert ov["accuracy_verdict"] == "exact" and ov["stored_p50_ms"] > 0


@pytest.mark.keras
@pytest.mark.onnxruntime
def test_keras_models_deploy_through_their_onnx_export(trained_keras, tmp_path):
    pytest.importorskip("tf2onnx")
    from tests.conftest import keras_source
    from workbench.train import evaluate_keras

    spec, model, data = trained_keras
    src = keras_source(spec, model, tmp_path)
    b = get_backend("openvino")
    fp32 = b.load(b.compile(src, Deployment("openvino", "fp32"), CompileContext()), Threads(1, 1))
    x = data.x_test[:16].transpose(0, 2, 3, 1)  # the Keras model takes NHWC
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(fp32(x), expected, rtol=1e-4, atol=1e-4)
    ctx = CompileContext(
        calibration=[src.feed(b) for b in data.calibration_batches(64, batch=8)],
        x_val=src.feed(data.x_val),
        y_val=data.y_val,
        reference_accuracy=evaluate_keras(model, data.x_val, data.y_val),
        max_accuracy_drop=TOLERANCE,
        threads=Threads(1, 1),
    )
    int8 = b.load(b.compile(src, Deployment("openvino", "int8"), ctx), Threads(1, 1))
    ref = evaluate_keras(model, data.x_test, data.y_test)
    assert abs(accuracy_of(int8, src.feed(data.x_test), data.y_test) - ref) <= TOLERANCE
