"""Datasets: scikit-learn's bundled digits, generated data (noise templates or shapes), or the
user's own arrays and files.

Every source yields the same :class:`Dataset`: float32 inputs in ``(N, *input_shape)`` layout
(channels first for images), int64 labels, and fixed seeded train/validation/test splits.
The validation split is what calibration and quantization checks may look at; the test split
is only ever used to report accuracy.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench._errors import DataError
from workbench._schema import Choice, Float, Int, ListOf, Optional, Reader, SourceMap, Str
from workbench.data._shapes import SHAPE_CLASSES, shapes_arrays

__all__ = [
    "SHAPE_CLASSES",
    "DataConfig",
    "Dataset",
    "arrays_fingerprint",
    "from_arrays",
    "load_data",
    "load_digits",
    "load_npz",
    "shapes",
    "synthetic",
]

#: ``shapes``: the default pixel noise (standard deviation, images in [0, 1]) and sample count
SHAPES_NOISE = 0.1
SHAPES_SAMPLES = 6000


def arrays_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 (hex) of arrays' dtypes, shapes and bytes, in order: equal arrays, one hash."""
    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    about: str = ""  # one line on what the data is, for generated sources

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def calibration_batches(self, n: int = 128, batch: int = 1, seed: int = 0) -> list[np.ndarray]:
        """Up to ``n`` training samples (seeded pick) for post-training quantization."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.x_train), size=min(n, len(self.x_train)), replace=False)
        xs = self.x_train[np.sort(idx)]
        return [xs[i : i + batch] for i in range(0, len(xs), batch)]

    def fingerprint(self) -> str:
        """:func:`arrays_fingerprint` of every split, shortened to 16 hex digits: equal exactly
        when the same config built the same data (a changed file or split shows)."""
        splits = (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)
        return arrays_fingerprint(*splits)[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **({"about": self.about} if self.about else {}),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": len(self.x_train),
            "val": len(self.x_val),
            "test": len(self.x_test),
        }


@dataclass(frozen=True)
class DataConfig:
    source: str = "digits"  # digits | synthetic | npz | shapes
    path: str | None = None
    x_key: str = "x"
    y_key: str = "y"
    shape: tuple[int, ...] = (1, 8, 8)
    classes: int = 10
    samples: int = 2000  # synthetic; shapes defaults to SHAPES_SAMPLES
    image_size: int = 32  # shapes
    noise: float = SHAPES_NOISE  # shapes
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 0

    @classmethod
    def read(cls, r: Reader, base_dir: Path | None = None) -> DataConfig:
        source = r.get("source", Choice(("digits", "synthetic", "npz", "shapes")), "digits")
        path = r.get("path", Optional(Str()), None)
        if source == "npz" and path is None:
            raise r.error("missing; expected the path of an .npz file when source is npz", "path")
        shaped = source == "shapes"
        for key in ("image_size", "noise"):
            if r.has(key) and not shaped:
                raise r.error(f"only read when source is shapes (source is {source})", key)
        if path is not None and base_dir is not None and not os.path.isabs(path):
            # relative paths are read against the directory of the config file that names them
            path = str((base_dir / path).resolve())
        cfg = cls(
            source=source,
            path=path,
            x_key=r.get("x_key", Str(), "x"),
            y_key=r.get("y_key", Str(), "y"),
            shape=r.get("shape", ListOf(Int(min=1), min_len=1), (1, 8, 8)),
            classes=r.get("classes", Int(min=2, max=len(SHAPE_CLASSES) if shaped else None), 10),
            samples=r.get("samples", Int(min=20), SHAPES_SAMPLES if shaped else 2000),
            image_size=r.get("image_size", Int(min=8, max=256), 32),
            noise=r.get("noise", Float(min=0.0, max=1.0), SHAPES_NOISE),
            val_fraction=r.get("val_fraction", Float(min=0.0, max=0.5, min_exclusive=True), 0.15),
            test_fraction=r.get("test_fraction", Float(min=0.0, max=0.5, min_exclusive=True), 0.2),
            seed=r.get("seed", Int(min=0), 0),
        )
        r.finish()
        return cfg

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DataConfig:
        return cls.read(Reader(data or {}, field="data", source=SourceMap()))

    def to_dict(self) -> dict[str, Any]:
        shaped = {"image_size": self.image_size, "noise": self.noise}
        return {
            "source": self.source,
            "path": self.path,
            "x_key": self.x_key,
            "y_key": self.y_key,
            "shape": list(self.shape),
            "classes": self.classes,
            "samples": self.samples,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            **(shaped if self.source == "shapes" else {}),
        }


def _check_arrays(name: str, x: np.ndarray, y: np.ndarray) -> int:
    """Refuse inputs and labels a model cannot learn from, in one line; the number of classes."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise DataError(f"{name}: object arrays are not data (save numbers, not Python objects)")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) and not (
        x.dtype == np.bool_
    ):
        raise DataError(f"{name}: inputs must be real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise DataError(
            f"{name}: inputs must have shape (N, features) or (N, C, H, W), got {x.shape}"
        )
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} inputs but {len(y)} labels")
    if len(y) == 0:
        raise DataError(f"{name}: no samples")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{name}: labels must be a 1-D integer array, got shape {y.shape} dtype {y.dtype}"
        )
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
            raise DataError(
                f"{name}: inputs hold {int(bad.sum()):,} NaN or infinite values "
                f"(first in sample {first}); clean or impute them first"
            )
    if y.min() < 0:
        raise DataError(f"{name}: labels must be non-negative class indices")
    num_classes = int(y.max()) + 1
    if num_classes < 2:
        raise DataError(f"{name}: need at least 2 classes, got {num_classes}")
    return num_classes


