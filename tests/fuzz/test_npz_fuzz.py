"""Hostile ``.npz`` data: each is refused with a one-line DataError naming the file, never a
traceback; pickled (object) arrays are never unpickled."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from workbench.data import DataError, load_npz

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 8)).astype(np.float32)
Y = np.arange(40) % 4


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _cases(tmp):
    nan = X.copy()
    nan[7, 3] = np.nan
    inf = X.copy()
    inf[2, 0] = np.inf
    good = _npz(tmp / "good.npz", x=X, y=Y)
    raw = good.read_bytes()
    (tmp / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (tmp / "not_a_zip.npz").write_bytes(b"hello, not a zip file")
    (tmp / "empty_file.npz").write_bytes(b"")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY garbage")
    (tmp / "bad_member.npz").write_bytes(buf.getvalue())
    return {
        "missing_key.npz": (_npz(tmp / "missing_key.npz", x=X), "no array named 'y'"),
        "lengths.npz": (_npz(tmp / "lengths.npz", x=X, y=Y[:30]), "40 inputs but 30 labels"),
        "nan.npz": (
            _npz(tmp / "nan.npz", x=nan, y=Y),
            "1 NaN or infinite values (first in sample 7)",
        ),
        "inf.npz": (_npz(tmp / "inf.npz", x=inf, y=Y), "NaN or infinite"),
        "float_labels.npz": (_npz(tmp / "float_labels.npz", x=X, y=Y + 0.5), "integer array"),
        "negative.npz": (_npz(tmp / "negative.npz", x=X, y=Y - 1), "non-negative"),
        "one_class.npz": (_npz(tmp / "one_class.npz", x=X, y=np.zeros(40, int)), "2 classes"),
        "strings.npz": (_npz(tmp / "strings.npz", x=X.astype(str), y=Y), "real numbers"),
        "complex.npz": (_npz(tmp / "complex.npz", x=X.astype(complex), y=Y), "real numbers"),
        "one_d.npz": (_npz(tmp / "one_d.npz", x=X[:, 0], y=Y), "shape (N, features)"),
        "empty.npz": (_npz(tmp / "empty.npz", x=X[:0], y=Y[:0]), "no samples"),
        "tiny.npz": (_npz(tmp / "tiny.npz", x=X[:4], y=Y[:4]), "too few to split"),
        "objects.npz": (
            _npz(tmp / "objects.npz", x=np.array([{"a": 1}] * 40, dtype=object), y=Y),
            "not a readable .npz file",
        ),
        "test_part_nan.npz": (
            _npz(tmp / "test_part_nan.npz", x_train=X, y_train=Y, x_test=nan, y_test=Y),
            "(test part): inputs hold 1 NaN",
        ),
        "truncated.npz": (tmp / "truncated.npz", "not a readable .npz file"),
        "not_a_zip.npz": (tmp / "not_a_zip.npz", "not a readable .npz file"),
        "empty_file.npz": (tmp / "empty_file.npz", "not a readable .npz file"),
        "bad_member.npz": (tmp / "bad_member.npz", "not a readable .npz file"),
        "missing.npz": (tmp / "missing.npz", "file not found"),
    }


def test_each_hostile_npz_is_refused_in_one_line(tmp_path):
    for name, (path, words) in _cases(tmp_path).items():
        with pytest.raises(DataError) as err:
            load_npz(path)
        text = str(err.value)
        assert words in text and "\n" not in text, (name, text)
        assert name.removesuffix(".npz") in text, (name, text)


def test_a_good_file_loads(tmp_path):
    ds = load_npz(_npz(tmp_path / "good.npz", x=X, y=Y))
    assert ds.num_classes == 4 and len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 40
