"""Bring your own model: deploy and measure a user's ``nn.Module``, ``keras.Model`` or ONNX file
like a searched one."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import ConfigError, DataError
from workbench._imports import require
from workbench.backends import CompileContext, Deployment, ModelSource, get_backend
from workbench.bench import (
    Measurement,
    MeasureSettings,
    MemoryProbe,
    measure_deployments,
    profile_threads,
)
from workbench.data import Dataset, load_digits, load_npz, synthetic
from workbench.hw import HardwareProfile, load_profile

if TYPE_CHECKING:
    from workbench.study import RunResult, StudyConfig, StudyResults

__all__ = ["BenchmarkResult", "benchmark", "load_model", "run_study", "write_outputs"]


def run_study(cfg: StudyConfig, **kwargs: Any) -> RunResult:
    """Run (or resume) the study ``cfg`` describes, as :func:`workbench.study.run_study` does
    (same keywords), and write its ``report.html`` next to the results it writes.

    With ``write=False`` nothing is written, the report included.
    """
    from workbench.study import run_study as _run_study

    result = _run_study(cfg, **kwargs)
    if result.outputs:
        result.outputs = _with_report(result.results, result.run_dir, result.outputs)
    return result


def write_outputs(
    results: StudyResults, cfg: StudyConfig | None, run_dir: Path, store: Any | None
) -> dict[str, Path]:
    """``report.html`` and what :func:`workbench.study.write_outputs` writes (``results.json``,
    ``results.csv``, ``pareto/``)."""
    from workbench.study import write_outputs as _write_outputs

    return _with_report(results, run_dir, _write_outputs(results, cfg, run_dir, store))


def _with_report(results: StudyResults, run_dir: Path, outputs: dict[str, Path]) -> dict[str, Path]:
    from workbench.report import write_report

    return {"report": write_report(results, run_dir / "report.html"), **outputs}


DEFAULTS = {
    "torch": (
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-dynamic",
        "onnxruntime-int8-static",
    ),
    "onnx": ("onnxruntime-fp32", "onnxruntime-int8-dynamic", "onnxruntime-int8-static"),
    "keras": (
        "keras-fp32",
        "keras-xla-fp32",
        "litert-fp32",
        "litert-fp16",
        "litert-int8-dynamic",
        "litert-int8-static",
        "onnxruntime-fp32",
        "onnxruntime-int8-dynamic",
        "onnxruntime-int8-static",
    ),
}


@dataclass
class BenchmarkResult:
    name: str
    framework: str
    input_shape: tuple[int, ...]
    measurements: list[Measurement]
    float_accuracy: float | None
    out_dir: Path
    notes: list[str] = field(default_factory=list)
    report_path: Path | None = None

    def by_deployment(self) -> dict[str, Measurement]:
        return {m.deployment: m for m in self.measurements}

    def baseline(self) -> Measurement | None:
        ok = [m for m in self.measurements if m.ok and m.latency is not None]
        first = next(
            (m for m in ok if m.precision == "fp32" and m.backend in ("torch", "keras")), None
        )
        return first or (ok[0] if ok else None)

    def table(self) -> str:
        """A plain-text table; latency is measured p50 with its spread, ratio vs the first fp32
        baseline."""
        base = self.baseline()
        lines = [
            f"{self.name} ({self.framework}, input {'x'.join(map(str, self.input_shape))}), on "
            f"{self.measurements[0].profile if self.measurements else '?'}; "
            "latency measured (p50 over n calls after warm-up), ratio vs "
            f"{base.deployment if base else 'n/a'}",
            f"{'deployment':<28}{'p50 ms':>10}{'p90 ms':>10}{'cv':>6}{'n':>6}{'ratio':>8}"
            f"{'accuracy':>10}{'size':>12}{'peak mem':>12}  note",
        ]
        for m in self.measurements:
            if not m.ok:
                lines.append(f"{m.deployment:<28}  FAILED at {m.stage}: {m.error}")
                continue
            lat = m.latency
            ratio = (
                f"{lat.p50_ms / base.latency.p50_ms:.2f}x"
                if (lat and base and base.latency)
                else "–"
            )
            acc = f"{m.accuracy:.4f}" if m.accuracy is not None else "–"
            mem = (
                f"{m.peak_memory_bytes / 2**20:.1f} MiB" if m.peak_memory_bytes is not None else "–"
            )
            note = (m.meta.get("int8_scheme") or {}).get("label", "")
            lines.append(
                f"{m.deployment:<28}{lat.p50_ms if lat else 0:>10.4g}"
                f"{lat.p90_ms if lat else 0:>10.4g}{lat.cv if lat else 0:>6.2f}"
                f"{lat.n if lat else 0:>6}{ratio:>8}{acc:>10}"
                f"{(m.size_bytes or 0) / 1024:>10.1f}Ki{mem:>12}  {note}"
            )
        if self.float_accuracy is not None:
            lines.append(f"float model accuracy (test split): {self.float_accuracy:.4f}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "framework": self.framework,
            "input_shape": list(self.input_shape),
            "float_accuracy": self.float_accuracy,
            "measurements": [m.to_dict() for m in self.measurements],
            "notes": self.notes,
            "report": str(self.report_path) if self.report_path else None,
        }

    def as_results(self) -> Any:
        """The measurements as a one-trial :class:`~workbench.study.StudyResults`, for figures
        and the report."""
        from workbench._json import clean
        from workbench.study._results import MEASURE_PREFIX, StudyResults, TrialRecord

        attrs: dict[str, Any] = {
            "arch": f"{self.name} ({self.framework})",
            "float_accuracy": self.float_accuracy,
        }
        for m in self.measurements:
            attrs[MEASURE_PREFIX + m.key] = clean(m.to_dict())
        trial = TrialRecord(0, "COMPLETE", None, {}, attrs, None)
        return StudyResults(
            self.name, ["maximize", "minimize"], ["accuracy", "latency_p50_ms"], [trial], {}
        )


def load_model(ref: str | os.PathLike[str], *, trust_pickle: bool = False) -> tuple[str, Any]:
    """Resolve a model reference to ``(framework, model)``.

    ``.onnx`` files stay paths (checked to be a valid ONNX model); ``.pt2`` is a
    ``torch.export`` program; ``.pt`` a pickled ``nn.Module``, loaded only with
    ``trust_pickle=True`` (unpickling runs code); ``.keras`` a saved Keras model;
    ``file.py:fn`` or ``pkg.module:fn`` is called with no arguments and must return an
    ``nn.Module`` or a ``keras.Model``.
    """
    text = os.fspath(ref)
    path = Path(text)
    if path.suffix == ".keras":
        if not path.exists():
            raise ConfigError("model file not found", location=text)
        from workbench._tf import tf_runtime

        tf_runtime()
        import keras

        return "keras", keras.models.load_model(str(path), compile=False)
    if path.suffix == ".onnx":
        if not path.exists():
            raise ConfigError("model file not found", location=text)
        _check_onnx(path, text)
        return "onnx", path
    if path.suffix in (".pt2", ".pt", ".pth"):
        if not path.exists():
            raise ConfigError("model file not found", location=text)
        torch = require("torch", extra="torch")
        if path.suffix == ".pt2":
            return "torch", torch.export.load(str(path)).module()
        if not trust_pickle:
            raise ConfigError(
                f"a {path.suffix} file is a pickle and loading it runs its code: pass "
                "trust_pickle=True (workbench bench --trust-pickle) for a file you trust, or "
                "save the model with torch.export (.pt2) or as ONNX",
                location=text,
            )
        obj = torch.load(str(path), weights_only=False)
        if not isinstance(obj, torch.nn.Module):
            raise ConfigError(
                f"expected a pickled nn.Module, found {type(obj).__name__} (a state_dict needs "
                "its model class: use module:function)",
                location=text,
            )
        return "torch", obj
    if ":" in text:
        target, _, attr = text.rpartition(":")
        if target.endswith(".py"):
            if not Path(target).exists():
                raise ConfigError("file not found", location=target)
            spec = importlib.util.spec_from_file_location(Path(target).stem, target)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            try:
                module = importlib.import_module(target)
            except ImportError as err:
                raise ConfigError(f"cannot import {target!r}: {err}") from None
        fn = getattr(module, attr, None)
        if fn is None:
            raise ConfigError(f"{target!r} has no attribute {attr!r}")
        obj = fn() if callable(fn) and not _is_module(fn) else fn
        return _framework_of(obj), obj
    raise ConfigError(
        "expected an .onnx, .pt2, .pt or .keras file, or file.py:function / "
        f"package.module:function, got {text!r}"
    )


def _check_onnx(path: Path, display: str) -> None:
    """Refuse, in one line, a file that is not a well-formed ONNX model (corrupt, truncated,
    over protobuf's 2 GB without external data, or failing ONNX's own checker)."""
    onnx = require("onnx", extra="onnx")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as err:  # noqa: BLE001 - protobuf and the checker raise many kinds
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise ConfigError(f"not a valid ONNX model ({first[:200]})", location=display) from None
    if not proto.graph.node:
        raise ConfigError("not a valid ONNX model (its graph has no nodes)", location=display)


def _is_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _framework_of(model: Any) -> str:
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        return "onnx"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return "keras"
    raise ConfigError(
        f"unsupported model type {type(model).__name__}; expected an nn.Module, a keras.Model or "
        "an .onnx path"
    )


def _onnx_input_shape(path: Path) -> tuple[int, ...] | None:
    onnx = require("onnx", extra="onnx")
    model = onnx.load(str(path), load_external_data=False)
    inputs = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    if len(inputs) != 1:
        raise ConfigError(f"{path}: expected a model with one input, found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim[1:]
    if any(not d.dim_value for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _resolve_data(data: Any, input_shape: tuple[int, ...] | None) -> Dataset | None:
    if data is None or isinstance(data, Dataset):
        return data
    if data == "digits":
        return load_digits()
    if data == "shapes":
        from workbench.data import shapes

        return shapes()
    if data == "synthetic":
        if input_shape is None:
            raise ConfigError("synthetic data needs the input shape (--input-shape)")
        return synthetic(input_shape, 10, 1000)
    if isinstance(data, (str, Path)) and str(data).endswith(".npz"):
        return load_npz(data)
    if isinstance(data, tuple) and len(data) == 2:
        from workbench.data import from_arrays

        return from_arrays(*data)
    raise ConfigError(
        "data must be digits, shapes, synthetic, an .npz path, (x, y) arrays or a Dataset, "
        f"got {data!r}"
    )


def benchmark(
    model: Any,
    *,
    input_shape: Sequence[int] | None = None,
    data: Any = None,
    deployments: Sequence[str | Deployment] | None = None,
    profile: str | HardwareProfile = "host-cpu",
    out: str | os.PathLike[str] = "runs/bench",
    name: str | None = None,
    measure: MeasureSettings | dict[str, Any] | None = None,
    threads: int | None = None,
    memory: bool = True,
    calibration_samples: int = 128,
    max_accuracy_drop: float = 0.01,
    report: bool = True,
    trust_pickle: bool = False,
) -> BenchmarkResult:
    """Deploy ``model`` every requested way on a measured profile and measure each artifact.

    ``model`` is an ``nn.Module``, a ``keras.Model``, an ``.onnx`` path or any reference
    :func:`load_model` accepts. ``data`` (``"digits"``, ``"synthetic"``, an ``.npz`` path,
    ``(x, y)`` or a :class:`~workbench.data.Dataset`) gives accuracy on its test split and real
    int8 calibration; without it, accuracy is not reported and static int8 is calibrated on
    random inputs (noted in the result). ``trust_pickle``: load a ``.pt``/``.pth`` pickle (it
    runs code when loaded; refused otherwise).
    """
    if isinstance(model, (str, Path)):
        framework, model = load_model(model, trust_pickle=trust_pickle)
        if name is None:
            name = Path(str(model if framework == "onnx" else "")).stem or None
    else:
        framework = _framework_of(model)
    name = name or getattr(model, "name", None) or type(model).__name__
    if framework == "onnx" and input_shape is None:
        input_shape = _onnx_input_shape(Path(model))
    keras_shape = _keras_input_shape(model) if framework == "keras" else None
    if (
        framework == "keras"
        and input_shape is None
        and _data_fixes_no_shape(data)
        and keras_shape is not None
    ):
        input_shape = _channels_first(keras_shape)  # the data's layout, from the model's own input
    dataset = _resolve_data(data, tuple(input_shape) if input_shape else None)
    if input_shape is None and dataset is not None:
        input_shape = dataset.input_shape
    if input_shape is None:
        raise ConfigError(
            "the input shape is unknown: pass input_shape (CLI: --input-shape 3,224,224) or data"
        )
    input_shape = tuple(int(d) for d in input_shape)
    if dataset is not None and dataset.input_shape != input_shape:
        raise DataError(
            f"the data's inputs are {dataset.input_shape} but the model takes {input_shape}"
        )
    model_shape, layout = input_shape, "channels_first"
    if framework == "keras":
        model_shape, layout = _keras_layout(keras_shape, input_shape)
    prof = load_profile(profile)
    settings = (
        measure if isinstance(measure, MeasureSettings) else MeasureSettings.from_dict(measure)
    )
    deps = [Deployment.parse(d) for d in (deployments or DEFAULTS[framework])]
    for d in deps:
        try:
            get_backend(d.backend).check(d, framework)
        except ConfigError as err:
            raise ConfigError(err.message, field=f"deployment {d.name}") from None

    out_dir = Path(out) / str(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    float_acc = None
    if dataset is not None and framework == "torch":
        from workbench.train import evaluate_torch

        float_acc = evaluate_torch(model, dataset.x_test, dataset.y_test)
    if framework == "keras":
        from workbench._tf import tf_runtime

        tf_runtime(
            profile_threads(prof, threads)
        )  # applies if the model did not start TensorFlow already
        if dataset is not None:
            from workbench.train import evaluate_keras

            float_acc = evaluate_keras(model, dataset.x_test, dataset.y_test)
    if dataset is not None:
        calibration = dataset.calibration_batches(calibration_samples)
    else:
        rng = np.random.default_rng(0)
        calibration = [
            rng.standard_normal((1, *input_shape)).astype(np.float32)
            for _ in range(min(32, calibration_samples))
        ]
        if any(d.precision == "int8-static" for d in deps):
            notes.append(
                "static int8 was calibrated on random normal inputs (no data given): pass data "
                "for meaningful int8 ranges"
            )
        notes.append("no labelled data: accuracy is not reported")
    source = ModelSource(framework, model, model_shape, out_dir, name="model", layout=layout)
    ctx = CompileContext(
        calibration=calibration,
        x_val=dataset.x_val if dataset is not None else None,
        y_val=dataset.y_val if dataset is not None else None,
        reference_accuracy=_val_reference(model, framework, dataset),
        max_accuracy_drop=max_accuracy_drop,
    )
    probe = MemoryProbe() if memory else None
    try:
        ms, _artifacts = measure_deployments(
            source,
            deps,
            prof,
            x_test=dataset.x_test if dataset is not None else None,
            y_test=dataset.y_test if dataset is not None else None,
            compile_ctx=ctx,
            settings=settings,
            memory=probe,
            threads=profile_threads(prof, threads),
        )
    finally:
        if probe is not None:
            probe.close()
    if framework == "onnx" and dataset is not None:
        fp32 = next((m for m in ms if m.precision == "fp32" and m.ok), None)
        float_acc = fp32.accuracy if fp32 else None
    result = BenchmarkResult(str(name), framework, input_shape, ms, float_acc, out_dir, notes)
    if report:
        from workbench.report import write_report

        result.report_path = write_report(
            result.as_results(), out_dir / "report.html", title=f"Benchmark: {name}"
        )
    return result


def _val_reference(model: Any, framework: str, dataset: Dataset | None) -> float | None:
    """The float model's validation accuracy, which int8 schemes are checked against."""
    if dataset is None:
        return None
    if framework == "torch":
        from workbench.train import evaluate_torch

        return evaluate_torch(model, dataset.x_val, dataset.y_val)
    if framework == "onnx":
        from workbench.backends import Threads
        from workbench.backends._onnxruntime import _OrtRunner, ort_session
        from workbench.bench import accuracy_of

        return accuracy_of(_OrtRunner(ort_session(model, Threads())), dataset.x_val, dataset.y_val)
    if framework == "keras":
        from workbench.train import evaluate_keras

        return evaluate_keras(model, dataset.x_val, dataset.y_val)
    return None


