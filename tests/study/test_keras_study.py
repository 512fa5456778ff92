"""Studies in Keras, and in both frameworks on the same trials (real TensorFlow, LiteRT, ORT)."""

import json
import textwrap

import pytest
import yaml

from tests.conftest import REPO, tiny_config_dict
from workbench import ConfigError, run_study
from workbench.study import load_config

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")
pytestmark = [pytest.mark.keras, pytest.mark.onnxruntime]

ALL_BACKENDS = (
    "kind: measured\n"
    "backends: [torch, keras, keras-xla, onnxruntime, litert]\n"
    "precisions: [fp32, fp16, int8-dynamic, int8-static]\n"
)


@pytest.fixture
def host_all(in_tmp):
    """A measured profile of this host listing every runtime: ./hwprofiles/host-all.yaml."""
    (in_tmp / "hwprofiles").mkdir()
    (in_tmp / "hwprofiles" / "host-all.yaml").write_text(ALL_BACKENDS)
    return in_tmp


def _keras_cfg(**over):
    cfg = tiny_config_dict(
        framework="keras",
        hardware=["host-all"],
        deployments=["keras-fp32", "litert-fp32", "litert-int8-static", "onnxruntime-fp32"],
    )
    cfg["train"] = {"epochs": 3, "batch_size": 64, "lr": 0.01}
    cfg["space"] = {"family": "mlp", "layers": 1, "units": [32, 48]}
    cfg.update(over)
    return cfg


def _load(tmp_path, data, name="study.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(p, display="study.yaml")


def test_shipped_keras_configs_validate():
    k = load_config(REPO / "search" / "keras_quickstart.yaml")
    assert k.frameworks == ("keras",) and {d.backend for d in k.deployments} == {
        "keras",
        "keras-xla",
        "litert",
        "onnxruntime",
    }
    both = load_config(REPO / "search" / "compare_frameworks.yaml")
    assert both.frameworks == ("torch", "keras")
    assert [d.name for d in both.deployments_for("torch")] == [
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    ]
    assert [d.name for d in both.deployments_for("keras")] == [
        "keras-fp32",
        "keras-xla-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
        "litert-fp32",
        "litert-int8-static",
    ]


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        (
            {"framework": "torch", "deployments": ["torch-fp32", "litert-fp32"]},
            "deployments[1]: backend 'litert' cannot deploy torch models; it accepts: keras",
        ),
        (
            {"deployments": ["keras-fp32", "torch-fp32"]},
            "deployments[1]: backend 'torch' cannot deploy keras models; it accepts: torch",
        ),
        (
            {"deployments": ["litert-bf16"]},
            "deployments[0]: backend 'litert' does not support precision 'bf16'; it supports: "
            "fp32, fp16, int8-dynamic, int8-static",
        ),
        (
            {"deployments": ["keras-int8-static"]},
            "deployments[0]: backend 'keras' does not support precision 'int8-static'; it "
            "supports: fp32",
        ),
        (
            {
                "deployments": [
                    {"backend": "litert", "precision": "fp16", "options": {"io": "int8"}}
                ]
            },
            "deployments[0]: io: int8 needs precision int8-static",
        ),
        (
            {"framework": ["torch", "keras"], "deployments": ["torch-fp32"]},
            "deployments: no deployment serves framework 'keras'",
        ),
        ({"framework": ["keras", "keras"]}, "framework: a framework is listed twice"),
        (
            {"framework": "jax"},
            "framework: expected one of torch, keras or a list of them, got 'jax'",
        ),
        (
            {"study": {"name": "x", "objective_deployment": "torch/litert-fp32"}},
            "study.objective_deployment: expected 'fastest' or one of the deployments",
        ),
    ],
)
def test_deployments_are_checked_per_framework_before_anything_runs(host_all, over, expected):
    with pytest.raises(ConfigError) as info:
        _load(host_all, _keras_cfg(**over))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("study.yaml") and expected in msg, msg


