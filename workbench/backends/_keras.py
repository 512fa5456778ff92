"""Keras framework baselines: eager fp32, and the compiled ``tf.function`` path (XLA where it runs).

``keras-fp32`` calls the model op by op in eager mode (``model(x, training=False)``), as a
Keras user runs it in a notebook: the framework's own baseline, the Keras counterpart of
``torch-fp32``. ``keras-xla-fp32`` traces the model once into a ``tf.function`` compiled with
XLA (``jit_compile=True``); when XLA cannot compile the model, it falls back to the plain
graph-mode ``tf.function`` and says so (option ``jit_compile: true`` makes that a failure,
``false`` skips XLA).

Both artifacts are the model saved as a ``.keras`` file, which the memory worker reloads. A
model that cannot be saved (a custom layer Keras cannot serialise) is still measured in
process; its memory is reported unavailable with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from workbench._errors import ConfigError
from workbench._tf import tf_runtime, tf_threads_in_effect
from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
)

if TYPE_CHECKING:
    import keras

__all__ = ["KerasBackend", "KerasXlaBackend", "keras_file"]


def keras_file(source: ModelSource) -> tuple[Path | None, str | None]:
    """The source's model saved as ``<workdir>/<name>.keras`` once: ``(path or None, why not)``."""

    def make() -> tuple[Path | None, str | None]:
        path = source.workdir / f"{source.name}.keras"
        try:
            source.model.save(str(path))
        except Exception as err:  # noqa: BLE001 - measured without a file; the reason is kept
            text = str(err).strip().splitlines()
            return (
                None,
                f"the model cannot be saved as .keras: {type(err).__name__}: "
                f"{text[0][:300] if text else ''}",
            )
        return path, None

    return source.cached("keras_file", make)


def _load_model(artifact: Artifact) -> keras.Model:
    if artifact.live is not None:
        return artifact.live
    if artifact.path is None:
        raise ConfigError(
            f"no model file: {artifact.meta.get('no_file_reason', 'the model was not saved')}"
        )
    import keras

    return keras.models.load_model(str(artifact.path), compile=False)


#: a Keras model's forward pass on a batch (its result a TensorFlow tensor or an array)
_Forward: TypeAlias = Callable[[np.ndarray], Any]


class _KerasRunner(Runner):
    def __init__(self, fn: _Forward, meta: dict[str, Any]) -> None:
        self.fn = fn
        self.meta = meta

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.fn(x)
        return y.numpy() if hasattr(y, "numpy") else np.asarray(y)

    def close(self) -> None:
        self.fn = None  # type: ignore[assignment]  # released; a closed runner is not called


class KerasBackend(Backend):
    name = "keras"
    frameworks = ("keras",)
    precisions = ("fp32",)
    requires = ("tensorflow", "keras")
    extra = "keras"
    runtime_packages = ("tensorflow", "tensorflow-cpu", "keras")
    file_format = "keras"
    mode = "eager (model(x, training=False), op by op)"

    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        self.check(deployment, source.framework)
        tf_runtime(ctx.threads)
        path, why = keras_file(source)
        meta: dict[str, Any] = {"format": "Keras v3 file (.keras)", "execution": self.mode}
        if why:
            meta["no_file_reason"] = why
        return Artifact(
            deployment, source.framework, path, source.input_shape, meta=meta, live=source.model
        )

    def _callable(self, model: keras.Model, artifact: Artifact, meta: dict[str, Any]) -> _Forward:
        def call(x: np.ndarray) -> Any:
            return model(x, training=False)

        return call

    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        tf_runtime(threads)
        model = _load_model(artifact)
        meta: dict[str, Any] = {"framework_threads": {"tensorflow": tf_threads_in_effect()}}
        return _KerasRunner(self._callable(model, artifact, meta), meta)


class KerasXlaBackend(KerasBackend):
    name = "keras-xla"
    options = ("jit_compile",)
    mode = "tf.function (graph), compiled with XLA where it runs"

    def check(self, deployment: Deployment, framework: str | None = None) -> None:
        super().check(deployment, framework)
        jit = deployment.opts.get("jit_compile", "auto")
        if jit not in ("auto", True, False):
            raise ConfigError(f"jit_compile must be auto, true or false, got {jit!r}")

    def _callable(self, model: keras.Model, artifact: Artifact, meta: dict[str, Any]) -> _Forward:
        tf = tf_runtime()
        jit = artifact.deployment.opts.get("jit_compile", "auto")
        spec = [tf.TensorSpec((None, *artifact.input_shape), tf.float32, name="input")]
        example = np.zeros((1, *artifact.input_shape), dtype=np.float32)

        def traced(jit_compile: bool) -> _Forward:
            fn = tf.function(
                lambda x: model(x, training=False),
                jit_compile=jit_compile,
                input_signature=spec,
                reduce_retracing=True,
            )
            fn(
                example
            )  # trace and compile now: a model XLA cannot compile fails here, not while timed
            return fn

        if jit is False:
            meta["compiler"] = "tf.function graph mode (XLA off by option)"
            return traced(False)
        try:
            fn = traced(True)
            meta["compiler"] = "XLA (tf.function jit_compile=True)"
            return fn
        except Exception as err:
            if jit is True:
                raise
            text = str(err).strip().splitlines()
            meta["compiler"] = "tf.function graph mode (XLA could not compile the model)"
            meta["xla_error"] = f"{type(err).__name__}: {text[0][:300] if text else ''}"
            return traced(False)
