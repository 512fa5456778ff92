"""Backends: a registry of runtimes that compile models into measured artifacts.

Built in: ``torch`` (eager fp32), ``onnxruntime`` (fp32, int8 dynamic, int8 static QDQ; from
PyTorch, Keras or ONNX), ``keras`` (eager fp32), ``keras-xla`` (``tf.function`` with XLA),
``litert`` (TFLite fp32, fp16, int8 dynamic range, full-integer int8; from Keras) and
``openvino`` (OpenVINO IR fp32, bf16, int8 from NNCF or a QDQ file; from the ONNX export).
Third-party packages add theirs under the ``workbench.backends`` entry-point group.
"""

from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
    accuracy_of,
    correct_of,
)
from workbench.backends._registry import backend_names, get_backend, register_backend

__all__ = [
    "Artifact",
    "Backend",
    "CompileContext",
    "Deployment",
    "ModelSource",
    "Runner",
    "Threads",
    "accuracy_of",
    "backend_names",
    "correct_of",
    "get_backend",
    "register_backend",
]
