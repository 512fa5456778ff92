"""Studies for the widget tests: a generated one (fast, two profiles, one predicted) and a
real tiny one (trained, deployed and measured with PyTorch and ONNX Runtime on this host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tiny_config_dict

SYN_PROFILES = ("host-cpu", "edge-sim")  # the second one's points are labelled predicted


@pytest.fixture(scope="session")
def synthetic_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A generated 150-trial study ``syn`` with four deployments on two profiles."""
    from workbench.study import make_synthetic_study

    url = f"sqlite:///{tmp_path_factory.mktemp('syn') / 'syn.db'}"
    make_synthetic_study(url, "syn", 150, profiles=SYN_PROFILES, seed=1)
    return url


def tiny_study_config(out: Path, name: str, trials: int, **over: Any) -> Any:
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
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What ``run_study`` returns for a real 3-trial study (torch + ONNX Runtime fp32 and static int8)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from workbench.study import run_study

    cfg = tiny_study_config(tmp_path_factory.mktemp("real"), "real", 3)
    return run_study(cfg, progress=False, measure_memory=False)
