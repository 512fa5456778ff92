"""A candidate on a simulated profile: its recipe's real file, that file's accuracy here,
predicted speed.

Kept apart from the trial pipeline so that any pipeline (one framework or several) can evaluate
simulated profiles the same way: pick a trained model the recipe's backend can deploy, build the
recipe's file with the device's ISA choices, evaluate its accuracy on this host, predict latency
and memory for the device (:func:`workbench.bench.predict_deployments`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from workbench._errors import WorkbenchError
from workbench.arch import ArchSpec
from workbench.backends import Artifact, CompileContext, Deployment, ModelSource, get_backend
from workbench.bench import Measurement, predict_deployments
from workbench.calibrate import find_calibration
from workbench.data import Dataset
from workbench.hw import HardwareProfile

__all__ = ["framework_builder", "model_source", "recipe_source", "simulated_measurements"]


class ModelBuilder(Protocol):
    """``build_<framework>``: the untrained model of ``spec`` (an nn.Module, a keras.Model)."""

    def __call__(self, spec: ArchSpec, *, seed: int | None = None) -> object: ...


def framework_builder(framework: str) -> ModelBuilder:
    """``build_<framework>(spec, seed=...)`` from :mod:`workbench.arch` (``build_torch``,
    ``build_keras``)."""
    import workbench.arch as arch

    fn = getattr(arch, f"build_{framework}", None)
    if fn is None:
        raise WorkbenchError(
            f"no model builder for framework {framework!r} (workbench.arch.build_{framework})"
        )
    return fn


def recipe_source(
    profile: HardwareProfile, sources: Mapping[str, ModelSource]
) -> ModelSource | None:
    """The first trained model (in the study's framework order) the profile's recipe can deploy."""
    if profile.deploy is None:
        return next(iter(sources.values()), None)
    try:
        backend = get_backend(profile.deploy.backend)
    except WorkbenchError:
        return None
    return next((s for fw, s in sources.items() if fw in backend.frameworks), None)


def simulated_measurements(
    profile: HardwareProfile,
    sources: Mapping[str, ModelSource],
    deployments: Sequence[Deployment],
    *,
    spec: ArchSpec | None,
    data: Dataset,
    ctx: CompileContext | Mapping[str, CompileContext],
    workdir: Path,
    onnx_exporter: str,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[list[Measurement], dict[str, Artifact]]:
    """Measurements (``source="predicted"``) of ``profile``'s deployments for one candidate."""
    src = recipe_source(profile, sources)
    if src is None:
        fw = next(iter(sources), "torch")
        out = [
            Measurement(
                profile.name,
                fw,
                d.backend,
                d.precision,
                source="predicted",
                status="failed",
                stage="config",
                error=(
                    f"no trained model of a framework the {d.backend} backend deploys "
                    f"({', '.join(sources)})"
                ),
            )
            for d in deployments
        ]
        return out, {}
    own = ModelSource(
        src.framework,
        src.model,
        src.input_shape,
        workdir,
        name="model",
        onnx_exporter=onnx_exporter,
        layout=src.layout,
    )
    own_ctx = ctx if isinstance(ctx, CompileContext) else ctx[src.framework]
    return predict_deployments(
        own,
        deployments,
        profile,
        spec=spec,
        x_test=data.x_test,
        y_test=data.y_test,
        compile_ctx=dataclasses.replace(own_ctx),
        on_stage=on_stage,
        calibration=find_calibration(profile),
    )


def model_source(
    framework: str,
    model: Any,
    spec: ArchSpec,
    workdir: Path,
    *,
    name: str,
    onnx_exporter: str = "auto",
) -> ModelSource:
    """``model`` (built from ``spec`` in ``framework``) as a :class:`ModelSource` in its own
    layout."""
    if framework == "keras":
        from workbench.arch import keras_input_shape

        return ModelSource(
            "keras",
            model,
            keras_input_shape(spec.input_shape),
            workdir,
            name=name,
            layout="channels_last",
        )
    return ModelSource(
        framework, model, spec.input_shape, workdir, name=name, onnx_exporter=onnx_exporter
    )
