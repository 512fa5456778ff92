"""Budgets per profile: config validation, device limits, how rejected candidates are stored so the
samplers learn the feasible region, and real constrained multi-target studies."""

import json

import optuna
import pytest
import yaml

from tests.conftest import tiny_config_dict
from workbench import ConfigError
from workbench.hw import load_profile
from workbench.study import load_config
from workbench.study._constraints import (
    Budget,
    ConstraintValue,
    TargetFigures,
    budgets_for,
    combine_budgets,
    device_budget,
    evaluate_constraints,
    placeholder_values,
    set_trial_constraints,
)


def _write(tmp_path, data, name="study.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def _cfg(tmp_path, **over):
    return load_config(_write(tmp_path, tiny_config_dict(**over)))


# -- config ------------------------------------------------------------------------------------


def test_simulated_profiles_and_budgets_are_accepted(tmp_path):
    cfg = _cfg(
        tmp_path,
        hardware=["host-cpu", "x86-server-avx512", "nvidia-h100"],
        constraints={
            "host-cpu": {"latency_ms": 2, "memory_mb": 64},
            "nvidia-h100": {"size_kb": 500},
        },
    )
    host, server, gpu = cfg.hardware
    assert not server.measured and not gpu.measured
    # measured: the study's deployments plus the recipe; simulated: the recipe, the file it would
    # ship
    assert [d.name for d in cfg.profile_deployments(host)] == [
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    ]
    assert [d.name for d in cfg.profile_deployments(server)] == ["onnxruntime-int8-static"]
    assert [d.name for d in cfg.profile_deployments(gpu)] == ["onnxruntime-fp32"]
    assert cfg.budget_for(host).latency_ms == 2 and cfg.budget_for(host).memory_bytes == 64 * 2**20
    assert cfg.budget_for(gpu).size_bytes == 500 * 1024
    assert cfg.budget_for(gpu).memory_bytes == 81920 * 2**20  # the GPU's own memory is a limit too
    assert cfg.constrained and cfg.prefilter


def test_a_recipe_missing_from_the_deployments_is_added_for_measured_profiles(tmp_path):
    cfg = _cfg(tmp_path, deployments=["onnxruntime-fp32"])
    assert [d.name for d in cfg.profile_deployments(cfg.hardware[0])] == [
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    ]


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        (
            {"constraints": {"nvidia-h100": {"latency_ms": 1}}},
            "study.yaml:{line}: constraints.nvidia-h100: "
            "not one of the study's hardware profiles (host-cpu)",
        ),
        (
            {"constraints": {"host-cpu": {"latency": 1}}},
            "constraints.host-cpu.latency: unknown key; expected one of: "
            "latency_ms, memory_kb, memory_mb, size_kb, size_mb",
        ),
        (
            {"constraints": {"host-cpu": {"latency_ms": -1}}},
            "constraints.host-cpu.latency_ms: expected a number > 0.0, got -1",
        ),
        (
            {"constraints": {"host-cpu": {"memory_kb": 10, "memory_mb": 1}}},
            "constraints.host-cpu.memory_mb: give memory once (in kb or in mb)",
        ),
        (
            {"constraints": {"host-cpu": {}}},
            "constraints.host-cpu: expected at least one of: latency_ms",
        ),
        (
            {
                "hardware": ["host-cpu", "nvidia-h100"],
                "study": {
                    "name": "x",
                    "objective_profile": "nvidia-h100",
                    "objective_deployment": "torch-fp32",
                },
            },
            "study.objective_deployment: the objective profile 'nvidia-h100' is simulated and "
            "evaluated with its recipe only",
        ),
    ],
)
def test_bad_budgets_are_one_line_errors(tmp_path, over, expected):
    data = tiny_config_dict()
    for k, v in over.items():
        data[k] = {**data[k], **v} if k == "study" else v
    p = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert expected.split("{line}: ")[-1] in msg, msg
    assert "\n" not in msg


