"""A hand-designed architecture: its figures and budget verdicts on hardware profiles, checked
with the rules a study applies to a candidate before training, and adding it to a study as one
more trial, measured exactly like the searched ones.

:func:`check_design` computes, per profile, the figures of the deployment budgets apply to (the
profile's recipe): predicted latency with its trust figures (or measured, when a measurement of
the recipe is given), size, peak memory and, on a microcontroller, tensor arena and flash. Each
figure says whether it was measured or predicted. The bounds are the study's: the profile's own
limits (:func:`~workbench.study._constraints.budgets_for`), a study config's ``constraints`` and
budgets passed in, the tightest per metric; each verdict says where its bound came from.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from workbench._errors import ConfigError, WorkbenchError
from workbench.arch import ArchSpec
from workbench.backends import Deployment
from workbench.hw import HardwareProfile, load_profile
from workbench.study._constraints import (
    BUDGET_FIELDS,
    Budget,
    TargetFigures,
    budgets_for,
    combine_budgets,
    evaluate_constraints,
)
from workbench.study._feasibility import (
    final_figures,
    footprint_figures,
    predict_recipe_latency,
    recipe_of,
)
from workbench.study._metrics import LIMITS
from workbench.study._origin import DESIGNED, ORIGIN_ATTR

if TYPE_CHECKING:
    import optuna

    from workbench.bench import Measurement
    from workbench.study._config import StudyConfig

__all__ = [
    "BudgetVerdict",
    "DesignCheck",
    "DesignFigure",
    "PredictedLatency",
    "Predictor",
    "RecipeCheck",
    "add_designed_trial",
    "check_design",
    "default_predictor",
    "study_config",
]

NO_PREDICTOR = "no latency predictor given"

#: a study config as the functions here take it: a StudyConfig, a YAML path, or its mapping
ConfigLike: TypeAlias = "StudyConfig | str | os.PathLike[str] | Mapping[str, Any] | None"


class PredictedLatency(NamedTuple):
    """A predicted latency (never a measurement) with its per-layer breakdown and basis."""

    profile: str
    deployment: str
    latency_ms: float
    layers: list[tuple[str, float]]  # (layer name, ms)
    basis: str
    source: str = "predicted"
    trust: Mapping[str, Any] = {}  # the predictor's trust figures (calibration, error, ...)

    def breakdown(self) -> dict[str, Any]:
        """The form :func:`workbench.report.layer_breakdown_info` takes for a predicted series."""
        return {
            "names": [n for n, _ in self.layers],
            "values_ms": [v for _, v in self.layers],
            "label": f"latency per layer (predicted for {self.profile}, {self.deployment})",
            "note": f"predicted, not measured: {self.basis}",
        }


#: ``(spec, profile, backend, precision) -> PredictedLatency``; backend/precision None: recipe
Predictor = Callable[..., PredictedLatency]


def default_predictor() -> Predictor:
    """The latency prediction a study uses, as a :data:`Predictor`."""

    def predictor(
        spec: ArchSpec,
        profile: HardwareProfile | str,
        backend: str | None = None,
        precision: str | None = None,
    ) -> PredictedLatency:
        prof = load_profile(profile)
        pred = predict_recipe_latency(spec, prof, backend, precision)
        layers = [(str(row.get("name")), float(row.get("ms", 0.0))) for row in pred.layers or []]
        trust = dict(pred.trust or {})
        basis = str(trust.get("basis") or pred.params.basis or "the library's latency predictor")
        if trust.get("calibrated") is not None:
            basis = f"{'calibrated' if trust.get('calibrated') else 'uncalibrated'}; {basis}"
        if not (backend and precision) and prof.deploy is not None:
            backend, precision = prof.deploy.backend, prof.deploy.precision
        dep = f"{backend}-{precision or pred.precision}" if backend else "recipe"
        return PredictedLatency(prof.name, dep, float(pred.latency_ms), layers, basis, trust=trust)

    return predictor


@dataclass(frozen=True)
class DesignFigure:
    """One figure of a design's deployment on a profile (base units: ms or bytes)."""

    metric: str  # latency_ms | memory_bytes | size_bytes | arena_bytes | flash_bytes
    value: float | None  # None: not known (``note`` says why)
    source: str  # measured | predicted
    note: str = ""

    @property
    def label(self) -> str:
        """``predicted latency (dep)``-style words for the figure, e.g. ``memory estimate``."""
        name = LIMITS[self.metric].label
        if self.source == "measured":
            return f"measured {name}"
        return "predicted latency" if self.metric == "latency_ms" else f"{name} estimate"

    def display(self) -> float | None:
        """The value in its display unit (the metric registry's :data:`LIMITS`)."""
        return None if self.value is None else self.value * LIMITS[self.metric].scale


