import json

import pytest

from workbench import ConfigError
from workbench.arch import (
    ArchSpec,
    BasicBlock,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
    block_from_dict,
    cost_summary,
    mlp,
    mobilenet_v2,
    resnet18,
    resnet50,
)

SPECS = [
    mobilenet_v2(),
    resnet18(),
    resnet50(),
    mlp((1, 8, 8), 10, (32, 16), dropout=0.1, batchnorm=True),
    ArchSpec(
        (3, 16, 16),
        5,
        (
            ConvBN(8, 3, 2),
            Pool("avg", 3, 2),
            InvertedResidual(8, 1, 5),
            ConvBN(16, 3, 1, groups=0),
            Dense(12),
            Dense(7, activation="none"),
        ),
        head_dropout=0.2,
        name="mixed",
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name or s.family)
def test_json_round_trip_is_exact(spec):
    text = spec.to_json()
    back = ArchSpec.from_json(text)
    assert back == spec
    assert back.to_json() == text
    assert back.hash == spec.hash


def test_hash_is_stable_and_ignores_the_name():
    a = mobilenet_v2()
    # a literal value: the hash must not change across versions or processes
    assert a.hash == "798580b28678"
    assert a.with_name("renamed").hash == a.hash
    b = mobilenet_v2(width_mult=0.5)
    assert b.hash != a.hash
    assert (
        ArchSpec((1, 8, 8), 10, (ConvBN(8),)).hash
        != ArchSpec((1, 8, 8), 10, (ConvBN(8, stride=2),)).hash
    )


def test_spec_is_frozen():
    spec = mlp()
    with pytest.raises(AttributeError):
        spec.num_classes = 3  # type: ignore[misc]


def test_published_parameter_and_mac_counts():
    # torchvision's reference models at 1000 classes and 224x224
    assert cost_summary(mobilenet_v2()).params == 3_504_872
    assert cost_summary(resnet18()).params == 11_689_512
    assert cost_summary(resnet50()).params == 25_557_032
    assert round(cost_summary(mobilenet_v2()).macs / 1e6) == 301
    assert round(cost_summary(resnet18()).macs / 1e9, 2) == 1.81
    assert round(cost_summary(resnet50()).macs / 1e9, 2) == 4.09


def test_shapes_use_same_padding():
    spec = ArchSpec(
        (3, 15, 15),
        10,
        (ConvBN(8, 3, 2), InvertedResidual(16, 2, 5, 2), BasicBlock(16, 2), Bottleneck(4, 2)),
    )
    assert spec.shapes() == [(3, 15, 15), (8, 8, 8), (16, 4, 4), (16, 2, 2), (16, 1, 1)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input_shape": (1, 8), "num_classes": 10}, "input_shape"),
        ({"input_shape": (1, 8, 8), "num_classes": 1}, "num_classes"),
        (
            {"input_shape": (1, 8, 8), "num_classes": 10, "blocks": (ConvBN(8, kernel=4),)},
            "blocks[0].kernel",
        ),
        (
            {"input_shape": (1, 8, 8), "num_classes": 10, "blocks": (Dense(8), ConvBN(8))},
            "blocks[1]",
        ),
        ({"input_shape": (16,), "num_classes": 10, "blocks": (ConvBN(8),)}, "blocks[0]"),
        (
            {
                "input_shape": (4, 8, 8),
                "num_classes": 10,
                "blocks": (ConvBN(8, groups=2), ConvBN(9, groups=2)),
            },
            "blocks[1].groups",
        ),
        (
            {"input_shape": (1, 8, 8), "num_classes": 10, "blocks": (Dense(8, activation="tanh"),)},
            "blocks[0].activation",
        ),
    ],
)
def test_invalid_specs_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        ArchSpec(**kwargs)
    assert info.value.field == field


def test_from_dict_rejects_unknown_keys_and_block_types():
    good = mlp().to_dict()
    with pytest.raises(ConfigError, match="unknown key"):
        ArchSpec.from_dict({**good, "colour": "red"})
    with pytest.raises(ConfigError, match="unknown block type"):
        block_from_dict({"type": "transformer"})
    with pytest.raises(ConfigError, match="unknown key") as info:
        block_from_dict({"type": "dense", "units": 3, "unit": 4}, where="blocks[2]")
    assert info.value.field == "blocks[2].unit"
    with pytest.raises(ConfigError, match="missing field"):
        block_from_dict({"type": "dense"})
    with pytest.raises(ConfigError, match="schema"):
        ArchSpec.from_dict({**good, "schema": 99})


def test_summary_is_compact_and_informative():
    assert mlp().summary() == "mlp: fc128 fc64 fc10"
    assert (
        resnet18().summary().startswith("resnet18: c64k7s2 maxpool3s2 basic64 basic64 basic128s2")
    )
    assert json.loads(mlp().to_json())["blocks"][0] == {
        "type": "dense",
        "units": 128,
        "activation": "relu",
        "batchnorm": False,
        "dropout": 0.0,
    }