def test_a_litert_recipe_needs_the_litert_backend_and_a_keras_study(tmp_path):
    from workbench.backends import backend_names

    p = _write(tmp_path, tiny_config_dict(hardware=["host-cpu", "cortex-m7"]))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "hardware[1]: profile 'cortex-m7'" in msg and "\n" not in msg
    if "litert" not in backend_names():
        assert "deploys with the 'litert' backend" in msg and "not installed here" in msg
    else:  # registered: a torch study still cannot produce a TFLite file
        assert "recipe litert-int8-static cannot be produced" in msg and "torch" in msg
        assert "add one to framework: [torch, keras]" in msg


@pytest.mark.keras
@pytest.mark.slow
def test_a_two_framework_study_ships_each_recipe_from_the_framework_that_can_produce_it(
    in_tmp, monkeypatch
):
    """A Raspberry Pi's LiteRT recipe comes from the Keras model, the Xeon's ONNX one from both;
    the .tflite's accuracy is that file's own, evaluated here in the model's channels-last
    layout."""
    pytest.importorskip("ai_edge_litert")
    from workbench.study import run_study

    monkeypatch.setenv("WORKBENCH_CALIBRATION_DIR", str(in_tmp / "cal"))
    cfg = load_config(
        _write(
            in_tmp,
            tiny_config_dict(
                name="two",
                study={
                    "name": "two",
                    "sampler": "random",
                    "seed": 0,
                    "trials": 1,
                    "objectives": ["accuracy", "latency"],
                },
                framework=["torch", "keras"],
                train={"epochs": 3, "batch_size": 64, "lr": 0.01},
                hardware=["host-cpu", "raspberry-pi-5", "x86-server-avx512"],
                deployments=["onnxruntime-fp32"],
            ),
        )
    )
    assert [d.name for d in cfg.profile_deployments(cfg.hardware[1], "torch")] == []
    assert [d.name for d in cfg.profile_deployments(cfg.hardware[1], "keras")] == [
        "litert-int8-static"
    ]
    run_study(cfg, progress=False, measure_memory=False)
    t = optuna.load_study(study_name="two", storage="sqlite:///runs/workbench.db").trials[0]
    pi = t.user_attrs["measure:raspberry-pi-5/keras/litert-int8-static"]
    assert pi["status"] == "ok", pi.get("error")
    assert pi["source"] == "predicted" and pi["latency"]["n"] == 0 and pi["meta"]["artifact_id"]
    keras_float = t.user_attrs["frameworks"]["keras"]["float_accuracy"]
    assert (
        keras_float > 0.5 and abs(pi["accuracy"] - keras_float) < 0.1
    )  # the int8 file's own accuracy, near the float model's
    assert not any(k.startswith("measure:raspberry-pi-5/torch/") for k in t.user_attrs)
    host = [k for k in t.user_attrs if k.startswith("measure:host-cpu/")]
    assert {
        "measure:host-cpu/torch/onnxruntime-int8-static",
        "measure:host-cpu/keras/onnxruntime-int8-static",
    } <= set(host)


# -- budgets and constraint values ---------------------------------------------------------------


def test_device_limits_are_budgets_too():
    m7 = budgets_for(load_profile("cortex-m7"), None)
    assert m7.arena_bytes == 512 * 1024 and m7.flash_bytes == 2048 * 1024
    assert set(m7.from_device) == {"arena_bytes", "flash_bytes"}
    pi = budgets_for(load_profile("raspberry-pi-5"), Budget("raspberry-pi-5", memory_bytes=1e12))
    assert pi.memory_bytes == 8192 * 2**20  # the tighter of the budget and the board's RAM
    assert (
        budgets_for(load_profile("host-cpu"), None) is None
    )  # this machine: only what is configured


