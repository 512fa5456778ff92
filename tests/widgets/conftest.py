"""Studies for the widget tests: a generated one (fast, two profiles, one predicted) ; the real
tiny one (``real_run``, trained, deployed and measured on this host) is in tests/conftest.py."""

from __future__ import annotations

import pytest

# tiny_study_config lives in tests/conftest.py with the session's real study (``real_run``).
from tests.conftest import tiny_study_config as tiny_study_config

SYN_PROFILES = ("host-cpu", "edge-sim")  # the second one's points are labelled predicted


@pytest.fixture(scope="session")
def synthetic_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A generated 150-trial study ``syn`` with four deployments on two profiles."""
    from workbench.study import make_synthetic_study

    url = f"sqlite:///{tmp_path_factory.mktemp('syn') / 'syn.db'}"
    make_synthetic_study(url, "syn", 150, profiles=SYN_PROFILES, seed=1)
    return url
