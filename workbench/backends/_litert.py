"""LiteRT (TensorFlow Lite): Keras to a ``.tflite`` flatbuffer, run by ``ai-edge-litert``.

Precisions:

- ``fp32``: the float model;
- ``fp16``: float16 weights, dequantized when loaded (the arithmetic stays fp32 on CPUs
  without native fp16);
- ``int8-dynamic``: dynamic-range quantization, int8 weights with activations quantized at run
  time, no calibration data;
- ``int8-static``: full-integer quantization, every op int8 (the TFLite int8 builtin op set
  only), activation ranges calibrated on training samples (the representative dataset).
  Inputs and outputs stay float32 unless ``io: int8``.

The model goes Keras -> SavedModel (``keras.Model.export``, done once per model) ->
``tf.lite.TFLiteConverter`` with the TFLite builtin op set only: the LiteRT interpreter has no
TensorFlow (Flex) kernels, so a model using an op outside that set fails to convert, and the
deployment is recorded as failed with the op named. Each int8 artifact's validation accuracy
is checked against the float model's; when the drop exceeds the tolerance, int8-static tries
per-tensor weight scales next, and every attempt is recorded. Runners use the interpreter's
default XNNPACK delegate with the profile's intra-op threads.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import ConfigError, DeploymentError
from workbench._imports import require
from workbench._tf import quiet_native, tf_runtime
from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
)
from workbench.backends._int8 import choose_int8

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

__all__ = ["LiteRTBackend", "saved_model_dir"]


def saved_model_dir(source: ModelSource) -> Path:
    """The Keras model exported as a SavedModel (dynamic batch, input ``input``), once a source."""

    def make() -> Path:
        tf = tf_runtime()
        out = source.workdir / f"{source.name}.savedmodel"
        if out.exists():
            shutil.rmtree(out)
        spec = [tf.TensorSpec((None, *source.input_shape), tf.float32, name="input")]
        start = time.perf_counter()
        try:
            with quiet_native():
                source.model.export(
                    str(out), format="tf_saved_model", input_signature=spec, verbose=False
                )
        except Exception as err:
            raise DeploymentError(
                "export",
                f"keras.Model.export (SavedModel): {type(err).__name__}: {_first_line(err)}",
            ) from err
        source.export_meta["saved_model_export_s"] = round(time.perf_counter() - start, 3)
        return out

    return source.cached("saved_model", make)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""


def _converter_reason(err: BaseException) -> str:
    """The converter's own reason, short: which ops the TFLite builtin op set lacks."""
    text = str(err)
    ops: list[str] = []
    for pattern in (r"Custom ops: ([^\n]+)", r"Flex ops: ([^\n]+)"):
        for m in re.finditer(pattern, text):
            ops.extend(o.strip() for o in m.group(1).split(","))
    if not ops:
        ops = re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
    if ops:
        names = ", ".join(dict.fromkeys(ops))
        return (
            f"TFLite converter: op(s) {names} are not in the TFLite builtin op set (the LiteRT "
            "interpreter runs builtin ops only, no TensorFlow/Flex kernels)"
        )
    first_error = re.search(r"error: ([^\n]+)", text)
    return (
        "TFLite converter: "
        f"{first_error.group(1)[:300] if first_error else _first_line(err) or type(err).__name__}"
    )


def _scheme(
    label: str, per_channel: bool, reason: str, *, activations: str = "s8"
) -> dict[str, Any]:
    return {
        "label": label,
        "activations": activations,
        "weights": "s8",
        "per_channel": per_channel,
        "reason": reason,
    }


