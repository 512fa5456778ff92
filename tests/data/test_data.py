import numpy as np
import pytest

from workbench import DataError
from workbench.data import (
    DataConfig,
    arrays_fingerprint,
    from_arrays,
    load_data,
    load_digits,
    load_npz,
    synthetic,
)


def test_digits_splits_are_disjoint_seeded_and_stratified():
    d = load_digits()
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert len(d.x_train) + len(d.x_val) + len(d.x_test) == 1797
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0
    again = load_digits()
    np.testing.assert_array_equal(d.y_test, again.y_test)
    other = load_digits(seed=1)
    assert not np.array_equal(d.y_test, other.y_test)
    # every class appears in every split
    for y in (d.y_train, d.y_val, d.y_test):
        assert set(np.unique(y)) == set(range(10))


def test_synthetic_is_learnable_structure():
    d = synthetic((1, 8, 8), classes=4, samples=400, seed=0)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 4
    # nearest-template classification beats chance by far: the data has signal
    means = np.stack([d.x_train[d.y_train == c].mean(0) for c in range(4)])
    pred = np.argmin(
        ((d.x_test[:, None] - means[None]) ** 2).reshape(len(d.x_test), 4, -1).sum(-1), axis=1
    )
    assert (pred == d.y_test).mean() > 0.6


def test_npz_with_x_y_and_with_its_own_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=120)
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    d = load_npz(tmp_path / "plain.npz")
    assert d.input_shape == (6,) and d.num_classes == 3
    np.savez(
        tmp_path / "split.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:]
    )
    d2 = load_npz(tmp_path / "split.npz")
    assert len(d2.x_test) == 20
    np.testing.assert_array_equal(d2.x_test, x[100:])
    # (N, H, W) images get a channel axis
    np.savez(tmp_path / "imgs.npz", x=rng.normal(size=(60, 5, 5)), y=rng.integers(0, 2, 60))
    assert load_npz(tmp_path / "imgs.npz").input_shape == (1, 5, 5)


def test_npz_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_npz(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((10, 2)), y=np.zeros(10, dtype=int))
    with pytest.raises(DataError, match="no array named 'x'; the file holds inputs, y"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="labels must be a 1-D integer"):
        from_arrays(np.zeros((10, 3)), np.zeros(10))
    with pytest.raises(DataError, match="10 inputs but 9 labels"):
        from_arrays(np.zeros((10, 3)), np.zeros(9, dtype=int))


def test_config_validation_and_loading(tmp_path):
    assert load_data(
        {"source": "synthetic", "shape": [4], "classes": 3, "samples": 90}
    ).input_shape == (4,)
    from workbench import ConfigError

    with pytest.raises(ConfigError, match="data.source: expected one of digits, synthetic, npz"):
        DataConfig.from_dict({"source": "imagenet"})
    with pytest.raises(ConfigError, match="data.path: missing"):
        DataConfig.from_dict({"source": "npz"})
    with pytest.raises(ConfigError, match="data.val_fraction: expected a number in"):
        DataConfig.from_dict({"val_fraction": 0.9})


def test_calibration_batches_come_from_training_data(digits):
    batches = digits.calibration_batches(50, batch=8)
    assert sum(len(b) for b in batches) == 50
    train_rows = {r.tobytes() for r in digits.x_train}
    assert all(r.tobytes() in train_rows for b in batches for r in b)


def test_splits_do_not_share_samples():
    d = load_digits()
    test_rows = {r.tobytes() for r in d.x_test}
    # digits holds a few duplicate images; disjoint index splits keep overlaps to those
    overlap = sum(r.tobytes() in test_rows for r in d.x_train)
    assert overlap <= 5


def test_fingerprint_is_stable_and_sees_any_change_of_the_data(tmp_path):
    a, b = load_digits(seed=0), load_digits(seed=0)
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 16
    assert arrays_fingerprint(a.x_test, a.y_test) == arrays_fingerprint(b.x_test, b.y_test)
    assert arrays_fingerprint(a.x_test) != arrays_fingerprint(a.x_test.astype(np.float64))
    assert load_digits(seed=1).fingerprint() != a.fingerprint()  # another split
    x = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    y = np.arange(60) % 3
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    before = load_npz(path).fingerprint()
    x[0, 0] += 1e-6  # one value of one sample
    np.savez(path, x=x, y=y)
    assert load_npz(path).fingerprint() != before
