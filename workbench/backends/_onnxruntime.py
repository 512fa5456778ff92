"""ONNX Runtime on the CPU: fp32, int8 dynamic, and int8 static (QDQ, calibrated).

Int8 types follow the host's ISA (see :mod:`workbench.quant`); each quantized model is
evaluated on the validation split, and the next scheme is tried when the accuracy drop exceeds
the tolerance. Every attempt is recorded in the artifact's metadata.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import DeploymentError
from workbench._imports import require
from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
)
from workbench.backends._export import INPUT_NAME, quiet
from workbench.backends._int8 import choose_int8
from workbench.quant import Int8Scheme, int8_schemes

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["OnnxRuntimeBackend", "ort_session"]

_CALIBRATION = ("minmax", "entropy", "percentile")


def ort_session(
    path: Path | str, threads: Threads, *, provider: str = "cpu"
) -> onnxruntime.InferenceSession:
    ort = require("onnxruntime", extra="onnx")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads.intra_op
    so.inter_op_num_threads = threads.inter_op
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if provider == "cuda"
        else ["CPUExecutionProvider"]
    )
    return ort.InferenceSession(str(path), sess_options=so, providers=providers)


class _OrtRunner(Runner):
    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]

    def close(self) -> None:
        self.session = None


def _accuracy(
    session: onnxruntime.InferenceSession, x: np.ndarray, y: np.ndarray, batch: int = 256
) -> float:
    name = session.get_inputs()[0].name
    correct = 0
    for i in range(0, len(x), batch):
        logits = session.run(None, {name: x[i : i + batch]})[0]
        correct += int((logits.argmax(axis=1) == y[i : i + batch]).sum())
    return correct / max(1, len(x))


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    frameworks = ("torch", "keras", "onnx")
    precisions = ("fp32", "int8-dynamic", "int8-static")
    options = ("per_channel", "calibrate_method", "calibration_samples", "scheme", "provider")
    requires = ("onnxruntime", "onnx")
    extra = "onnx"
    runtime_packages = ("onnxruntime", "onnxruntime-gpu")
    file_format = "onnx"

    def check(self, deployment: Deployment, framework: str | None = None) -> None:
        from workbench._errors import ConfigError

        super().check(deployment, framework)
        opts = deployment.opts
        if "calibrate_method" in opts and opts["calibrate_method"] not in _CALIBRATION:
            raise ConfigError(
                f"calibrate_method must be one of {', '.join(_CALIBRATION)}, got "
                f"{opts['calibrate_method']!r}"
            )
        if "scheme" in opts and opts["scheme"] not in (
            "auto",
            "u8s8",
            "u8s8-reduce-range",
            "u8u8",
            "s8s8",
        ):
            raise ConfigError(
                "scheme must be auto, u8s8, u8s8-reduce-range, u8u8 or s8s8, got "
                f"{opts['scheme']!r}"
            )
        if "provider" in opts and opts["provider"] not in ("cpu", "cuda"):
            raise ConfigError(f"provider must be cpu or cuda, got {opts['provider']!r}")

    # -- compile ------------------------------------------------------------------------------
    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        self.check(deployment, source.framework)
        float_path = source.onnx_path()
        meta: dict[str, Any] = {"format": "ONNX", **source.export_meta}
        if deployment.precision == "fp32":
            return Artifact(deployment, source.framework, float_path, source.input_shape, meta=meta)
        require("onnxruntime.quantization", extra="onnx", purpose="int8 quantization")
        static = deployment.precision == "int8-static"
        out = source.workdir / f"{source.name}.{deployment.precision}.onnx"
        pre = self._preprocess(float_path, source.workdir / f"{source.name}.pre.onnx", meta)
        schemes = self._schemes(deployment, ctx, static=static)

        def build(scheme: Int8Scheme, path: Path) -> None:
            if static:
                self._quantize_static(pre, path, scheme, deployment, ctx)
            else:
                self._quantize_dynamic(pre, path, scheme)

        x_val, y_val = ctx.x_val, ctx.y_val
        choice = choose_int8(
            schemes,
            out,
            build=build,
            accuracy=(
                (lambda path: _accuracy(ort_session(path, ctx.threads), x_val, y_val))
                if x_val is not None and y_val is not None and len(x_val)
                else None
            ),
            reference=ctx.reference_accuracy,
            max_drop=ctx.max_accuracy_drop,
            describe=lambda scheme: scheme.to_dict(),
            error_text=lambda err: (
                f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            ),
        )
        meta["int8_within_tolerance"] = choice.within_tolerance
        if pre != float_path and pre.exists():
            pre.unlink()
        meta.update(
            int8_scheme=choice.scheme,
            int8_tries=choice.tries,
            quantization="static QDQ, calibrated"
            if static
            else "dynamic (weights int8, activations quantized at run time)",
            isa=" ".join(
                f
                for f in ctx.isa_flags
                if "vnni" in f or f.startswith("avx") or f.startswith("asimd")
            )
            or "baseline",
        )
        if static:
            meta["calibration_samples"] = int(sum(len(b) for b in ctx.calibration_for(deployment)))
            meta["calibrate_method"] = deployment.opts.get("calibrate_method", "minmax")
        return Artifact(deployment, source.framework, out, source.input_shape, meta=meta)

    def _schemes(
        self, deployment: Deployment, ctx: CompileContext, *, static: bool
    ) -> list[Int8Scheme]:
        schemes = int8_schemes(ctx.isa_flags, platform.machine(), static=static)
        opts = deployment.opts
        if "per_channel" in opts:
            schemes = [
                Int8Scheme(
                    s.activations, s.weights, s.reduce_range, bool(opts["per_channel"]), s.reason
                )
                for s in schemes
            ]
        forced = opts.get("scheme", "auto")
        if forced != "auto":
            table = {
                "u8s8": ("u8", "s8", False),
                "u8s8-reduce-range": ("u8", "s8", True),
                "u8u8": ("u8", "u8", False),
                "s8s8": ("s8", "s8", False),
            }
            a, w, rr = table[forced]
            pc = schemes[0].per_channel
            schemes = [Int8Scheme(a, w, rr, pc, "chosen in the deployment's options")]
        if not static:  # dynamic quantization always uses u8 activations
            seen, out = set(), []
            for s in schemes:
                s = Int8Scheme("u8", s.weights, s.reduce_range, s.per_channel, s.reason)
                if s.label not in seen:
                    seen.add(s.label)
                    out.append(s)
            schemes = out
        return schemes

    @staticmethod
    def _preprocess(src: Path, dst: Path, meta: dict[str, Any]) -> Path:
        """Shape inference and graph optimisation before quantization, as ONNX Runtime advises."""
        from onnxruntime.quantization.shape_inference import quant_pre_process

        try:
            with quiet():
                quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
            meta["preprocess"] = "quant_pre_process"
            return dst
        except Exception as err:  # noqa: BLE001 - quantization still works on the raw graph
            meta["preprocess"] = f"skipped ({type(err).__name__})"
            return src

    def _quantize_static(
        self, pre: Path, out: Path, scheme: Int8Scheme, deployment: Deployment, ctx: CompileContext
    ) -> None:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        batches = ctx.calibration_for(deployment)
        if not batches:
            raise DeploymentError(
                "quantize", "static int8 needs calibration data, and none was given"
            )

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter(batches)

            def get_next(self) -> dict[str, np.ndarray] | None:
                b = next(self.it, None)
                return None if b is None else {INPUT_NAME: b}

        qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[deployment.opts.get("calibrate_method", "minmax")]
        with quiet():
            quantize_static(
                str(pre),
                str(out),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=scheme.per_channel,
                reduce_range=scheme.reduce_range,
                activation_type=qt[scheme.activations],
                weight_type=qt[scheme.weights],
                calibrate_method=method,
            )

    @staticmethod
    def _quantize_dynamic(pre: Path, out: Path, scheme: Int8Scheme) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
        with quiet():
            quantize_dynamic(
                str(pre),
                str(out),
                per_channel=scheme.per_channel,
                reduce_range=scheme.reduce_range,
                weight_type=qt[scheme.weights],
            )

    # -- load ---------------------------------------------------------------------------------
    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        assert artifact.path is not None
        provider = artifact.deployment.opts.get("provider", "cpu")
        return _OrtRunner(ort_session(artifact.path, threads, provider=provider))