def test_every_bound_says_where_it_came_from(tmp_path):
    m7 = device_budget(load_profile("cortex-m7"))
    assert m7.source_of("arena_bytes").startswith("cortex-m7.sram_kb (ST DS12110: 512 KB")
    assert m7.source_of("flash_bytes").startswith("cortex-m7.flash_kb (")
    cfg = _cfg(tmp_path, constraints={"host-cpu": {"latency_ms": 2}})
    assert cfg.budget_for(cfg.hardware[0]).source_of("latency_ms") == (
        "study config (constraints.host-cpu)"
    )
    pi = load_profile("raspberry-pi-5")
    loose = Budget(pi.name, memory_bytes=1e12, sources=(("memory_bytes", "mine"),))
    tight = Budget(pi.name, memory_bytes=1e6, latency_ms=3.0, sources=(("memory_bytes", "mine"),))
    both = budgets_for(pi, loose)
    assert both.source_of("memory_bytes").startswith("raspberry-pi-5.ram_mb")
    assert both.from_device == ("memory_bytes",)
    both = budgets_for(pi, tight)
    assert both.memory_bytes == 1e6 and both.source_of("memory_bytes") == "mine"
    assert both.from_device == () and both.source_of("latency_ms") == "budget"
    assert combine_budgets("x", None, None) is None


def test_a_microcontroller_without_an_sram_block_has_its_ram_bound_memory(tmp_path, monkeypatch):
    (tmp_path / "tiny.yaml").write_text(
        "schema: 1\nname: tiny\nkind: simulated\ndevice: mcu\nbackends: [onnxruntime]\n"
        "precisions: [int8-static]\n"
        "deploy: {backend: onnxruntime, precision: int8-static, format: onnx}\n"
        "peak_gops: {int8-static: {value: 0.4, source: 'test board datasheet'}}\n"
        "memory_bandwidth_gbs: {value: 0.2, source: 'test board datasheet'}\n"
        "ram_mb: {value: 0.01, source: 'test board datasheet'}\n"
    )
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path))
    b = budgets_for(load_profile("tiny"), None)
    assert b.limits() == {"memory_bytes": 0.01 * 2**20} and b.from_device == ("memory_bytes",)
    assert b.source_of("memory_bytes") == "tiny.ram_mb (test board datasheet)"


def test_constraint_values_are_relative_violations():
    b = Budget("dev", latency_ms=2.0, size_bytes=1000)
    vals = evaluate_constraints(
        TargetFigures("dev", "x-fp32", "predicted", latency_ms=3.0, size_bytes=500), b
    )
    by = {v.key: v for v in vals}
    assert by["dev:latency_ms"].violation == pytest.approx(0.5) and not by["dev:latency_ms"].ok
    assert by["dev:size_bytes"].violation == pytest.approx(-0.5) and by["dev:size_bytes"].ok
    assert by["dev:latency_ms"].reason() == "dev: latency_ms 3 ms (predicted) > budget 2 ms"
    unknown = evaluate_constraints(
        TargetFigures("dev", "x-fp32", "measured"), Budget("dev", latency_ms=1.0)
    )[0]
    assert not unknown.ok and "unknown" in unknown.reason()


def test_placeholder_values_never_invent_an_accuracy():
    figs = {"dev": TargetFigures("dev", "x", "predicted", latency_ms=7.0, size_bytes=123)}
    assert placeholder_values(["accuracy", "latency", "size"], figs, "dev") == (0.0, 7.0, 123.0)


# -- the samplers learn the feasible region from rejected trials ---------------------------------


