"""Checks of a study against itself and against a baseline: reproduce stored trials."""

from workbench.check._reproduce import (
    DeploymentReproduction,
    ReproduceResult,
    TrialReproduction,
    reproduce_trials,
)

__all__ = [
    "DeploymentReproduction",
    "ReproduceResult",
    "TrialReproduction",
    "reproduce_trials",
]
