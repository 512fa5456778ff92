"""Short, seeded training budgets and held-out evaluation.

Every trial of a study trains with the same budget, seed and data split, so differences in
accuracy come from the architecture, not from luck in the schedule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._imports import require
from workbench._schema import Choice, Float, Int, Optional, Reader, SourceMap

if TYPE_CHECKING:
    from torch import nn

    from workbench.data import Dataset
    from workbench.train._keras import evaluate_keras, train_keras

__all__ = [
    "TrainConfig",
    "TrainResult",
    "evaluate_keras",
    "evaluate_torch",
    "train_keras",
    "train_torch",
]


def __getattr__(name: str) -> Callable[..., object]:
    # the Keras trainer lives in its own module so that importing this one loads no TensorFlow
    if name in ("train_keras", "evaluate_keras"):
        from workbench.train import _keras

        return getattr(_keras, name)
    raise AttributeError(f"module 'workbench.train' has no attribute {name!r}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.003
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine | constant
    label_smoothing: float = 0.0
    max_seconds: float | None = None  # stop early (after the current epoch) when exceeded
    seed: int = 0

    @classmethod
    def read(cls, r: Reader) -> TrainConfig:
        cfg = cls(
            epochs=r.get("epochs", Int(min=1, max=10_000), 5),
            batch_size=r.get("batch_size", Int(min=1, max=65536), 64),
            lr=r.get("lr", Float(min=0.0, max=10.0, min_exclusive=True), 0.003),
            optimizer=r.get("optimizer", Choice(("adam", "adamw", "sgd")), "adam"),
            weight_decay=r.get("weight_decay", Float(min=0.0, max=1.0), 0.0),
            schedule=r.get("schedule", Choice(("cosine", "constant")), "cosine"),
            label_smoothing=r.get("label_smoothing", Float(min=0.0, max=0.5), 0.0),
            max_seconds=r.get("max_seconds", Optional(Float(min=0.0, min_exclusive=True)), None),
            seed=r.get("seed", Int(min=0), 0),
        )
        r.finish()
        return cfg

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainConfig:
        return cls.read(Reader(data or {}, field="train", source=SourceMap()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    epochs: int
    seconds: float
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_torch(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on ``(x, y)``."""
    torch = require("torch", extra="torch")
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(x[i : i + batch]))
            correct += int((logits.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct / max(1, len(x))


def train_torch(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data`` (a :class:`workbench.data.Dataset`) with ``config``.

    ``should_stop`` is polled before every batch; when it answers true, training ends with
    ``KeyboardInterrupt`` (a study run uses this to stop at once on Ctrl-C without being
    interrupted inside a storage call).
    """
    torch = require("torch", extra="torch")
    cfg = config or TrainConfig()
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    n = len(x)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True
        )
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = (
        torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
        if cfg.schedule == "cosine"
        else None
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    start = time.perf_counter()
    last_loss = float("nan")
    epochs_run = 0
    stopped = False
    # dropout masks use the global RNG: seed it for this run, restore it afterwards
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        for _epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(n, generator=gen)
            running, count = 0.0, 0
            for i in range(0, n, cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                if len(idx) < 2 and n >= 2:  # batch norm needs two samples
                    continue
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                running += float(loss.detach()) * len(idx)
                count += len(idx)
            last_loss = running / max(1, count)
            epochs_run += 1
            if not math.isfinite(last_loss):
                break
            if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
                stopped = epochs_run < cfg.epochs
                break
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(
        val_accuracy=evaluate_torch(model, data.x_val, data.y_val),
        test_accuracy=evaluate_torch(model, data.x_test, data.y_test),
        train_loss=last_loss,
        epochs=epochs_run,
        seconds=round(seconds, 3),
        stopped_early=stopped,
    )
