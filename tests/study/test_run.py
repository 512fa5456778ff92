"""Real studies on digits with real backends and a real SQLite database (tiny budgets)."""

import json
import textwrap

import optuna
import pytest

from tests.conftest import tiny_config_dict
from workbench import ConfigError, run_study
from workbench.arch import ArchSpec
from workbench.study import count_finished, load_config, load_results

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime, pytest.mark.slow]


def _cfg(tmp_path, **over):
    import yaml

    data = tiny_config_dict(**over)
    p = tmp_path / f"{data['study']['name']}.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_config(p)


def test_tiny_study_end_to_end(in_tmp):
    cfg = _cfg(in_tmp)
    res = run_study(cfg, progress=False)
    assert res.new_trials == 2 and not res.interrupted
    study = optuna.load_study(
        study_name="tiny", storage="sqlite:///runs/workbench.db"
    )  # plain Optuna
    assert study.metric_names == ["accuracy", "latency_p50_ms"]
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    t = trials[0]
    spec = ArchSpec.from_dict(t.user_attrs["spec"])
    assert spec.hash == t.user_attrs["arch_hash"]
    keys = sorted(k for k in t.user_attrs if k.startswith("measure:"))
    assert keys == [
        "measure:host-cpu/torch/onnxruntime-fp32",
        "measure:host-cpu/torch/onnxruntime-int8-static",
        "measure:host-cpu/torch/torch-fp32",
    ]
    m = t.user_attrs["measure:host-cpu/torch/onnxruntime-int8-static"]
    assert m["status"] == "ok" and m["source"] == "measured"
    assert m["latency"]["n"] >= 5 and m["latency"]["p50_ms"] > 0
    assert 0.0 < m["accuracy"] <= 1.0 and m["size_bytes"] > 0
    r = m["receipt"]
    assert r["host"]["cpu_model"] and r["threads"]["intra_op"] >= 1 and r["warmup"] == 2
    assert r["repeats"] == m["latency"]["n"] and "onnxruntime" in r["versions"]
    assert set(r["interleaved_with"]) == {"torch-fp32", "onnxruntime-fp32"}
    assert m["meta"]["int8_scheme"]["label"] and m["meta"]["artifact_id"]
    assert m["peak_memory_bytes"] and m["peak_memory_bytes"] > 0
    # the trial's objective values are those of the chosen deployment's measurement
    chosen = t.user_attrs["objective_deployment"]
    cm = t.user_attrs["measure:" + chosen]
    assert t.values == [cm["accuracy"], cm["latency"]["p50_ms"]]
    # outputs
    out = res.outputs
    html = out["report"].read_text()
    assert (
        "plotly" in html
        and "Pareto fronts" in html
        and "host-cpu/torch/onnxruntime-int8-static" in html
    )
    data = json.loads(out["json"].read_text())
    assert data["n_complete"] == 2 and set(data["fronts"]) == {k[len("measure:") :] for k in keys}
    assert len(out["csv"].read_text().strip().splitlines()) == 1 + 2 * 3
    manifest = json.loads((out["pareto"] / "manifest.json").read_text())["points"]
    assert manifest and all((out["pareto"] / e["file"]).stat().st_size > 0 for e in manifest)
    assert any(e["file"].endswith(".onnx") for e in manifest)


def test_our_front_equals_optunas_front(in_tmp):
    cfg = _cfg(
        in_tmp,
        study={
            "name": "front",
            "sampler": "random",
            "seed": 1,
            "trials": 5,
            "objectives": ["accuracy", "latency"],
        },
    )
    res = run_study(cfg, progress=False, measure_memory=False)
    optuna_front = sorted(t.number for t in res.study.best_trials)
    assert res.results.objective_front() == optuna_front


def test_rerunning_resumes_and_only_runs_the_rest(in_tmp):
    cfg = _cfg(in_tmp)
    assert run_study(cfg, progress=False, measure_memory=False, write=False).new_trials == 2
    from workbench.study import with_overrides

    again = run_study(
        with_overrides(cfg, trials=3), progress=False, measure_memory=False, write=False
    )
    assert again.new_trials == 1
    assert len(again.results.trials) == 3
    assert run_study(cfg, progress=False, measure_memory=False, write=False).new_trials == 0


def test_the_study_package_writes_results_but_no_html(in_tmp):
    import workbench.study

    res = workbench.study.run_study(_cfg(in_tmp), progress=False, measure_memory=False)
    assert res.outputs["json"].exists() and res.outputs["csv"].exists()
    assert "report" not in res.outputs
    assert not (res.run_dir / "report.html").exists()
    # the facade adds the report to what the study package writes
    from workbench._api import write_outputs

    out = write_outputs(res.results, None, in_tmp / "again", None)
    assert sorted(out) == ["csv", "json", "report"]
    assert out["report"] == in_tmp / "again" / "report.html"
    assert "<html" in out["report"].read_text().lower()


