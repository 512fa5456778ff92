"""Keras training with the same seeded budget as :func:`workbench.train.train_torch`.

Same data splits, epochs, batch size, optimizer (Adam, AdamW, or SGD with Nesterov momentum
0.9), learning rate, per-step cosine schedule, weight decay, label smoothing, time guard and
seed: the per-epoch shuffle order is drawn the same way for every trial and touches no global
random state (dropout layers of :func:`workbench.arch.build_keras` carry their own seeds).
Images arrive channels first (:mod:`workbench.data`) and are fed channels last when the model
takes them so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from workbench._tf import channels_last, tf_runtime
from workbench.train import TrainConfig, TrainResult

if TYPE_CHECKING:
    import keras

    from workbench.data import Dataset

__all__ = ["evaluate_keras", "train_keras"]


class ThreadSettings(Protocol):
    """What the TensorFlow pools are set from: a :class:`workbench.backends.Threads`."""

    @property
    def intra_op(self) -> int: ...

    @property
    def inter_op(self) -> int: ...


def _model_shape(model: Any) -> tuple[int, ...] | None:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, tuple) and shape and all(isinstance(d, int) for d in shape[1:]):
        return tuple(shape[1:])
    return None


def evaluate_keras(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` (inference mode) on ``(x, y)``; ``x`` channels first."""
    tf_runtime()
    xs = channels_last(x, _model_shape(model))
    correct = 0
    for i in range(0, len(xs), batch):
        logits = np.asarray(model(xs[i : i + batch], training=False))
        correct += int((logits.argmax(axis=1) == y[i : i + batch]).sum())
    return correct / max(1, len(xs))


def _optimizer(keras: ModuleType, cfg: TrainConfig, total_steps: int) -> Any:
    lr: Any = cfg.lr
    if cfg.schedule == "cosine":
        # 0.5 * (1 + cos(pi * step / total)), as train_torch's LambdaLR
        lr = keras.optimizers.schedules.CosineDecay(
            cfg.lr, decay_steps=max(1, total_steps), alpha=0.0
        )
    if cfg.optimizer == "sgd":
        # PyTorch's SGD weight decay is an L2 term in the gradient; Keras' is decoupled (noted)
        return keras.optimizers.SGD(
            lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay or None
        )
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    return keras.optimizers.Adam(lr, weight_decay=cfg.weight_decay or None)


def train_keras(
    model: keras.Model,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    threads: ThreadSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data`` (a :class:`workbench.data.Dataset`) with ``config``.

    ``should_stop`` is polled before every batch, as in :func:`workbench.train.train_torch`.

    ``threads`` (a :class:`workbench.backends.Threads`) sets TensorFlow's pools when this is the
    process's first TensorFlow work; see :func:`workbench._tf.tf_runtime`.
    """
    tf_runtime(threads)
    import keras

    cfg = config or TrainConfig()
    shape = _model_shape(model)
    x = channels_last(data.x_train, shape)
    y = np.asarray(data.y_train, dtype=np.int64)
    n = len(x)
    num_classes = int(model.output_shape[-1])
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    model.compile(
        optimizer=_optimizer(keras, cfg, cfg.epochs * steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=cfg.label_smoothing
        ),
        jit_compile=False,  # XLA compilation costs more than a few epochs of these small nets save
    )
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    rng = np.random.default_rng(cfg.seed)
    callbacks = [_stop_poll(keras, should_stop)] if should_stop is not None else []
    start = time.perf_counter()
    last_loss = float("nan")
    epochs_run = 0
    stopped = False
    for _epoch in range(cfg.epochs):
        order = rng.permutation(n)
        if n >= 2 and n % cfg.batch_size == 1:  # batch norm needs two samples, as in train_torch
            order = order[:-1]
        hist = model.fit(
            x[order],
            onehot[order],
            batch_size=cfg.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        last_loss = float(hist.history["loss"][-1])
        epochs_run += 1
        if not math.isfinite(last_loss):
            break
        if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
            stopped = epochs_run < cfg.epochs
            break
    seconds = time.perf_counter() - start
    return TrainResult(
        val_accuracy=evaluate_keras(model, data.x_val, data.y_val),
        test_accuracy=evaluate_keras(model, data.x_test, data.y_test),
        train_loss=last_loss,
        epochs=epochs_run,
        seconds=round(seconds, 3),
        stopped_early=stopped,
    )


def _stop_poll(keras: Any, should_stop: Callable[[], bool]) -> Any:
    """A Keras callback ending ``fit`` with ``KeyboardInterrupt`` once ``should_stop()`` is true."""

    class StopPoll(keras.callbacks.Callback):
        def on_train_batch_begin(
            self, batch: int, logs: Mapping[str, object] | None = None
        ) -> None:
            if should_stop():
                raise KeyboardInterrupt

    return StopPoll()