def test_each_deployment_applies_to_the_frameworks_its_backend_accepts(host_all):
    cfg = _load(
        host_all,
        _keras_cfg(
            framework=["torch", "keras"],
            deployments=["torch-fp32", "keras-fp32", "litert-int8-static", "onnxruntime-fp32"],
            study={"name": "both", "objective_deployment": "keras/onnxruntime-fp32"},
        ),
    )
    assert [d.name for d in cfg.deployments_for("torch")] == ["torch-fp32", "onnxruntime-fp32"]
    assert [d.name for d in cfg.deployments_for("keras")] == [
        "keras-fp32",
        "litert-int8-static",
        "onnxruntime-fp32",
    ]
    defaults = _load(
        host_all,
        {k: v for k, v in _keras_cfg(framework=["torch", "keras"]).items() if k != "deployments"},
    )
    assert {d.backend for d in defaults.deployments} == {"torch", "keras", "litert", "onnxruntime"}


@pytest.mark.slow
def test_tiny_keras_study_end_to_end(host_all):
    cfg = _load(
        host_all,
        _keras_cfg(
            study={
                "name": "kstudy",
                "sampler": "random",
                "seed": 0,
                "trials": 2,
                "objectives": ["accuracy", "latency"],
            }
        ),
    )
    res = run_study(cfg, progress=False)
    assert [t.state for t in res.results.trials] == ["COMPLETE", "COMPLETE"]
    t = res.results.trials[0]
    keys = sorted(k for k in t.user_attrs if k.startswith("measure:"))
    assert keys == [
        f"measure:host-all/keras/{d}"
        for d in ("keras-fp32", "litert-fp32", "litert-int8-static", "onnxruntime-fp32")
    ]
    assert (
        t.user_attrs["frameworks"]["keras"]["float_accuracy"]
        == t.user_attrs["float_accuracy"]
        > 0.5
    )
    for k in keys:
        m = t.user_attrs[k]
        assert m["status"] == "ok" and m["latency"]["n"] >= 5 and m["accuracy"] > 0.5, m
        assert (
            m["receipt"]["input_shape"] == [1, 8, 8, 1] and m["receipt"]["input_layout"] == "NHWC"
        )  # what the Keras model was fed
        assert m["meta"]["artifact_id"] and m["peak_memory_bytes"] is not None, (
            k,
            m["memory_note"],
        )
    int8 = t.user_attrs["measure:host-all/keras/litert-int8-static"]["meta"]
    assert int8["int8_scheme"]["label"] and "int8_within_tolerance" in int8
    html = res.outputs["report"].read_text()
    assert "Runtime footprint" in html and "installed size of ai-edge-litert" in html
    manifest = json.loads((res.outputs["pareto"] / "manifest.json").read_text())
    files = [e["file"] for e in manifest["points"]]
    assert any(f.endswith(".tflite") for f in files) and any(f.endswith(".keras") for f in files)


