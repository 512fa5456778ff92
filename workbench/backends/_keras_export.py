"""Keras to ONNX through tf2onnx (``keras.Model.export(format="onnx")``, which calls tf2onnx).

The graph takes the Keras model's own layout (NHWC images), with a dynamic batch axis, input
``input`` and output ``logits`` like every ONNX graph here, so the ONNX Runtime deployments
(fp32, int8 dynamic, int8 static) serve Keras models unchanged. tf2onnx keeps a TensorFlow op
it has no converter for as a node ONNX does not define; such a graph is refused here, naming
the ops, rather than failing later inside ONNX Runtime.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from workbench._errors import DeploymentError
from workbench._imports import require
from workbench._tf import quiet_native, tf_runtime
from workbench.backends._base import ModelSource
from workbench.backends._export import INPUT_NAME, OUTPUT_NAME

__all__ = ["keras_to_onnx"]

OPSET = 17


def keras_to_onnx(source: ModelSource, out: Path) -> Path:
    """Write the float ONNX graph of ``source`` (a Keras model) to ``out`` and return it."""
    tf = tf_runtime()
    onnx = require("onnx", extra="onnx", purpose="ONNX export")
    tf2onnx = require("tf2onnx", extra="keras", purpose="Keras to ONNX")
    spec = [tf.TensorSpec((None, *source.input_shape), tf.float32, name=INPUT_NAME)]
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    start = time.perf_counter()
    try:
        with quiet_native():
            source.model.export(
                str(out), format="onnx", input_signature=spec, opset_version=OPSET, verbose=False
            )
    except Exception as err:
        text = str(err).strip().splitlines()
        raise DeploymentError(
            "export", f"tf2onnx: {type(err).__name__}: {text[0][:300] if text else ''}"
        ) from err
    finally:
        logger.setLevel(level)
    model = onnx.load(str(out))
    unknown = sorted(
        {n.op_type for n in model.graph.node if not onnx.defs.has(n.op_type, n.domain or "")}
    )
    if unknown:
        out.unlink(missing_ok=True)
        raise DeploymentError(
            "export", f"tf2onnx has no ONNX conversion for TensorFlow op(s) {', '.join(unknown)}"
        )
    _name_io(model)
    onnx.save(model, str(out))
    source.export_meta.update(
        onnx_exporter=f"tf2onnx {tf2onnx.__version__} via keras.Model.export (opset {OPSET})",
        onnx_export_s=round(time.perf_counter() - start, 3),
        onnx_layout="NHWC (the Keras model's own)",
    )
    return out


def _name_io(model: object) -> None:
    """Rename the graph's output to ``logits`` (tf2onnx names it after a TensorFlow tensor)."""
    graph = model.graph  # type: ignore[attr-defined]
    if len(graph.output) != 1 or graph.output[0].name == OUTPUT_NAME:
        return
    old = graph.output[0].name
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = OUTPUT_NAME
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = OUTPUT_NAME
    graph.output[0].name = OUTPUT_NAME
