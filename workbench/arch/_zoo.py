"""Standard architectures written as ArchSpecs.

These reproduce the published layer structure (and the parameter counts of the torchvision
reference models at 1000 classes), so benchmarks run on recognisable networks without
downloading anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.arch._spec import (
    ArchSpec,
    BasicBlock,
    Block,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
)

__all__ = ["mlp", "mobilenet_stages", "mobilenet_v2", "resnet", "resnet18", "resnet34", "resnet50"]


def _make_divisible(value: float, divisor: int = 8) -> int:
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def mobilenet_stages(
    stages: Sequence[tuple[int, int, int, int] | tuple[int, int, int, int, int]],
    *,
    activation: str = "relu6",
) -> list[Block]:
    """Inverted-residual stages from ``(expansion, channels, depth, stride[, kernel])`` tuples.

    The stride applies to the first block of each stage, as in MobileNetV2.
    """
    blocks: list[Block] = []
    for stage in stages:
        t, c, n, s = stage[:4]
        k = stage[4] if len(stage) > 4 else 3
        for j in range(n):
            blocks.append(
                InvertedResidual(
                    out_channels=c,
                    expansion=t,
                    kernel=k,
                    stride=s if j == 0 else 1,
                    activation=activation,
                )
            )
    return blocks


_MBV2 = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def mobilenet_v2(
    input_shape: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    width_mult: float = 1.0,
) -> ArchSpec:
    """MobileNetV2 (Sandler et al. 2018); 3,504,872 parameters at 1000 classes, width 1.0."""
    stem = _make_divisible(32 * width_mult)
    last = _make_divisible(1280 * max(1.0, width_mult))
    stages = [(t, _make_divisible(c * width_mult), n, s) for t, c, n, s in _MBV2]
    blocks: list[Block] = [ConvBN(stem, kernel=3, stride=2, activation="relu6")]
    blocks += mobilenet_stages(stages)
    blocks.append(ConvBN(last, kernel=1, stride=1, activation="relu6"))
    return ArchSpec(
        input_shape=input_shape,
        num_classes=num_classes,
        blocks=tuple(blocks),
        head_dropout=0.2,
        name=f"mobilenet_v2_{width_mult:g}",
        family="mobilenet",
    )


def resnet(
    block: str,
    depths: Sequence[int],
    widths: Sequence[int] = (64, 128, 256, 512),
    *,
    input_shape: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    stem_channels: int = 64,
    stem_kernel: int = 7,
    stem_stride: int = 2,
    stem_pool: bool = True,
    name: str = "",
) -> ArchSpec:
    """A ResNet of ``basic`` or ``bottleneck`` blocks; stage ``i`` has ``depths[i]`` blocks."""
    blocks: list[Block] = [
        ConvBN(stem_channels, kernel=stem_kernel, stride=stem_stride, activation="relu")
    ]
    if stem_pool:
        blocks.append(Pool("max", 3, 2))
    for i, (depth, width) in enumerate(zip(depths, widths)):
        for j in range(depth):
            stride = 2 if (i > 0 and j == 0) else 1
            if block == "basic":
                blocks.append(BasicBlock(out_channels=width, stride=stride))
            elif block == "bottleneck":
                blocks.append(Bottleneck(width=width, stride=stride))
            else:
                raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    return ArchSpec(
        input_shape=input_shape,
        num_classes=num_classes,
        blocks=tuple(blocks),
        name=name,
        family="resnet",
    )


def resnet18(
    input_shape: tuple[int, int, int] = (3, 224, 224), num_classes: int = 1000
) -> ArchSpec:
    """ResNet-18 (He et al. 2016); 11,689,512 parameters at 1000 classes."""
    return resnet(
        "basic", (2, 2, 2, 2), input_shape=input_shape, num_classes=num_classes, name="resnet18"
    )


def resnet34(
    input_shape: tuple[int, int, int] = (3, 224, 224), num_classes: int = 1000
) -> ArchSpec:
    """ResNet-34; 21,797,672 parameters at 1000 classes."""
    return resnet(
        "basic", (3, 4, 6, 3), input_shape=input_shape, num_classes=num_classes, name="resnet34"
    )


def resnet50(
    input_shape: tuple[int, int, int] = (3, 224, 224), num_classes: int = 1000
) -> ArchSpec:
    """ResNet-50 (v1.5: stride on the 3x3); 25,557,032 parameters at 1000 classes."""
    return resnet(
        "bottleneck",
        (3, 4, 6, 3),
        input_shape=input_shape,
        num_classes=num_classes,
        name="resnet50",
    )


def mlp(
    input_shape: tuple[int, ...] = (64,),
    num_classes: int = 10,
    hidden: Sequence[int] = (128, 64),
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> ArchSpec:
    """A multi-layer perceptron; image inputs are flattened."""
    blocks = tuple(
        Dense(units=u, activation=activation, dropout=dropout, batchnorm=batchnorm) for u in hidden
    )
    return ArchSpec(
        input_shape=input_shape, num_classes=num_classes, blocks=blocks, name="mlp", family="mlp"
    )