def _split(
    name: str, x: np.ndarray, y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int
) -> Dataset:
    from sklearn.model_selection import train_test_split

    num_classes = _check_arrays(name, x, y)
    y = np.asarray(y)
    if len(y) < 10:
        raise DataError(f"{name}: {len(y)} samples are too few to split (at least 10)")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = y.astype(np.int64)
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 3 else None
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    rel_val = val_fraction / (1.0 - test_fraction)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=rel_val,
        random_state=seed,
        stratify=y_rest if stratify is not None else None,
    )
    return Dataset(name, x_train, y_train, x_val, y_val, x_test, y_test, num_classes)


def load_digits(
    *, val_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0
) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).

    Images are (1, 8, 8), in [0, 1]."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    return _split(
        "digits", x, bunch.target, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )


def synthetic(
    shape: tuple[int, ...] = (1, 8, 8),
    classes: int = 10,
    samples: int = 2000,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> Dataset:
    """Generated, learnable data: each class is a random smooth template plus noise."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(classes, *shape)).astype(np.float32)
    if len(shape) == 3 and shape[1] > 2 and shape[2] > 2:
        # smooth the templates spatially so convolutions have structure to find
        k = np.ones(3, dtype=np.float32) / 3
        templates = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 2, templates)
        templates = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 3, templates)
    y = rng.integers(0, classes, size=samples)
    noise = rng.normal(scale=0.8 * float(templates.std()), size=(samples, *shape)).astype(
        np.float32
    )
    x = templates[y] + noise
    return _split(
        "synthetic", x, y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )


def shapes(
    samples: int = SHAPES_SAMPLES,
    classes: int = 10,
    *,
    image_size: int = 32,
    noise: float = SHAPES_NOISE,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> Dataset:
    """Generated RGB images (3, S, S) in [0, 1] of ``classes`` shapes and textures (the first of
    :data:`SHAPE_CLASSES`): random pose and colour, gradient and clutter, pixel noise."""
    if not 2 <= classes <= len(SHAPE_CLASSES):
        raise DataError(f"shapes: classes must be in [2, {len(SHAPE_CLASSES)}], got {classes}")
    if image_size < 8:
        raise DataError(f"shapes: image_size must be at least 8, got {image_size}")
    if not 0.0 <= noise <= 1.0:
        raise DataError(f"shapes: noise must be in [0, 1], got {noise}")
    x, y = shapes_arrays(samples, classes, image_size, noise, seed)
    data = _split("shapes", x, y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    about = (
        f"generated {image_size}x{image_size} RGB shapes and textures "
        f"({', '.join(SHAPE_CLASSES[:classes])}), noise {noise:g}, seed {seed}"
    )
    return replace(data, about=about)


def load_npz(
    path: str | os.PathLike[str],
    *,
    x_key: str = "x",
    y_key: str = "y",
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> Dataset:
    """Load a user's ``.npz`` file holding inputs ``x_key`` (N, ...) and integer labels ``y_key``
    (N,).

    Image inputs are expected channels first, (N, C, H, W); (N, H, W) is read as one channel.
    A file that already holds ``x_train``/``y_train``/``x_test``/``y_test`` keeps its split
    (validation is taken from the training part).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file not found")
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{p}: not a readable .npz file ({first})") from None
    name = p.stem

    def fix(x: np.ndarray) -> np.ndarray:
        return x[:, None] if x.ndim == 3 else x

    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        part = _split(
            name,
            fix(arrays["x_train"]),
            arrays["y_train"],
            val_fraction=val_fraction,
            test_fraction=val_fraction,
            seed=seed,
        )
        _check_arrays(f"{name} (test part)", fix(arrays["x_test"]), arrays["y_test"])
        x_test = np.ascontiguousarray(fix(arrays["x_test"]), dtype=np.float32)
        y_test = np.asarray(arrays["y_test"]).astype(np.int64)
        # train and val both come from the file's training part
        x_train = np.concatenate([part.x_train, part.x_test])
        y_train = np.concatenate([part.y_train, part.y_test])
        classes = max(part.num_classes, int(y_test.max()) + 1)
        return Dataset(name, x_train, y_train, part.x_val, part.y_val, x_test, y_test, classes)
    for key in (x_key, y_key):
        if key not in arrays:
            raise DataError(
                f"{p}: no array named {key!r}; the file holds "
                f"{', '.join(sorted(arrays)) or 'nothing'}"
            )
    return _split(
        name,
        fix(arrays[x_key]),
        arrays[y_key],
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name: str = "arrays",
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> Dataset:
    """Wrap in-memory arrays (inputs channels first) as a split :class:`Dataset`."""
    return _split(
        name,
        np.asarray(x),
        np.asarray(y),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )


def load_data(config: DataConfig | Mapping[str, Any] | None = None) -> Dataset:
    """Load the dataset a :class:`DataConfig` (or its dict form) names."""
    cfg = config if isinstance(config, DataConfig) else DataConfig.from_dict(config)
    seed, val, test = cfg.seed, cfg.val_fraction, cfg.test_fraction
    if cfg.source == "digits":
        return load_digits(seed=seed, val_fraction=val, test_fraction=test)
    if cfg.source == "synthetic":
        return synthetic(
            tuple(cfg.shape),
            cfg.classes,
            cfg.samples,
            seed=seed,
            val_fraction=val,
            test_fraction=test,
        )
    if cfg.source == "shapes":
        return shapes(
            cfg.samples,
            cfg.classes,
            image_size=cfg.image_size,
            noise=cfg.noise,
            seed=seed,
            val_fraction=val,
            test_fraction=test,
        )
    if cfg.source == "npz":
        assert cfg.path is not None
        return load_npz(
            cfg.path,
            x_key=cfg.x_key,
            y_key=cfg.y_key,
            seed=seed,
            val_fraction=val,
            test_fraction=test,
        )
    raise DataError(f"unknown data source {cfg.source!r}")  # pragma: no cover - validated earlier