@dataclass(frozen=True)
class BudgetVerdict:
    """One bound on one profile's recipe: met, broken, or unknown (no figure to compare)."""

    profile: str
    deployment: str
    metric: str
    status: str  # met | broken | unknown (a study counts unknown as violated)
    value: float | None
    bound: float
    value_source: str  # measured | predicted
    bound_source: str  # a profile field, the study config's constraints, or budgets passed in
    from_device: bool = False

    @property
    def unit(self) -> str:
        return LIMITS[self.metric].display_unit

    def display(self) -> tuple[float | None, float]:
        """(value, bound) in the display unit."""
        scale = LIMITS[self.metric].scale
        return (None if self.value is None else self.value * scale), self.bound * scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "deployment": self.deployment,
            "metric": self.metric,
            "status": self.status,
            "value": self.value,
            "bound": self.bound,
            "value_source": self.value_source,
            "bound_source": self.bound_source,
            "from_device": self.from_device,
        }


@dataclass(frozen=True)
class RecipeCheck:
    """A design on one profile: the figures of its recipe deployment and every budget's verdict."""

    profile: str
    kind: str  # the profile's: measured | simulated
    deployment: str
    figures: dict[str, DesignFigure]
    verdicts: list[BudgetVerdict]
    prediction: PredictedLatency | None = None  # with the trust figures and per-layer times
    budget: Budget | None = None

    @property
    def trust(self) -> Mapping[str, Any]:
        return self.prediction.trust if self.prediction is not None else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "kind": self.kind,
            "deployment": self.deployment,
            "figures": {
                k: {"value": f.value, "source": f.source, "note": f.note}
                for k, f in self.figures.items()
            },
            "trust": dict(self.trust),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class DesignCheck:
    """:func:`check_design`'s answer: one :class:`RecipeCheck` per profile, in the given order."""

    spec: ArchSpec
    recipes: list[RecipeCheck] = field(default_factory=list)

    def __getitem__(self, profile: str) -> RecipeCheck:
        for r in self.recipes:
            if r.profile == profile:
                return r
        raise KeyError(profile)

    def verdicts(self) -> list[BudgetVerdict]:
        return [v for r in self.recipes for v in r.verdicts]

    def broken(self) -> list[BudgetVerdict]:
        return [v for v in self.verdicts() if v.status == "broken"]

    @property
    def feasible(self) -> bool:
        """What a study's pre-filter would decide: every bound met (unknown counts as broken)."""
        return all(v.status == "met" for v in self.verdicts())

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec_hash": self.spec.hash,
            "feasible": self.feasible,
            "recipes": [r.to_dict() for r in self.recipes],
        }


def _given_budget(profile: str, given: Budget | Mapping[str, float], source: str) -> Budget:
    if isinstance(given, Budget):
        return given
    values: dict[str, float] = {}
    for key, bound in given.items():
        if key not in BUDGET_FIELDS:
            raise ConfigError(
                f"budgets[{profile!r}]: unknown key {key!r}; expected one of: "
                + ", ".join(BUDGET_FIELDS)
            )
        metric, scale = BUDGET_FIELDS[key]
        values[metric] = float(bound) * scale
    return Budget(
        profile,
        sources=tuple((m, source) for m in values),
        **values,  # type: ignore[arg-type]  # float fields by name
    )


def _figure_source(fig: TargetFigures, metric: str) -> str:
    note = fig.notes.get(metric, "")
    if fig.source == "predicted" or (note and not note.startswith("measured")):
        return "predicted"
    return "measured"


