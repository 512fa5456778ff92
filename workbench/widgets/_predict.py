"""The hook through which the widgets get predicted latency, and the budgets of a profile.

Predicted latency comes from a *predictor*: any callable
``(spec, profile, backend, precision) -> Prediction``. By default it is the library's
calibrated latency predictor, ``workbench.hw.predict_latency``, when this installation has it;
without it (a build without :mod:`workbench.hw`'s predictor) the widgets say that prediction is
unavailable rather than show a number. Every
predicted figure carries ``source="predicted"`` and the basis the predictor gives for it.

Budgets of a profile are read from what the profile states: ``ram_mb`` bounds peak memory and
``flash_kb`` the artifact size; a ``budgets`` or ``constraints`` mapping on the profile (for
example ``{latency_ms: 20}``) adds to them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = [
    "Budget",
    "Prediction",
    "Predictor",
    "default_predictor",
    "predict",
    "profile_budgets",
    "resolve_predictor",
]

PREDICTOR_MISSING = "predicted latency needs the latency predictor (workbench.hw.predict_latency), which this installation does not have"


class Prediction(NamedTuple):
    """A predicted latency (never a measurement) with its per-layer breakdown and basis."""

    profile: str
    deployment: str
    latency_ms: float
    layers: list[tuple[str, float]]  # (layer name, ms)
    basis: str
    source: str = "predicted"

    def breakdown(self) -> dict[str, Any]:
        """The form :func:`workbench.report.layer_breakdown_info` takes for a predicted series."""
        return {
            "names": [n for n, _ in self.layers],
            "values_ms": [v for _, v in self.layers],
            "label": f"latency per layer (predicted for {self.profile}, {self.deployment})",
            "note": f"predicted, not measured: {self.basis}",
        }


Predictor = Callable[..., Prediction]


def default_predictor() -> Predictor | None:
    """The library's latency predictor wrapped as a :data:`Predictor`, or None when absent."""
    hw = importlib.import_module("workbench.hw")
    fn = getattr(hw, "predict_latency", None)
    if fn is None:
        return None

    def predictor(
        spec: Any, profile: Any, backend: str | None = None, precision: str | None = None
    ) -> Prediction:
        from workbench.calibrate import find_calibration

        pred = fn(spec, profile, backend, precision, calibration=find_calibration(profile))
        name = getattr(profile, "name", str(profile))
        layers = [
            (str(row.get("name")), float(row.get("ms", 0.0)))
            for row in getattr(pred, "layers", []) or []
        ]
        trust = getattr(pred, "trust", {}) or {}
        basis = str(trust.get("basis") or "the library's latency predictor")
        if trust.get("calibrated") is not None:
            basis = f"{'calibrated' if trust.get('calibrated') else 'uncalibrated'}; {basis}"
        if not (backend and precision):  # the profile's recipe, as the predictor chose it
            from workbench.hw import load_profile

            recipe = load_profile(profile).deploy
            backend, precision = (
                (recipe.backend, recipe.precision)
                if recipe
                else (backend, getattr(pred, "precision", None))
            )
        dep = f"{backend}-{precision}" if backend and precision else "recipe"
        return Prediction(name, dep, float(pred.latency_ms), layers, basis)

    return predictor


def resolve_predictor(predictor: Predictor | str | None) -> Predictor | None:
    """``"default"``: the library's predictor when installed; a callable as given; None: none."""
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
    spec: Any,
    profile: Any,
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


class Budget(NamedTuple):
    """A bound on one objective for a profile, in the explorer's display units, with its source."""

    metric: str  # accuracy | latency | latency_p90 | size | memory
    bound: float
    source: str


#: how a profile's own budget names map to objectives and display units (value * factor)
_BUDGET_NAMES: dict[str, tuple[str, float]] = {
    "latency": ("latency", 1.0),
    "latency_ms": ("latency", 1.0),
    "latency_p50_ms": ("latency", 1.0),
    "latency_p90": ("latency_p90", 1.0),
    "latency_p90_ms": ("latency_p90", 1.0),
    "memory": ("memory", 1.0),
    "memory_mb": ("memory", 1.0),
    "ram_mb": ("memory", 1.0),
    "peak_memory_mb": ("memory", 1.0),
    "size": ("size", 1.0),
    "size_kb": ("size", 1.0),
    "flash_kb": ("size", 1.0),
    "size_mb": ("size", 1024.0),
    "accuracy": ("accuracy", 1.0),
    "min_accuracy": ("accuracy", 1.0),
}


def _value(v: Any) -> tuple[float | None, str | None]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v), None
    if isinstance(v, Mapping) and "value" in v:
        return _value(v["value"])[0], str(v.get("source") or "") or None
    value = getattr(v, "value", None)
    if isinstance(value, (int, float)):
        return float(value), getattr(v, "source", None)
    return None, None


def profile_budgets(profile: Any) -> list[Budget]:
    """Budgets stated by ``profile`` (a HardwareProfile or its name)."""
    if isinstance(profile, str):
        from workbench.hw import load_profile

        profile = load_profile(profile)
    out: dict[str, Budget] = {}
    for attr, metric in (("ram_mb", "memory"), ("flash_kb", "size")):
        value, source = _value(getattr(profile, attr, None))
        if value is not None:
            out[metric] = Budget(
                metric, value, f"{profile.name}.{attr}" + (f" ({source})" if source else "")
            )
    for attr in ("budgets", "constraints"):
        extra = getattr(profile, attr, None)
        if not isinstance(extra, Mapping):
            continue
        for name, raw in extra.items():
            if name not in _BUDGET_NAMES:
                continue
            metric, factor = _BUDGET_NAMES[name]
            value, source = _value(raw)
            if value is not None:
                out[metric] = Budget(
                    metric,
                    value * factor,
                    f"{profile.name}.{attr}.{name}" + (f" ({source})" if source else ""),
                )
    return list(out.values())