def _constrained_objective(trial):
    """x < 0.25 is feasible. A rejected trial gets the placeholder values of the pipeline:
    accuracy 0 and latency 0 -- the best latency of all, so a sampler that ignored constraints
    would chase it."""
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    v = [ConstraintValue("dev:latency_ms", x, 0.25, "predicted")]
    set_trial_constraints(trial, v)
    if not v[0].ok:
        trial.set_user_attr(
            "rejected", {"stage": "prefilter", "reasons": [v[0].reason()], "trained": False}
        )
        return placeholder_values(["accuracy", "latency"], {}, "dev")
    return 1.0 - y, x + 0.1


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_rejected_trials_teach_the_sampler_where_the_feasible_region_is(sampler):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        s = optuna.samplers.TPESampler(seed=0, n_startup_trials=10, multivariate=True)
    else:
        s = optuna.samplers.NSGAIISampler(seed=0, population_size=10)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=s)
    study.optimize(_constrained_objective, n_trials=80)
    trials = study.trials
    assert all(t.state.name == "COMPLETE" for t in trials)
    early = sum(t.params["x"] < 0.25 for t in trials[:10]) / 10
    late = sum(t.params["x"] < 0.25 for t in trials[-30:]) / 30
    assert late >= 0.6 and late > early + 0.2, (
        early,
        late,
    )  # a sampler blind to the constraint would stay near 0.25
    best = study.best_trials
    assert best and all(
        t.params["x"] < 0.25 for t in best
    )  # infeasible trials never reach the front


# -- real studies ------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.slow
def test_constrained_multi_target_study(in_tmp, monkeypatch, capsys):
    """Budgets on a simulated server (size) and GPU (latency); rejected candidates are never
    trained; simulated profiles get real recipe files with predicted latency; fronts per profile
    from storage."""
    from workbench import run_study
    from workbench.study import load_results, open_study

    monkeypatch.setenv("WORKBENCH_CALIBRATION_DIR", str(in_tmp / "cal"))
    cfg = load_config(
        _write(
            in_tmp,
            tiny_config_dict(
                name="hw",
                study={
                    "name": "hw",
                    "sampler": "random",
                    "seed": 3,
                    "trials": 5,
                    "objectives": ["accuracy", "latency"],
                },
                space={"family": "mlp", "layers": {"min": 1, "max": 2}, "units": [16, 512]},
                hardware=["host-cpu", "x86-server-avx512", "nvidia-h100"],
                deployments=["onnxruntime-fp32", "onnxruntime-int8-static"],
                constraints={
                    "x86-server-avx512": {"size_kb": 20},
                    "nvidia-h100": {"latency_ms": 5.0},
                },
            ),
        )
    )
    res = run_study(cfg, progress=False, measure_memory=False)
    study = optuna.load_study(study_name="hw", storage="sqlite:///runs/workbench.db")
    rejected = [t for t in study.trials if "rejected" in t.user_attrs]
    trained = [t for t in study.trials if "train" in t.user_attrs]
    assert rejected and trained and len(rejected) + len(trained) == 5
    for t in rejected:  # never trained, stored so the samplers learn from it
        assert (
            t.state.name == "COMPLETE"
            and "train" not in t.user_attrs
            and "float_accuracy" not in t.user_attrs
        )
        assert t.constraints["x86-server-avx512:size_bytes"] > 0
        assert t.user_attrs["rejected"]["reasons"][0].startswith("x86-server-avx512: size_bytes")
        assert "(predicted)" in t.user_attrs["rejected"]["reasons"][0]
        assert not any(k.startswith("measure:") for k in t.user_attrs)
    for t in trained:
        assert all(v <= 0 for v in t.constraints.values()) and t.user_attrs["feasible"] is True
    assert {t.number for t in study.best_trials} <= {t.number for t in trained}

    # predicted numbers are labelled, carry their trust figures, and the accuracy is the recipe
    # file's own
    m = trained[0].user_attrs["measure:nvidia-h100/torch/onnxruntime-fp32"]
    assert m["source"] == "predicted" and m["status"] == "ok" and m["latency"]["n"] == 0
    assert m["meta"]["trust"]["validated_on_device"] is False and m["meta"]["recipe"][
        "format"
    ].startswith("onnx")
    assert 0 < m["accuracy"] <= 1 and "accuracy of this artifact" in m["meta"]["accuracy_note"]
    assert m["receipt"]["latency_source"] == "predicted" and m["peak_memory_bytes"] > 0
    s = trained[0].user_attrs["measure:x86-server-avx512/torch/onnxruntime-int8-static"]
    assert s["source"] == "predicted" and s["meta"]["int8_scheme"]["label"].startswith(
        "U8S8"
    )  # the server's VNNI choice
    h = trained[0].user_attrs["measure:host-cpu/torch/onnxruntime-int8-static"]
    assert h["source"] == "measured" and h["meta"]["recipe"]["backend"] == "onnxruntime"

    # every profile's front from the stored figures alone, without re-running anything
    again = load_results(open_study("hw", "sqlite:///runs/workbench.db"))
    for profile in ("host-cpu", "x86-server-avx512", "nvidia-h100"):
        fronts = again.fronts(profile=profile)
        assert fronts and all(f.trials for f in fronts.values()), profile
        assert all(n in {t.number for t in trained} for f in fronts.values() for n in f.trials)
    assert len(again.rejected()) == len(rejected) and len(again.completed()) == len(trained)

    # the recipe files of the Pareto-optimal candidates, predicted ones included, ready to carry
    # to the device
    manifest = json.loads((res.outputs["pareto"] / "manifest.json").read_text())["points"]
    gpu = [e for e in manifest if e["key"].startswith("nvidia-h100/")]
    assert gpu and all(
        e["file"].endswith(".onnx") and e["latency_source"] == "predicted" and e["recipe"]
        for e in gpu
    )
    assert all((res.outputs["pareto"] / e["file"]).stat().st_size > 0 for e in gpu)

    # the CLI summary labels every front measured or PREDICTED, with the trust line beside
    # predicted ones
    from workbench.cli._commands import _print_summary

    capsys.readouterr()
    _print_summary(again)
    out = capsys.readouterr().out
    assert (
        "nvidia-h100/torch/onnxruntime-fp32: Pareto front" in out
        and "latency PREDICTED (not measured here)" in out
    )
    assert "host-cpu/torch/onnxruntime-fp32: Pareto front" in out and "latency measured p50" in out
    assert "trust: predicted from datasheet numbers" in out and "rejected before training" in out

    # the report shows trust figures beside predicted numbers, and the rejected candidates with
    # reasons
    html = res.outputs["report"].read_text()
    assert "not validated on this device" in html and "Rejected before training" in html
    assert "(predicted)" in html and "rejected before training" in html