def _data_fixes_no_shape(data: Any) -> bool:
    """True when ``data`` does not fix the input shape by itself (none, or synthetic)."""
    return data is None or (isinstance(data, str) and data == "synthetic")


def _keras_input_shape(model: Any) -> tuple[int, ...] | None:
    """A Keras model's input shape without the batch axis, when every dimension is known."""
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):  # several inputs
        raise ConfigError(f"expected a Keras model with one input, found {len(shape)}")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape[1:]):
        return None
    return tuple(int(d) for d in shape[1:])


def _channels_first(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def _keras_layout(
    keras_shape: tuple[int, ...] | None, data_shape: tuple[int, ...]
) -> tuple[tuple[int, ...], str]:
    """The shape a Keras model is fed and its layout, for data of ``data_shape`` (images
    channels first)."""
    if len(data_shape) != 3:
        if keras_shape is not None and keras_shape != data_shape:
            raise DataError(
                f"the data's inputs are {data_shape} but the Keras model takes {keras_shape}"
            )
        return data_shape, "channels_first"
    last = (data_shape[1], data_shape[2], data_shape[0])
    if keras_shape is None or keras_shape == last:
        return last, "channels_last"
    if keras_shape == data_shape:
        return data_shape, "channels_first"
    raise DataError(
        f"the data's inputs are {data_shape} (channels first) but the Keras model takes "
        f"{keras_shape}"
    )
