"""Real tiny studies for the regression gate: the suite's one real study as the baseline, and a
candidate that is really slower (a far wider and deeper MLP) and less accurate (barely trained)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import tiny_study_config

if TYPE_CHECKING:
    from workbench.check import Baseline
    from workbench.study import RunResult, StudyConfig

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
