"""The Keras trainer: same seeded budget and splits as the PyTorch one, reproducible, honest."""

import numpy as np
import pytest

from workbench.arch import ArchSpec, ConvBN, Dense, InvertedResidual, mlp
from workbench.train import TrainConfig

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.keras


def _train(spec, data, cfg):
    from workbench.arch import build_keras
    from workbench.train import train_keras

    model = build_keras(spec, seed=cfg.seed)
    return model, train_keras(model, data, cfg)


def test_same_seed_same_model_and_loss(digits):
    spec = mlp((1, 8, 8), 10, (32,), dropout=0.2)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=3)
    a, ra = _train(spec, digits, cfg)
    b, rb = _train(spec, digits, cfg)
    assert ra.train_loss == rb.train_loss and ra.val_accuracy == rb.val_accuracy
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    c, _rc = _train(spec, digits, TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=4))
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_a_cnn_learns_digits_from_channels_first_data(digits):
    """Data stays channels first; the Keras model (channels last) is fed NHWC by the trainer."""
    from workbench.train import evaluate_keras

    spec = ArchSpec((1, 8, 8), 10, (ConvBN(16), InvertedResidual(24, 4, 3, 2), Dense(32)))
    model, res = _train(spec, digits, TrainConfig(epochs=4, batch_size=64, lr=0.01))
    assert tuple(model.input_shape[1:]) == (8, 8, 1)
    assert res.epochs == 4 and not res.stopped_early and res.seconds > 0
    assert res.val_accuracy > 0.85 and res.test_accuracy > 0.85
    assert res.test_accuracy == evaluate_keras(model, digits.x_test, digits.y_test)


@pytest.mark.torch
def test_both_frameworks_get_the_same_budget_and_reach_similar_accuracy(digits):
    from workbench.arch import build_torch
    from workbench.train import train_torch

    spec = ArchSpec((1, 8, 8), 10, (ConvBN(16), InvertedResidual(24, 4, 3, 2)))
    cfg = TrainConfig(
        epochs=4, batch_size=64, lr=0.01, optimizer="adamw", weight_decay=1e-4, label_smoothing=0.1
    )
    _, k = _train(spec, digits, cfg)
    t = train_torch(build_torch(spec, seed=cfg.seed), digits, cfg)
    assert k.epochs == t.epochs == 4
    assert abs(k.test_accuracy - t.test_accuracy) < 0.1, (k, t)


def test_the_time_guard_stops_after_an_epoch(digits):
    _, res = _train(
        mlp((1, 8, 8), 10, (16,)), digits, TrainConfig(epochs=50, batch_size=256, max_seconds=1e-6)
    )
    assert res.epochs == 1 and res.stopped_early


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_optimizer_trains(digits, optimizer):
    _, res = _train(
        mlp((1, 8, 8), 10, (32,)),
        digits,
        TrainConfig(
            epochs=2,
            batch_size=64,
            lr=0.05 if optimizer == "sgd" else 0.01,
            optimizer=optimizer,
            schedule="constant",
        ),
    )
    assert res.val_accuracy > 0.5 and np.isfinite(res.train_loss)


def test_a_stop_request_ends_training_within_a_batch(digits):
    from workbench.arch import build_keras
    from workbench.train import train_keras

    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(KeyboardInterrupt):
        train_keras(
            build_keras(mlp((1, 8, 8), 10, (16,)), seed=0),
            digits,
            TrainConfig(epochs=50, batch_size=32),
            should_stop=stop,
        )
    assert len(calls) == 4
