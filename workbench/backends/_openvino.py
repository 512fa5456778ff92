"""OpenVINO on the CPU: fp32, bf16 and int8, from the ONNX file a model exports to.

``fp32`` sets ``INFERENCE_PRECISION_HINT`` to f32 explicitly (OpenVINO's default on CPUs with
AMX is bf16). ``bf16`` runs only where the CPU flags show bf16 arithmetic (``avx512_bf16`` or
``amx_bf16``) and is refused at config validation elsewhere. ``int8`` builds two candidates:
NNCF post-training quantization of the OpenVINO model from the calibration batches, and the
QDQ file the ``onnxruntime`` backend's static int8 path writes, run by OpenVINO; the faster of
those within the accuracy tolerance is kept, and both attempts are recorded.

An artifact is a folder holding OpenVINO IR, ``model.xml`` (the graph) and ``model.bin`` (its
weights): it reloads in any process with OpenVINO installed, without the model's Python code.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench import _host
from workbench._errors import ConfigError, DeploymentError
from workbench._imports import require
from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
    accuracy_of,
)

if TYPE_CHECKING:
    import openvino

__all__ = ["BF16_FLAGS", "IR_FILE", "OpenVinoBackend", "bf16_supported"]

#: the graph file inside an artifact's folder; its weights are beside it as ``model.bin``
IR_FILE = "model.xml"

#: CPU flags (as /proc/cpuinfo spells them) that give OpenVINO's CPU plugin bf16 arithmetic
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: the precision hint each deployment precision asks the CPU plugin for
_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
#: op types whose runtime precision and kernel say what the compiled model really runs
#: (``Subgraph``: a chain of layers the plugin fused into one generated kernel)
_MAIN_OPS = ("Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Gemm", "Subgraph")
_INT8_SOURCES = ("auto", "nncf", "qdq")


def bf16_supported(flags: Iterable[str] | None = None) -> bool:
    """Whether a CPU with ``flags`` (this host's when None) has bf16 arithmetic."""
    have = set(_host.host_info().isa_flags if flags is None else flags)
    return bool(have & set(BF16_FLAGS))


def _core() -> openvino.Core:
    ov = require("openvino", extra="openvino")
    return ov.Core()


def _version() -> str:
    ov = require("openvino", extra="openvino")
    return str(ov.get_version())


def _summary(compiled: openvino.CompiledModel) -> dict[str, Any]:
    """What the compiled model reports it runs: the precision hint in effect, and the
    runtime precision and kernel (ISA path) of its main ops, counted."""
    out: dict[str, Any] = {}
    try:
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        out["openvino_inference_precision"] = str(getattr(hint, "to_string", lambda: hint)())
    except RuntimeError:
        pass
    precisions: dict[str, int] = {}
    kernels: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        if "layerType" not in rt or rt["layerType"].astype(str) not in _MAIN_OPS:
            continue
        if "runtimePrecision" in rt:
            p = rt["runtimePrecision"].astype(str)
            precisions[p] = precisions.get(p, 0) + 1
        if "primitiveType" in rt:
            k = rt["primitiveType"].astype(str)
            kernels[k] = kernels.get(k, 0) + 1
    out["openvino_runtime_precision"] = precisions
    out["openvino_kernels"] = kernels
    return out


class _OvRunner(Runner):
    """Runs an IR model compiled for each input shape it is called with: static shapes let the
    CPU plugin pick its kernels once, where a dynamic batch axis re-plans every call."""

    def __init__(self, xml: Path, precision: str, threads: Threads, shape: tuple[int, ...]):
        self.xml = xml
        self.config = {
            "INFERENCE_PRECISION_HINT": _HINT[precision],
            "INFERENCE_NUM_THREADS": threads.intra_op,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self.requests: dict[tuple[int, ...], openvino.InferRequest] = {}
        compiled = self._compiled(shape)
        self.meta = {
            "openvino_version": _version(),
            "openvino_precision_hint": _HINT[precision],
            "openvino_threads": threads.intra_op,
            "openvino_streams": 1,
            **_summary(compiled),
        }

    def _compiled(self, shape: tuple[int, ...]) -> openvino.CompiledModel:
        ov = require("openvino", extra="openvino")
        core = _core()
        model = core.read_model(str(self.xml))
        model.reshape({0: ov.PartialShape(list(shape))})
        compiled = core.compile_model(model, "CPU", self.config)
        self.requests[shape] = compiled.create_infer_request()
        return compiled

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        request = self.requests.get(x.shape)
        if request is None:
            self._compiled(x.shape)
            request = self.requests[x.shape]
        request.infer(x, share_inputs=True)
        return np.array(request.get_output_tensor(0).data, copy=True)

    def close(self) -> None:
        self.requests.clear()


def _compile(
    xml: Path, precision: str, threads: Threads, input_shape: tuple[int, ...]
) -> _OvRunner:
    """Load IR ``xml`` on the CPU plugin for one latency stream with ``threads``, compiled
    first for a batch of one ``input_shape`` sample."""
    return _OvRunner(xml, precision, threads, (1, *input_shape))


def _save(model: openvino.Model, xml: Path) -> Path:
    ov = require("openvino", extra="openvino")
    # weights stay as they are: save_model would otherwise store float weights as fp16
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


def _remove_ir(xml: Path) -> None:
    for p in (xml, xml.with_suffix(".bin")):
        if p.exists():
            p.unlink()


def _p50_ms(
    runners: dict[str, _OvRunner], x: np.ndarray, rounds: int = 7, calls: int = 10
) -> dict[str, float]:
    """Batch-``len(x)`` latency p50 (ms) of each runner, timed interleaved round by round so
    drift in the machine's state falls on every candidate alike."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    for r in runners.values():
        r(x)  # warm-up
    for _ in range(rounds):
        for key, r in runners.items():
            start = time.perf_counter()
            for _ in range(calls):
                r(x)
            times[key].append((time.perf_counter() - start) * 1000 / calls)
    return {k: round(statistics.median(v), 4) for k, v in times.items()}


class OpenVinoBackend(Backend):
    name = "openvino"
    frameworks = ("torch", "keras", "onnx")
    precisions = ("fp32", "bf16", "int8")
    options = ("calibration_samples", "int8_source")
    recorded_options = ("int8_source",)  # NNCF or QDQ, chosen by timing both
    requires = ("openvino",)
    extra = "openvino"
    runtime_packages = ("openvino",)
    file_format = "openvino-ir"

    def check(self, deployment: Deployment, framework: str | None = None) -> None:
        super().check(deployment, framework)
        if deployment.precision == "bf16" and not bf16_supported():
            raise ConfigError(
                "backend 'openvino' cannot run bf16 on this host: its CPU flags show neither "
                f"{' nor '.join(BF16_FLAGS)}"
            )
        source = deployment.opts.get("int8_source", "auto")
        if source not in _INT8_SOURCES:
            raise ConfigError(
                f"int8_source must be one of {', '.join(_INT8_SOURCES)}, got {source!r}"
            )

    # -- compile ------------------------------------------------------------------------------
    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        self.check(deployment, source.framework)
        if deployment.precision == "bf16" and ctx.isa_flags and not bf16_supported(ctx.isa_flags):
            raise DeploymentError(
                "compile", f"bf16 needs one of the CPU flags {', '.join(BF16_FLAGS)}"
            )
        onnx_path = source.onnx_path()
        folder = source.workdir / f"{source.name}.openvino-{deployment.precision}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        xml = folder / IR_FILE
        meta: dict[str, Any] = {
            "format": "OpenVINO IR",
            "openvino_version": _version(),
            "openvino_precision_hint": _HINT[deployment.precision],
            **source.export_meta,
        }
        if deployment.precision != "int8":
            _save(_core().read_model(str(onnx_path)), xml)
        else:
            meta.update(self._int8(source, deployment, ctx, onnx_path, xml))
        return Artifact(deployment, source.framework, folder, source.input_shape, meta=meta)

    def _int8(
        self,
        source: ModelSource,
        deployment: Deployment,
        ctx: CompileContext,
        onnx_path: Path,
        xml: Path,
    ) -> dict[str, Any]:
        """Build the NNCF and QDQ candidates, keep the faster within tolerance."""
        batches = ctx.calibration_for(deployment)
        if not batches:
            raise DeploymentError("quantize", "int8 needs calibration data, and none was given")
        wanted = deployment.opts.get("int8_source", "auto")
        kinds = ("nncf", "qdq") if wanted == "auto" else (wanted,)
        tries: dict[str, dict[str, Any]] = {}
        paths: dict[str, Path] = {}
        for kind in kinds:
            path = xml.with_name(f"{xml.stem}.{kind}.xml")
            start = time.perf_counter()
            try:
                if kind == "nncf":
                    self._nncf(onnx_path, batches, path)
                else:
                    self._qdq(source, deployment, ctx, path)
            except Exception as err:  # noqa: BLE001 - the other candidate may still work
                text = str(err).splitlines()[0][:300] if str(err) else ""
                tries[kind] = {"source": kind, "error": f"{type(err).__name__}: {text}"}
                continue
            tries[kind] = {"source": kind, "quantize_s": round(time.perf_counter() - start, 3)}
            paths[kind] = path
        if not paths:
            raise DeploymentError(
                "quantize", "; ".join(f"{k}: {t['error']}" for k, t in tries.items())
            )
        runners = {
            k: _compile(p, "int8", ctx.threads, source.input_shape) for k, p in paths.items()
        }
        try:
            if ctx.x_val is not None and ctx.y_val is not None and len(ctx.x_val):
                for k, r in runners.items():
                    tries[k]["val_accuracy"] = accuracy_of(r, ctx.x_val, ctx.y_val)
            x1 = (ctx.x_val if ctx.x_val is not None and len(ctx.x_val) else batches[0])[:1]
            for k, ms in _p50_ms(runners, np.asarray(x1, dtype=np.float32)).items():
                tries[k]["p50_ms"] = ms
                tries[k]["openvino_runtime_precision"] = runners[k].meta[
                    "openvino_runtime_precision"
                ]
        finally:
            for r in runners.values():
                r.close()
        ref = ctx.reference_accuracy

        def within(k: str) -> bool:
            acc = tries[k].get("val_accuracy")
            return ref is None or acc is None or ref - acc <= ctx.max_accuracy_drop

        good = [k for k in paths if within(k)]
        if good:
            kept = min(good, key=lambda k: tries[k]["p50_ms"])
        else:  # none within tolerance: the most accurate, marked as such
            kept = max(paths, key=lambda k: tries[k].get("val_accuracy", -1.0))
        for k, p in paths.items():
            if k == kept:
                p.replace(xml)
                p.with_suffix(".bin").replace(xml.with_suffix(".bin"))
            else:
                _remove_ir(p)
        return {
            "int8_source": kept,
            "int8_tries": [tries[k] for k in kinds],
            "int8_within_tolerance": bool(good),
            "int8_selection": (
                "fastest batch-1 p50 of the candidates within the accuracy tolerance, timed "
                "interleaved at the profile's threads"
            ),
            "calibration_samples": int(sum(len(b) for b in batches)),
            "quantization": (
                "NNCF post-training quantization (static, calibrated)"
                if kept == "nncf"
                else "ONNX Runtime static QDQ (calibrated), run by OpenVINO"
            ),
        }

    @staticmethod
    def _nncf(onnx_path: Path, batches: list[np.ndarray], out: Path) -> None:
        nncf = require("nncf", extra="openvino", purpose="OpenVINO int8 quantization")
        model = _core().read_model(str(onnx_path))
        data = nncf.Dataset([np.ascontiguousarray(b, dtype=np.float32) for b in batches])
        # NNCF draws its progress bars on stdout, where `--json` output goes: keep them on stderr
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(model, data, subset_size=len(batches))
        _save(quantized, out)

    @staticmethod
    def _qdq(source: ModelSource, deployment: Deployment, ctx: CompileContext, out: Path) -> None:
        from workbench.backends._registry import get_backend

        # the onnxruntime backend's own static int8 path, writing beside this artifact so that
        # an onnxruntime-int8-static deployment of the same model keeps its own file
        side = copy.copy(source)  # shares the export cache: the float ONNX is not redone
        side.workdir = out.parent / f"{out.stem}.work"
        side.workdir.mkdir(parents=True, exist_ok=True)
        opts = tuple((k, v) for k, v in deployment.options if k == "calibration_samples")
        try:
            qdq = get_backend("onnxruntime").compile(
                side, Deployment("onnxruntime", "int8-static", opts), ctx
            )
            assert qdq.path is not None
            _save(_core().read_model(str(qdq.path)), out)
        finally:
            shutil.rmtree(side.workdir, ignore_errors=True)

    # -- load ---------------------------------------------------------------------------------
    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        assert artifact.path is not None
        xml = artifact.path / IR_FILE if artifact.path.is_dir() else artifact.path
        return _compile(xml, artifact.deployment.precision, threads, artifact.input_shape)