def test_storing_rejections_as_failed_trials_would_teach_tpe_nothing():
    """Why rejected candidates are COMPLETE with constraints: TPE ignores FAIL trials, so it keeps
    proposing the infeasible region it was never told about."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def as_failure(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        if x >= 0.25:
            raise RuntimeError("rejected")
        return 1.0 - y, x + 0.1

    def share(objective):
        s = optuna.samplers.TPESampler(seed=0, n_startup_trials=10, multivariate=True)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=s)
        study.optimize(objective, n_trials=80, catch=(RuntimeError,))
        return sum(t.params["x"] < 0.25 for t in study.trials[-30:]) / 30

    assert share(_constrained_objective) > share(as_failure) + 0.3


def test_a_device_with_flash_storage_bounds_the_model_file(tmp_path, monkeypatch):
    (tmp_path / "edge.yaml").write_text(
        "schema: 1\nname: edge\nkind: simulated\ndevice: npu\nbackends: [onnxruntime]\n"
        "precisions: [int8-static]\n"
        "deploy: {backend: onnxruntime, precision: int8-static, format: onnx}\n"
        "peak_gops: {int8-static: {value: 4, source: 'test board datasheet'}}\n"
        "memory_bandwidth_gbs: {value: 2, source: 'test board datasheet'}\n"
        "flash_kb: {value: 60, source: 'test board datasheet'}\n"
    )
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path))
    b = budgets_for(load_profile("edge"), None)
    assert b.limits() == {"size_bytes": 60 * 1024} and b.from_device == ("size_bytes",)
    assert b.source_of("size_bytes") == "edge.flash_kb (test board datasheet)"
    over = TargetFigures("edge", "onnxruntime-int8-static", "predicted", size_bytes=61 * 1024)
    (cv,) = evaluate_constraints(over, b)
    assert not cv.ok and "device limit 60 KiB" in cv.reason()