def test_a_changed_setup_does_not_resume_silently(in_tmp):
    run_study(_cfg(in_tmp), progress=False, measure_memory=False, write=False)
    changed = _cfg(in_tmp, train={"epochs": 3, "batch_size": 128, "lr": 0.01})
    with pytest.raises(ConfigError, match="already exists in this storage with a different"):
        run_study(changed, progress=False, measure_memory=False, write=False)


def _space_module(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))


def test_a_failing_trial_is_stored_with_its_reason_and_the_study_goes_on(in_tmp, monkeypatch):
    _space_module(
        in_tmp,
        "space_failing",
        """
        from workbench.arch import ArchSpec, Dense
        def space(trial, task):
            u = trial.suggest_int("units", 4, 8)
            if trial.number == 0:
                raise RuntimeError("cannot build this one")
            return ArchSpec(task.input_shape, task.num_classes, (Dense(u),))
    """,
    )
    monkeypatch.syspath_prepend(str(in_tmp))
    cfg = _cfg(in_tmp, space={"callable": "space_failing:space"})
    res = run_study(cfg, progress=False, measure_memory=False)
    states = [t.state for t in res.results.trials]
    assert states == ["FAIL", "COMPLETE"]
    failure = res.results.trials[0].failure
    assert failure["stage"] == "internal" and "cannot build this one" in failure["reason"]
    assert count_finished(res.study) == 2  # failed trials count against the budget
    assert "cannot build this one" in res.outputs["report"].read_text()


def test_ctrl_c_keeps_finished_trials_and_resume_completes(in_tmp, monkeypatch):
    _space_module(
        in_tmp,
        "space_interrupting",
        """
        import os
        from workbench.arch import ArchSpec, Dense
        def space(trial, task):
            u = trial.suggest_int("units", 4, 8)
            if trial.number == 1 and os.environ.get("INTERRUPT_AT_1"):
                raise KeyboardInterrupt
            return ArchSpec(task.input_shape, task.num_classes, (Dense(u),))
    """,
    )
    monkeypatch.syspath_prepend(str(in_tmp))
    monkeypatch.setenv("INTERRUPT_AT_1", "1")
    cfg = _cfg(in_tmp, space={"callable": "space_interrupting:space"})
    res = run_study(cfg, progress=False, measure_memory=False)
    assert res.interrupted
    states = [(t.state, t.user_attrs.get("status")) for t in res.results.trials]
    assert states == [("COMPLETE", None), ("FAIL", "interrupted")]
    assert count_finished(res.study) == 1  # the interrupted trial is not counted
    assert res.outputs["report"].exists()  # outputs of what finished are still written
    monkeypatch.delenv("INTERRUPT_AT_1")
    again = run_study(cfg, progress=False, measure_memory=False, write=False)
    assert again.new_trials == 1 and count_finished(again.study) == 2


def test_a_failing_deployment_is_data_and_the_trial_completes(in_tmp, monkeypatch):
    from workbench.backends import Backend, _registry

    class Exploding(Backend):
        name = "exploding"
        frameworks = ("torch",)
        precisions = ("fp32",)

        def compile(self, source, deployment, ctx):
            raise RuntimeError("unsupported operator Foo in this runtime")

        def load(self, artifact, threads):
            raise AssertionError("never loaded")

    monkeypatch.setattr(_registry, "_TARGETS", {**_registry._TARGETS, "exploding": Exploding})
    monkeypatch.setattr(_registry, "_INSTANCES", {})
    (in_tmp / "hwprofiles").mkdir()
    (in_tmp / "hwprofiles" / "host-x.yaml").write_text(
        "kind: measured\nbackends: [torch, onnxruntime, exploding]\n"
        "precisions: [fp32, int8-static]\n"
    )
    cfg = _cfg(in_tmp, hardware=["host-x"], deployments=["exploding-fp32", "onnxruntime-fp32"])
    res = run_study(cfg, progress=False, measure_memory=False)
    assert all(t.state == "COMPLETE" for t in res.results.trials)
    m = res.results.trials[0].user_attrs["measure:host-x/torch/exploding-fp32"]
    assert (
        m["status"] == "failed"
        and m["stage"] == "compile"
        and "unsupported operator Foo" in m["error"]
    )
    assert (
        res.results.trials[0].user_attrs["objective_deployment"] == "host-x/torch/onnxruntime-fp32"
    )


def test_results_read_back_from_storage_alone(in_tmp):
    run_study(_cfg(in_tmp), progress=False, measure_memory=False, write=False)
    from workbench.study import open_study

    res = load_results(open_study("tiny", "sqlite:///runs/workbench.db"))
    f = res.front("host-cpu/torch/onnxruntime-fp32")
    assert 1 <= len(f.trials) <= 2 and f.hypervolume > 0
    rows = res.rows()
    assert {r["deployment"] for r in rows} == {
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    }
