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
    """Bounds ``profile`` (a HardwareProfile or its name) states: ``ram_mb`` on peak memory
    (MiB) and ``flash_kb`` on size (KiB), for the explorer's filter fields."""
    if isinstance(profile, str):
        from workbench.hw import load_profile

        profile = load_profile(profile)
    out = []
    for attr, metric in (("ram_mb", "memory"), ("flash_kb", "size")):
        sourced = getattr(profile, attr)
        if sourced is not None:
            where = f"{profile.name}.{attr}" + (f" ({sourced.source})" if sourced.source else "")
            out.append(ProfileBound(metric, float(sourced.value), where))
    return out
