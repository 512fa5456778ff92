"""Shared fixtures: tiny configs and models that keep the suite fast on two cores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from workbench.check import Baseline, CheckResult
    from workbench.study import RunResult, StudyConfig

REPO = Path(__file__).resolve().parent.parent

# under CI=true a skipped test fails (tests/_ci_skips.py)
pytest_plugins = ["tests._ci_skips"]

# Keep test processes from oversubscribing a small CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")

TINY_MEASURE = {
    "warmup": 2,
    "warmup_s": 0.0,
    "min_repeats": 5,
    "max_repeats": 50,
    "min_time_s": 0.0,
    "max_time_s": 0.1,
    "block": 5,
}


def tiny_config_dict(name: str = "tiny", **over: Any) -> dict[str, Any]:
    """An MLP search on digits with budgets small enough for a test (about 2 s a trial)."""
    cfg: dict[str, Any] = {
        "schema": 1,
        "study": {
            "name": name,
            "sampler": "random",
            "seed": 0,
            "trials": 2,
            "objectives": ["accuracy", "latency"],
        },
        "data": {"source": "digits"},
        "train": {"epochs": 2, "batch_size": 128, "lr": 0.01},
        "space": {"family": "mlp", "layers": {"min": 1, "max": 2}, "units": [16, 32]},
        "hardware": ["host-cpu"],
        "deployments": ["torch-fp32", "onnxruntime-fp32", "onnxruntime-int8-static"],
        "measure": dict(TINY_MEASURE),
        "quantization": {"calibration_samples": 32},
        "onnx_exporter": "torchscript",
    }
    for key, value in over.items():
        cfg[key] = value
    return cfg


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    return tiny_config_dict()


@pytest.fixture
def digits():
    from workbench.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def trained_cnn():
    """A small CNN trained on digits for two epochs: (spec, module, dataset)."""
    pytest.importorskip("torch")
    from workbench.arch import ArchSpec, ConvBN, InvertedResidual, build_torch
    from workbench.data import load_digits
    from workbench.train import TrainConfig, train_torch

    data = load_digits()
    spec = ArchSpec(
        (1, 8, 8),
        10,
        (ConvBN(16), InvertedResidual(24, 4, 3, 2), InvertedResidual(32, 4, 3, 2)),
        name="tiny-cnn",
    )
    model = build_torch(spec, seed=0)
    train_torch(model, data, TrainConfig(epochs=3, batch_size=64, lr=0.01))
    return spec, model.eval(), data


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside a fresh directory (outputs land in tmp_path/runs)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained_keras():
    """The ``trained_cnn`` spec built in Keras, trained on digits for three epochs.

    Returns (spec, model, dataset).
    """
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from workbench.arch import ArchSpec, ConvBN, InvertedResidual, build_keras
    from workbench.data import load_digits
    from workbench.train import TrainConfig, train_keras

    data = load_digits()
    spec = ArchSpec(
        (1, 8, 8),
        10,
        (ConvBN(16), InvertedResidual(24, 4, 3, 2), InvertedResidual(32, 4, 3, 2)),
        name="tiny-cnn",
    )
    model = build_keras(spec, seed=0)
    train_keras(model, data, TrainConfig(epochs=3, batch_size=64, lr=0.01))
    return spec, model, data


def tiny_study_config(out: Path, name: str, trials: int, **over: Any) -> StudyConfig:
    """A StudyConfig for a tiny real study whose outputs and database live under ``out``."""
    import yaml

    from workbench.study import load_config

    data = tiny_config_dict(
        name,
        study={
            "name": name,
            "sampler": "random",
            "seed": 0,
            "trials": trials,
            "objectives": ["accuracy", "latency"],
            "out_dir": str(out),
        },
        **over,
    )
    path = out / f"{name}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@pytest.fixture(scope="session")
def real_config(tmp_path_factory: pytest.TempPathFactory) -> StudyConfig:
    """The config of the one real study the suite runs: 3 trials of a tiny MLP on digits, trained,
    exported and measured with PyTorch and ONNX Runtime (fp32 and static int8) on this host."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    return tiny_study_config(tmp_path_factory.mktemp("real"), "real", 3)


@pytest.fixture(scope="session")
def real_run(real_config: StudyConfig) -> RunResult:
    """What ``workbench.study.run_study`` returns for :func:`real_config`'s study, run once per
    session with its outputs written; its database is at ``real_config.storage_url()``. Tests
    that change the database work on a copy."""
    from workbench.study import run_study

    return run_study(real_config, progress=False, measure_memory=False)


# -- the regression gate: the real study as a baseline, and a worse candidate --------------
#: timing of a check in the tests: a few rounds, enough to see a many-fold slowdown
FAST_CHECK = {
    "warmup": 2,
    "warmup_s": 0.0,
    "min_repeats": 30,
    "max_repeats": 400,
    "min_time_s": 0.1,
    "max_time_s": 0.3,
    "block": 5,
    "target_rel_ci": 0.02,
}


@pytest.fixture(scope="session")
def baseline(real_run: RunResult, real_config: StudyConfig, tmp_path_factory) -> Baseline:
    """The real study's Pareto set saved as a baseline."""
    from workbench.check import save_baseline

    folder = tmp_path_factory.mktemp("baseline") / "ci-baseline"
    return save_baseline(real_config.storage_url(), real_config.name, folder)


@pytest.fixture(scope="session")
def worse_config(tmp_path_factory) -> StudyConfig:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    return tiny_study_config(
        Path(tmp_path_factory.mktemp("worse")),
        "worse",
        1,
        space={"family": "mlp", "layers": {"min": 3, "max": 3}, "units": [768]},
        train={"epochs": 1, "batch_size": 128, "lr": 1e-7},
        deployments=["onnxruntime-fp32"],
    )


@pytest.fixture(scope="session")
def worse_run(worse_config: StudyConfig) -> RunResult:
    """A candidate study several times slower and near chance accuracy."""
    from workbench.study import run_study

    return run_study(worse_config, progress=False, measure_memory=False)


@pytest.fixture(scope="session")
def worse_check(baseline: Baseline, worse_config: StudyConfig, worse_run: RunResult) -> CheckResult:
    """A real check of ``worse_run`` against ``baseline`` (FAST_CHECK timing), saved as
    ``check.json`` in the worse study's outputs."""
    from workbench.bench import MeasureSettings
    from workbench.check import check_baseline

    return check_baseline(
        baseline,
        worse_config.storage_url(),
        worse_config.name,
        "latency:+5%,accuracy:-0.5pt",
        settings=MeasureSettings(**FAST_CHECK),
    )


def keras_source(spec, model, workdir):
    """A Keras model as a deployable source: channels-last input."""
    from workbench.arch import keras_input_shape
    from workbench.backends import ModelSource

    return ModelSource(
        "keras", model, keras_input_shape(spec.input_shape), workdir, layout="channels_last"
    )