@pytest.mark.slow
def test_both_frameworks_on_the_same_trials_with_failures_kept_as_data(host_all, monkeypatch):
    """Grouped convolutions: Keras runs them through an XLA-compiled function call that tf2onnx
    cannot convert, so Keras->ONNX fails for that trial with its reason; LiteRT and PyTorch's
    ONNX path go on, and so does the study."""
    (host_all / "space_grouped.py").write_text(
        textwrap.dedent("""
        from workbench.arch import ArchSpec, ConvBN, InvertedResidual
        def space(trial, task):
            groups = trial.suggest_categorical("groups", [1, 2])
            blocks = (ConvBN(8), ConvBN(8, groups=groups), InvertedResidual(8, 2, 3, 2))
            return ArchSpec(task.input_shape, task.num_classes, blocks)
    """)
    )
    monkeypatch.syspath_prepend(str(host_all))
    cfg = _load(
        host_all,
        _keras_cfg(
            framework=["torch", "keras"],
            space={"callable": "space_grouped:space"},
            deployments=["torch-fp32", "keras-fp32", "litert-fp32", "onnxruntime-fp32"],
            study={
                "name": "both",
                "sampler": "random",
                "seed": 0,
                "trials": 2,
                "objectives": ["accuracy", "latency"],
            },
        ),
    )
    res = run_study(cfg, progress=False, measure_memory=False)
    assert [t.state for t in res.results.trials] == ["COMPLETE", "COMPLETE"]
    seen_groups = set()
    for t in res.results.trials:
        fw = t.user_attrs["frameworks"]
        assert set(fw) == {"torch", "keras"} and all(
            0.0 < fw[f]["float_accuracy"] <= 1.0 for f in fw
        )
        ms = {m.key: m for m in t.measurements()}
        assert set(ms) == {
            f"host-all/{k}"
            for k in (
                "torch/torch-fp32",
                "torch/onnxruntime-fp32",
                "keras/keras-fp32",
                "keras/litert-fp32",
                "keras/onnxruntime-fp32",
            )
        }
        # all of a trial's deployments, of both frameworks, were timed interleaved in one run
        lit = ms["host-all/keras/litert-fp32"].receipt["interleaved_with"]
        assert "torch/torch-fp32" in lit and "keras/keras-fp32" in lit
        keras_onnx = ms["host-all/keras/onnxruntime-fp32"]
        groups = t.params["groups"]
        seen_groups.add(groups)
        if groups == 2:
            assert (
                not keras_onnx.ok
                and keras_onnx.stage == "export"
                and "tf2onnx has no ONNX conversion" in keras_onnx.error
            )
        else:
            assert keras_onnx.ok
        assert ms["host-all/torch/onnxruntime-fp32"].ok and ms["host-all/keras/litert-fp32"].ok
        # accuracy changes are taken against the artifact's own framework's float model
        rows = {r["key"]: r for r in res.results.rows() if r["trial"] == t.number}
        for key, r in rows.items():
            framework = key.split("/")[1]
            assert r["float_accuracy"] == fw[framework]["float_accuracy"]
    assert seen_groups == {1, 2}, "the seed should draw both a grouped and a plain trial"
    html = res.outputs["report"].read_text()
    assert "tf2onnx has no ONNX conversion" in html


def test_changing_the_frameworks_changes_the_study_fingerprint(host_all):
    keras_only = _load(host_all, _keras_cfg(deployments=["onnxruntime-fp32"]))
    torch_only = _load(host_all, _keras_cfg(framework="torch", deployments=["onnxruntime-fp32"]))
    both = _load(
        host_all, _keras_cfg(framework=["torch", "keras"], deployments=["onnxruntime-fp32"])
    )
    assert (
        len(
            {
                keras_only.search_fingerprint(),
                torch_only.search_fingerprint(),
                both.search_fingerprint(),
            }
        )
        == 3
    )


def test_speedups_are_stated_against_each_frameworks_own_eager_baseline():
    from workbench.bench import LatencyStats, Measurement
    from workbench.report import comparison_info
    from workbench.study._results import MEASURE_PREFIX, StudyResults, TrialRecord

    def m(fw, backend, precision, ms):
        return Measurement(
            "host",
            fw,
            backend,
            precision,
            latency=LatencyStats.from_samples([ms / 1e3] * 3),
            accuracy=0.9,
        )

    ms = [
        m("torch", "torch", "fp32", 10.0),
        m("torch", "onnxruntime", "fp32", 2.0),
        m("keras", "keras", "fp32", 40.0),
        m("keras", "litert", "fp32", 4.0),
    ]
    trial = TrialRecord(
        0,
        "COMPLETE",
        None,
        {},
        {**{MEASURE_PREFIX + x.key: x.to_dict() for x in ms}, "float_accuracy": 0.9},
        None,
    )
    info = comparison_info(
        StudyResults("s", ["maximize", "minimize"], ["accuracy", "latency_p50_ms"], [trial])
    )
    assert sorted(info.baseline.split(", ")) == ["keras/keras-fp32", "torch/torch-fp32"]
    assert info.medians == pytest.approx(
        {
            "torch/torch-fp32": 1.0,
            "torch/onnxruntime-fp32": 0.2,
            "keras/keras-fp32": 1.0,
            "keras/litert-fp32": 0.1,
        }
    )
