"""Framework exports shared by backends: ``torch.export`` programs and float ONNX graphs.

ONNX graphs always get a dynamic batch axis (named ``batch``) on input ``input`` and output
``logits``, so one file serves batch-1 latency and batched accuracy evaluation.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from workbench._errors import DeploymentError
from workbench._imports import require
from workbench.backends._base import ModelSource

if TYPE_CHECKING:
    from torch.export import ExportedProgram

__all__ = ["export_onnx", "torch_exported_program"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence exporters' progress prints, warnings and log lines (errors still propagate)."""
    loggers = [
        logging.getLogger(n)
        for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "torch._export")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def torch_exported_program(source: ModelSource) -> ExportedProgram:
    """``torch.export`` of the module in eval mode, batch axis dynamic (cached on the source)."""

    def make() -> ExportedProgram:
        torch = require("torch", extra="torch")
        model = source.model.eval()
        # batch 2: torch.export specialises a dimension whose example size is 1
        example = (torch.from_numpy(source.example_input(batch=2)),)
        batch = torch.export.Dim("batch", min=1, max=65536)
        start = time.perf_counter()
        try:
            with quiet():
                ep = torch.export.export(model, example, dynamic_shapes=({0: batch},), strict=False)
        except Exception as err:
            raise DeploymentError(
                "export", f"torch.export: {type(err).__name__}: {_first_line(err)}"
            ) from err
        source.export_meta["torch_export_s"] = round(time.perf_counter() - start, 3)
        return ep

    return source.cached("torch.export", make)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""


def export_onnx(source: ModelSource) -> Path:
    """Write ``<workdir>/model.onnx`` (float32) for ``source`` and return its path."""
    out = source.workdir / f"{source.name}.onnx"
    if source.framework == "onnx":
        src = Path(source.model)
        if src.resolve() != out.resolve():
            shutil.copyfile(src, out)
            data = src.with_name(src.name + ".data")
            if data.exists():
                shutil.copyfile(data, out.with_name(out.name + ".data"))
        source.export_meta["onnx_exporter"] = "user file"
        return out
    if source.framework == "torch":
        return _torch_to_onnx(source, out)
    if source.framework == "keras":
        try:
            from workbench.backends._keras_export import keras_to_onnx
        except ImportError as err:
            raise DeploymentError("export", f"Keras to ONNX is not available: {err}") from err
        return keras_to_onnx(source, out)
    raise DeploymentError("export", f"no ONNX export for framework {source.framework!r}")


def _torch_to_onnx(source: ModelSource, out: Path) -> Path:
    torch = require("torch", extra="torch")
    require("onnx", extra="onnx", purpose="ONNX export")
    exporter = source.onnx_exporter
    errors = []
    start = time.perf_counter()
    if exporter in ("dynamo", "auto"):
        try:
            ep = torch_exported_program(source)
            with quiet():
                torch.onnx.export(
                    ep,
                    f=str(out),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamo=True,
                    external_data=False,
                    verbose=False,
                    optimize=True,
                )
            source.export_meta.update(
                onnx_exporter="torch.onnx (dynamo)",
                onnx_export_s=round(time.perf_counter() - start, 3),
            )
            return out
        except Exception as err:  # the TorchScript exporter may still manage
            errors.append(f"dynamo: {type(err).__name__}: {_first_line(err)}")
            if exporter == "dynamo":
                raise DeploymentError("export", errors[-1]) from err
    try:
        model = source.model.eval()
        example = torch.from_numpy(source.example_input(batch=1))
        with quiet():
            torch.onnx.export(
                model,
                (example,),
                str(out),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamo=False,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=17,
            )
    except Exception as err:
        errors.append(f"torchscript: {type(err).__name__}: {_first_line(err)}")
        raise DeploymentError("export", "; ".join(errors)) from err
    source.export_meta.update(
        onnx_exporter="torch.onnx (torchscript)" + (" after dynamo failed" if errors else ""),
        onnx_export_s=round(time.perf_counter() - start, 3),
    )
    return out
