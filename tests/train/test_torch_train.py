"""The PyTorch trainer's stop polling (the seeded budget itself is covered with the Keras one)."""

import pytest

from workbench.arch import build_torch, mlp
from workbench.train import TrainConfig, train_torch

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_a_stop_request_ends_training_within_a_batch(digits):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(KeyboardInterrupt):
        train_torch(
            build_torch(mlp((1, 8, 8), 10, (16,)), seed=0),
            digits,
            TrainConfig(epochs=50, batch_size=32),
            should_stop=stop,
        )
    assert len(calls) == 4  # polled before each batch, stopped before the fifth


def test_no_stop_request_trains_the_whole_budget(digits):
    res = train_torch(
        build_torch(mlp((1, 8, 8), 10, (16,)), seed=0),
        digits,
        TrainConfig(epochs=2, batch_size=64),
        should_stop=lambda: False,
    )
    assert res.epochs == 2 and not res.stopped_early
