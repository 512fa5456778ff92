"""The predictor argument the widgets accept, and the bounds a profile states for the explorer.

Predicted latency comes from a *predictor*: any callable
``(spec, profile, backend, precision) -> Prediction``. ``"default"`` is the prediction a study
uses (:func:`workbench.study.default_predictor`); None shows no predicted latency. Every
predicted figure carries ``source="predicted"`` and the basis the predictor gives for it.
"""

from __future__ import annotations

from typing import NamedTuple

from workbench.arch import ArchSpec
from workbench.hw import HardwareProfile
from workbench.study import PredictedLatency, Predictor, default_predictor
from workbench.study._design import NO_PREDICTOR

__all__ = [
    "Prediction",
    "Predictor",
    "ProfileBound",
    "default_predictor",
    "predict",
    "profile_budgets",
    "resolve_predictor",
]

PREDICTOR_MISSING = NO_PREDICTOR

#: a predicted latency with its per-layer breakdown and basis (the study layer's type)
Prediction = PredictedLatency


def resolve_predictor(predictor: Predictor | str | None) -> Predictor | None:
    """``"default"``: the study's prediction; a callable as given; None: none."""
    if isinstance(predictor, str):
        if predictor != "default":
            raise ValueError(f"predictor must be 'default', a callable or None, got {predictor!r}")
        return default_predictor()
    if predictor is not None and not callable(predictor):
        raise ValueError(
            f"predictor must be 'default', a callable or None, got {type(predictor).__name__}"
        )
    return predictor


def predict(
    predictor: Predictor | None,
    spec: ArchSpec,
    profile: HardwareProfile,
    backend: str | None = None,
    precision: str | None = None,
) -> Prediction | str:
    """A prediction, or the one-line reason there is none."""
    if predictor is None:
        return PREDICTOR_MISSING
    try:
        return predictor(spec, profile, backend, precision)
    except Exception as err:  # noqa: BLE001 - shown to the user as the reason
        text = str(err).strip().splitlines()
        return f"no prediction: {type(err).__name__}: {text[0] if text else ''}"


class ProfileBound(NamedTuple):
    """A filter bound of the explorer (display units: MiB, KiB), from a profile's numbers."""

    metric: str  # memory | size
    bound: float
    source: str


def profile_budgets(profile: HardwareProfile | str) -> list[ProfileBound]:
    """The limits a study sets from ``profile``'s own numbers (``device_budget``), as bounds on
    the explorer's axes in their display units: peak memory (MiB) and model size (KiB).

    A microcontroller's tensor arena is its peak memory; its flash holds the model file and the
    runtime's code, so the model file's bound is the flash less that code.
    """
    from workbench.hw import load_profile, runtime_flash_bytes
    from workbench.study import METRICS
    from workbench.study._constraints import device_budget

    prof = load_profile(profile) if isinstance(profile, str) else profile
    budget = device_budget(prof)
    if budget is None:
        return []
    axis = {"memory_bytes": "memory", "arena_bytes": "memory", "size_bytes": "size"}
    out = []
    for limit, bound in budget.limits().items():
        source = budget.source_of(limit)
        if limit == "flash_bytes":
            code = runtime_flash_bytes(prof)
            bound -= code
            source += f", less {code / 1024:g} KiB of runtime code"
        elif limit not in axis:
            continue
        metric = axis.get(limit, "size")
        out.append(ProfileBound(metric, bound * METRICS[metric].scale, source))
    return out