def check_design(
    spec: ArchSpec,
    profiles: Sequence[HardwareProfile | str],
    *,
    budgets: Mapping[str, Budget | Mapping[str, float]] | None = None,
    config: StudyConfig | None = None,
    predictor: Predictor | str | None = "default",
    measurements: Sequence[Measurement] = (),
    budget_source: str = "budgets passed in",
) -> DesignCheck:
    """Check ``spec`` on each of ``profiles`` with the rules a study applies before training.

    ``budgets`` bound a profile's recipe, per profile name: a :class:`Budget`, or a mapping
    with the keys of a study config's ``constraints`` (``latency_ms``, ``memory_mb``, ...),
    whose bounds are labelled ``budget_source``. ``config``: a study config whose deployments
    and ``constraints`` apply too. ``predictor``: ``"default"``, the latency prediction a study
    uses; a :data:`Predictor`; None: latency is not predicted. ``measurements``: measurements
    of the spec (untrained weights do); one of a profile's recipe replaces its predictions.
    """
    if not isinstance(spec, ArchSpec):
        raise ConfigError(f"expected an ArchSpec, got {type(spec).__name__}")
    if isinstance(predictor, str):
        if predictor != "default":
            raise ConfigError(f"predictor must be 'default', a callable or None, got {predictor!r}")
        predictor = default_predictor()
    out = []
    for p in profiles:
        prof = load_profile(p)
        deployments = config.profile_deployments(prof) if config is not None else ()
        if prof.deploy is None and not deployments:
            deployments = (Deployment("onnxruntime", "fp32"),)
        dep = recipe_of(prof, deployments)
        configured = config.constraints.get(prof.name) if config is not None else None
        given = (budgets or {}).get(prof.name)
        budget = combine_budgets(
            prof.name,
            budgets_for(prof, configured),
            _given_budget(prof.name, given, budget_source) if given is not None else None,
        )
        out.append(_check_one(spec, prof, dep, budget, predictor, measurements))
    return DesignCheck(spec, out)


def _check_one(
    spec: ArchSpec,
    prof: HardwareProfile,
    dep: Deployment,
    budget: Budget | None,
    predictor: Predictor | None,
    measurements: Sequence[Measurement],
) -> RecipeCheck:
    prediction: PredictedLatency | None = None
    ours = [m for m in measurements if m.profile == prof.name and m.deployment == dep.name]
    if any(m.ok for m in ours):
        fig = final_figures(spec, prof, dep, [m for m in ours if m.ok])
        if prof.device != "mcu":  # final_figures estimates a microcontroller's itself
            footprint_figures(spec, prof, dep.precision, fig)
    else:
        fig = TargetFigures(prof.name, dep.name, "predicted")
        if predictor is None:
            fig.notes["latency_ms"] = NO_PREDICTOR
        else:
            try:
                prediction = predictor(spec, prof, dep.backend, dep.precision)
            except Exception as err:  # noqa: BLE001 - shown to the user as the reason
                text = str(err).strip().splitlines()
                fig.notes["latency_ms"] = (
                    f"no prediction: {type(err).__name__}: {text[0] if text else ''}"
                )
            else:
                fig.latency_ms = float(prediction.latency_ms)
                fig.notes["latency_ms"] = "predicted: " + prediction.basis
        footprint_figures(spec, prof, dep.precision, fig)
    figures = {
        metric: DesignFigure(
            metric, getattr(fig, metric), _figure_source(fig, metric), fig.notes.get(metric, "")
        )
        for metric in LIMITS
        if getattr(fig, metric) is not None or metric in fig.notes
    }
    verdicts = []
    for cv in evaluate_constraints(fig, budget) if budget is not None else []:
        metric = cv.key.split(":", 1)[1]
        status = "unknown" if cv.value is None else ("met" if cv.ok else "broken")
        verdicts.append(
            BudgetVerdict(
                prof.name,
                dep.name,
                metric,
                status,
                cv.value,
                cv.limit,
                _figure_source(fig, metric),
                budget.source_of(metric) if budget is not None else "",
                cv.from_device,
            )
        )
    return RecipeCheck(prof.name, prof.kind, dep.name, figures, verdicts, prediction, budget)


# -- adding a design to a study -------------------------------------------------------------------


def _storage_url(study: optuna.Study) -> str | None:
    st = getattr(study._storage, "_backend", study._storage)
    url = getattr(st, "url", None)
    return url if isinstance(url, str) else None