class _LiteRTRunner(Runner):
    """One interpreter; resized when the batch changes, int8 inputs/outputs (de)quantized."""

    def __init__(self, interpreter: Interpreter, meta: dict[str, Any]) -> None:
        self.it = interpreter
        self.meta = meta
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        self.in_index, self.out_index = inp["index"], out["index"]
        self.in_dtype, self.out_dtype = inp["dtype"], out["dtype"]
        self.in_q, self.out_q = inp["quantization"], out["quantization"]
        self.shape = tuple(int(d) for d in inp["shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        it = self.it
        if tuple(x.shape) != self.shape:
            it.resize_tensor_input(self.in_index, list(x.shape), strict=True)
            it.allocate_tensors()
            self.shape = tuple(x.shape)
        if self.in_dtype != np.float32:  # integer input: quantize as the converter recorded
            scale, zero = self.in_q
            info = np.iinfo(self.in_dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(self.in_dtype)
        it.set_tensor(self.in_index, x)
        it.invoke()
        y = it.get_tensor(self.out_index)
        if self.out_dtype != np.float32:
            scale, zero = self.out_q
            y = (y.astype(np.float32) - zero) * scale
        return y

    def close(self) -> None:
        self.it = None


def _interpreter(path: Path, threads: int) -> tuple[Interpreter, dict[str, Any]]:
    interp_mod = require(
        "ai_edge_litert.interpreter", extra="keras", purpose="running LiteRT models"
    )
    with (
        quiet_native()
    ):  # the default delegates (XNNPACK) are applied when tensors are first allocated
        it = interp_mod.Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    ops = [o["op_name"] for o in it._get_ops_details()]
    delegated = "DELEGATE" in ops
    meta = {
        "interpreter": f"ai_edge_litert.interpreter.Interpreter (num_threads={threads})",
        "delegate": "XNNPACK (the interpreter's default CPU delegate)"
        if delegated
        else "none (built-in kernels)",
        "tflite_ops": sorted({o for o in ops if o != "DELEGATE"}),
    }
    return it, meta


class LiteRTBackend(Backend):
    name = "litert"
    frameworks = ("keras",)
    precisions = ("fp32", "fp16", "int8-dynamic", "int8-static")
    options = ("calibration_samples", "per_channel", "io")
    requires = ("tensorflow", "ai_edge_litert")
    extra = "keras"
    runtime_packages = ("ai-edge-litert",)
    file_format = "tflite"

    def check(self, deployment: Deployment, framework: str | None = None) -> None:
        super().check(deployment, framework)
        opts = deployment.opts
        if "io" in opts:
            if opts["io"] not in ("float", "int8"):
                raise ConfigError(f"io must be float or int8, got {opts['io']!r}")
            if deployment.precision != "int8-static" and opts["io"] == "int8":
                raise ConfigError("io: int8 needs precision int8-static (full-integer)")
        if "per_channel" in opts and not isinstance(opts["per_channel"], bool):
            raise ConfigError(f"per_channel must be true or false, got {opts['per_channel']!r}")
        if "calibration_samples" in opts:
            n = opts["calibration_samples"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"calibration_samples must be an integer >= 1, got {n!r}")

    # -- compile ------------------------------------------------------------------------------
    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        self.check(deployment, source.framework)
        tf = tf_runtime(ctx.threads)
        saved = saved_model_dir(source)
        precision = deployment.precision
        out = source.workdir / f"{source.name}.{precision}.tflite"
        meta: dict[str, Any] = {
            "format": "TFLite flatbuffer (.tflite)",
            "converter": (
                f"tf.lite.TFLiteConverter.from_saved_model (TensorFlow {tf.__version__}), TFLite "
                "builtin ops only"
            ),
            **source.export_meta,
        }
        if precision in ("fp32", "fp16"):
            out.write_bytes(self._convert(tf, saved, precision, None, deployment, ctx))
            meta["quantization"] = (
                "none"
                if precision == "fp32"
                else "float16 weights (dequantized to fp32 at load on CPUs without fp16 arithmetic)"
            )
            return Artifact(deployment, source.framework, out, source.input_shape, meta=meta)

        static = precision == "int8-static"
        schemes = self._schemes(deployment, static=static)
        has_val = ctx.x_val is not None and ctx.y_val is not None and len(ctx.x_val)
        choice = choose_int8(
            schemes,
            out,
            build=lambda scheme, path: path.write_bytes(
                self._convert(tf, saved, precision, scheme, deployment, ctx)
            ),
            accuracy=(lambda path: self._accuracy(path, ctx)) if has_val else None,
            reference=ctx.reference_accuracy,
            max_drop=ctx.max_accuracy_drop,
            describe=lambda scheme: scheme,
            catch=(DeploymentError,),
            give_up=lambda err: (
                "builtin op set" in str(err)
            ),  # an op the runtime lacks is missing whatever the scheme
            reraise_lone=True,
        )
        meta["int8_within_tolerance"] = choice.within_tolerance
        meta.update(
            int8_scheme=choice.scheme,
            int8_tries=choice.tries,
            quantization=(
                "full-integer int8 (TFLITE_BUILTINS_INT8), activation ranges calibrated on "
                "training samples"
                if static
                else "dynamic range: int8 weights, activations quantized at run time"
            ),
        )
        if static:
            meta["calibration_samples"] = int(sum(len(b) for b in ctx.calibration_for(deployment)))
            meta["io"] = deployment.opts.get("io", "float")
        return Artifact(deployment, source.framework, out, source.input_shape, meta=meta)

    def _schemes(self, deployment: Deployment, *, static: bool) -> list[dict[str, Any]]:
        if not static:
            return [
                _scheme(
                    "dynamic-range S8 weights",
                    True,
                    "TFLite dynamic-range quantization",
                    activations="dynamic",
                )
            ]
        schemes = [
            _scheme(
                "S8S8+per_channel",
                True,
                "TFLite default: int8 activations, per-channel symmetric int8 weights",
            ),
            _scheme("S8S8", False, "fallback: per-tensor weight scales"),
        ]
        if "per_channel" in deployment.opts:
            schemes = [
                s for s in schemes if s["per_channel"] is bool(deployment.opts["per_channel"])
            ]
        return schemes

    def _convert(
        self,
        tf: ModuleType,
        saved: Path,
        precision: str,
        scheme: dict[str, Any] | None,
        deployment: Deployment,
        ctx: CompileContext,
    ) -> bytes:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if precision != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if scheme is not None and not scheme["per_channel"]:
            converter._experimental_disable_per_channel = (
                True  # TFLite's switch for per-tensor weight scales
            )
        if precision == "int8-static":
            batches = ctx.calibration_for(deployment)
            if not batches:
                raise DeploymentError(
                    "quantize", "full-integer int8 needs calibration data, and none was given"
                )

            def representative() -> Iterator[list[np.ndarray]]:
                for b in batches:
                    yield [np.asarray(b, dtype=np.float32)]

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if deployment.opts.get("io") == "int8":
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        try:
            with quiet_native():
                return bytes(converter.convert())
        except Exception as err:
            raise DeploymentError("convert", _converter_reason(err)) from err

    def _accuracy(self, path: Path, ctx: CompileContext) -> float:
        from workbench.backends._base import accuracy_of

        it, meta = _interpreter(path, ctx.threads.intra_op)
        runner = _LiteRTRunner(it, meta)
        try:
            return accuracy_of(runner, ctx.x_val, ctx.y_val)  # type: ignore[arg-type]
        finally:
            runner.close()

    # -- load ---------------------------------------------------------------------------------
    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        assert artifact.path is not None
        it, meta = _interpreter(artifact.path, threads.intra_op)
        return _LiteRTRunner(it, meta)
