"""Per-sample correctness of a runner, and top-1 accuracy as its mean."""

import numpy as np

from workbench.backends import Runner, accuracy_of, correct_of


class _Logits(Runner):
    """Its input is its logits: row i predicts argmax(x[i])."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x


def test_correct_of_is_per_sample_and_accuracy_is_its_mean():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((517, 10)).astype(np.float32)
    y = x.argmax(axis=1)
    y[::3] = (y[::3] + 1) % 10  # every third sample wrong
    correct = correct_of(_Logits(), x, y, batch=64)
    assert correct.dtype == bool and correct.shape == (517,)
    assert np.array_equal(correct, np.arange(517) % 3 != 0)
    assert accuracy_of(_Logits(), x, y, batch=64) == correct.mean()
    assert correct_of(_Logits(), x[:0], y[:0]).shape == (0,)
