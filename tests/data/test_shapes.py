import subprocess
import sys

import numpy as np
import pytest

from workbench import ConfigError, DataError
from workbench.data import SHAPE_CLASSES, DataConfig, load_data, shapes
from workbench.data._shapes import shapes_arrays

SMALL = {"source": "shapes", "samples": 240, "classes": 12}


def test_shapes_images_shape_dtype_range_and_balance():
    x, y = shapes_arrays(360, 12, 32, 0.1, seed=0)
    assert x.shape == (360, 3, 32, 32) and x.dtype == np.float32
    assert y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    # 8-bit levels
    np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-3)
    assert np.bincount(y, minlength=12).tolist() == [30] * 12
    small = shapes_arrays(50, 3, 16, 0.0, seed=0)[0]
    assert small.shape == (50, 3, 16, 16)


def test_every_class_draws_a_distinct_figure():
    # without noise, every class puts a figure on the smooth background
    x, y = shapes_arrays(24 * len(SHAPE_CLASSES), len(SHAPE_CLASSES), 32, 0.0, seed=3)
    for c in range(len(SHAPE_CLASSES)):
        imgs = x[y == c]
        assert len(imgs) == 24
        # the figure covers part of every image: pixels differ from the smooth background
        spread = imgs.reshape(len(imgs), 3, -1).std(-1).mean()
        assert spread > 0.02, SHAPE_CLASSES[c]


def test_same_seed_same_bytes_in_another_process_and_seeds_differ():
    a = load_data(SMALL)
    assert a.fingerprint() == load_data(SMALL).fingerprint()
    code = f"from workbench.data import load_data; print(load_data({SMALL!r}).fingerprint())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == a.fingerprint()
    assert load_data({**SMALL, "seed": 1}).fingerprint() != a.fingerprint()
    assert load_data({**SMALL, "noise": 0.2}).fingerprint() != a.fingerprint()


def test_fingerprint_is_pinned():
    # the bytes do not depend on the numpy version or the CPU: a change here is a changed task
    assert load_data(SMALL).fingerprint() == "6c9896709616be23"


def test_config_reader_defaults_and_describe():
    cfg = DataConfig.from_dict({"source": "shapes"})
    assert (cfg.samples, cfg.classes, cfg.image_size) == (6000, 10, 32)
    assert 0 < cfg.noise <= 1
    assert cfg.to_dict()["image_size"] == 32 and "noise" in cfg.to_dict()
    assert "image_size" not in DataConfig.from_dict({"source": "digits"}).to_dict()
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    d = load_data({**SMALL, "image_size": 24, "val_fraction": 0.25, "test_fraction": 0.25})
    assert d.input_shape == (3, 24, 24) and d.num_classes == 12
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (120, 60, 60)
    for part in (d.y_train, d.y_val, d.y_test):
        assert set(np.unique(part)) == set(range(12))
    about = d.describe()["about"]
    assert "24x24" in about and "crescent" in about


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"source": "shapes", "classes": 13}, r"data\.classes: expected an integer in \[2, 12\]"),
        ({"source": "shapes", "image_size": 4}, r"data\.image_size: expected an integer in"),
        ({"source": "shapes", "noise": -0.1}, r"data\.noise: expected a number in"),
        ({"source": "shapes", "noise": "high"}, r"data\.noise: expected a number"),
        ({"source": "digits", "noise": 0.1}, r"data\.noise: only read when source is shapes"),
        ({"source": "npz", "path": "x.npz", "image_size": 32}, r"data\.image_size: only read"),
        ({"source": "shapes", "colour": 1}, r"data\.colour"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(data, match):
    with pytest.raises(ConfigError, match=match) as info:
        DataConfig.from_dict(data)
    assert "\n" not in str(info.value)


def test_function_refuses_bad_values_in_one_line():
    with pytest.raises(DataError, match=r"classes must be in \[2, 12\], got 20"):
        shapes(100, 20)
    with pytest.raises(DataError, match="noise must be in"):
        shapes(100, 3, noise=2.0)


def test_short_training_beats_chance_clearly():
    torch = pytest.importorskip("torch")
    from workbench.arch import ArchSpec, ConvBN, build_torch, mobilenet_stages
    from workbench.train import TrainConfig, train_torch

    torch.set_num_threads(1)
    d = load_data({"source": "shapes", "samples": 3000, "classes": 3, "image_size": 16})
    blocks = (ConvBN(16, 3, 1), *mobilenet_stages([(3, 24, 1, 2), (3, 24, 1, 2)]))
    model = build_torch(ArchSpec(d.input_shape, d.num_classes, blocks), seed=0)
    res = train_torch(model, d, TrainConfig(epochs=10, batch_size=32, lr=0.005))
    assert res.test_accuracy > 0.55, res  # chance is 1/3
