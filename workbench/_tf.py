"""TensorFlow, imported once and quietly, with its thread pools set from the hardware profile.

TensorFlow fixes its intra- and inter-op thread pools when its runtime first starts; after that
they cannot change. Whatever first needs TensorFlow in a process (building or training a Keras
model, loading a runner) should call :func:`tf_runtime` with the profile's threads, so that
Keras latency is measured with the same thread count as every other runtime. When the pools
were already fixed (by an earlier call with other threads, or by user code), the values really
in effect are reported, never the requested ones.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from workbench._imports import require

__all__ = ["channels_last", "quiet_native", "tf_runtime", "tf_threads_in_effect"]

_STATE: dict[str, Any] = {}


def tf_runtime(threads: Any | None = None) -> Any:
    """Import TensorFlow (logs quiet) and, on first use, set its thread pools from ``threads``.

    ``threads`` is a :class:`workbench.backends.Threads` (``intra_op``, ``inter_op``) or None.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with quiet_native():  # import-time notices (oneDNN, absl) are not for the user
            require("tensorflow", extra="keras", purpose="Keras models")
    tf = require("tensorflow", extra="keras", purpose="Keras models")
    if threads is not None and "requested" not in _STATE:
        _STATE["requested"] = {"intra_op": int(threads.intra_op), "inter_op": int(threads.inter_op)}
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads.intra_op))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads.inter_op))
            _STATE["set"] = True
        except RuntimeError as err:  # the runtime already started with other pools
            _STATE["set"] = False
            _STATE["error"] = str(err).splitlines()[0][:200]
    return tf


def tf_threads_in_effect() -> dict[str, Any]:
    """TensorFlow's thread pools as they are (0 in TensorFlow means one per CPU core)."""
    tf = tf_runtime()
    from workbench._host import available_cpus

    intra = int(tf.config.threading.get_intra_op_parallelism_threads())
    inter = int(tf.config.threading.get_inter_op_parallelism_threads())
    out: dict[str, Any] = {
        "intra_op": intra or available_cpus(),
        "inter_op": inter or available_cpus(),
        "set_by": "workbench (tf.config.threading, before the runtime started)"
        if _STATE.get("set")
        else "TensorFlow default or earlier user code",
    }
    if "error" in _STATE:
        out["note"] = f"could not apply {_STATE['requested']}: {_STATE['error']}"
    return out


def channels_last(x: Any, model_shape: tuple[int, ...] | None) -> Any:
    """``x`` (channels first, as :mod:`workbench.data` holds images) in the layout a model takes.

    4-D batches become NHWC unless ``model_shape`` (the model's input shape without batch) is
    the channels-first shape itself.
    """
    if getattr(x, "ndim", 0) != 4:
        return x
    if model_shape is not None and tuple(model_shape) == tuple(x.shape[1:]):
        _, c, h, w = x.shape
        if (h, w, c) != tuple(model_shape):
            return x
    import numpy as np

    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Silence what TensorFlow's and LiteRT's C++ code prints (converter settings, delegate
    notices, MLIR warnings) and Python-level prints and warnings; errors still raise."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: list[tuple[int, int]] = []
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        devnull = -1
    try:
        if devnull >= 0:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull, fd)
                except OSError:
                    continue
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        if devnull >= 0:
            os.close(devnull)