def study_config(study: optuna.Study, config: ConfigLike = None) -> StudyConfig:
    """The :class:`~workbench.study.StudyConfig` ``study`` was run with: ``config`` (a path, a
    mapping or a StudyConfig) when given, else the config stored in the study itself."""
    from workbench.study._config import StudyConfig, load_config

    if isinstance(config, StudyConfig):
        cfg = config
    elif isinstance(config, (str, os.PathLike, Mapping)):
        cfg = load_config(config)
    elif config is None:
        raw = study.user_attrs.get("config")
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"study {study.study_name!r} stores no config (was it made by workbench run?); "
                "pass config= the YAML it was run with"
            )
        cfg = load_config(raw, display=f"config stored in study {study.study_name}")
    else:
        raise ConfigError(
            f"config must be a path, a mapping or a StudyConfig, got {type(config).__name__}"
        )
    changes: dict[str, Any] = {"name": study.study_name}
    url = _storage_url(study)
    if url is not None:
        changes["storage"] = url
    return replace(cfg, **changes)


def add_designed_trial(
    spec: ArchSpec,
    study: optuna.Study,
    *,
    config: ConfigLike = None,
    on_stage: Callable[[str], None] | None = None,
    measure_memory: bool = True,
    stop_requested: Callable[[], bool] | None = None,
) -> int:
    """Train, deploy and measure ``spec`` as a new trial of ``study``; returns its trial number.

    The study's own config (data, training, profiles, deployments, measurement settings) drives
    the same :class:`~workbench.study.TrialPipeline`, with a one-off search space that returns
    ``spec``. The trial is marked ``origin: designed``. A spec whose input shape or class count
    differs from the study's data is refused before anything runs. A trial that fails is stored
    as failed with its reason, as in a search, and the reason is raised.
    """
    import optuna

    from workbench.bench import MemoryProbe
    from workbench.data import load_data
    from workbench.study._artifacts import AtomicArtifactStore
    from workbench.study._objective import TrialFailure, TrialPipeline
    from workbench.study._space import SearchSpace

    if not isinstance(spec, ArchSpec):
        raise ConfigError(f"expected an ArchSpec, got {type(spec).__name__}")
    name = study.study_name
    cfg = study_config(study, config)
    opt_study = optuna.load_study(
        study_name=name, storage=study._storage, sampler=optuna.samplers.RandomSampler()
    )
    dirs = [d.name.lower() for d in opt_study.directions]
    if dirs != cfg.directions():
        raise ConfigError(
            f"study {name!r} optimises {dirs}, but the config asks for {cfg.directions()}: "
            "pass the config it was run with"
        )
    data = load_data(cfg.data)
    if tuple(spec.input_shape) != tuple(data.input_shape) or spec.num_classes != data.num_classes:
        raise ConfigError(
            f"the spec takes {spec.input_shape} with {spec.num_classes} classes, but study "
            f"{name!r} uses data of shape {data.input_shape} with {data.num_classes} classes"
        )
    space = SearchSpace(
        lambda _trial: spec, description="designed by hand", definition={"designed": spec.to_dict()}
    )
    store_dir = Path(
        opt_study.user_attrs.get("artifact_store") or (cfg.run_dir / "artifacts").resolve()
    )
    store_dir.mkdir(parents=True, exist_ok=True)
    work = cfg.run_dir / "work-designed"
    memory = MemoryProbe() if measure_memory else None
    try:
        pipeline = TrialPipeline(
            cfg,
            space,
            data,
            work_dir=work,
            artifact_store=AtomicArtifactStore(str(store_dir)),
            memory=memory,
            on_stage=on_stage,
            stop_requested=stop_requested,
        )
        with warnings.catch_warnings():
            # heartbeats serve optimize(); one asked trial needs none
            warnings.simplefilter("ignore", UserWarning)
            trial = opt_study.ask()
        trial.set_user_attr(ORIGIN_ATTR, DESIGNED)
        try:
            values = pipeline(trial)
        except TrialFailure as err:
            opt_study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise WorkbenchError(
                f"trial {trial.number} (designed) failed at {err.stage}: {err.reason}"
            ) from None
        except BaseException:
            opt_study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        opt_study.tell(trial, values)
        return int(trial.number)
    finally:
        if memory is not None:
            memory.close()
        shutil.rmtree(work, ignore_errors=True)
