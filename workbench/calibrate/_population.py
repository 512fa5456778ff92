"""Architecture populations for calibrating and validating the latency predictor.

Two disjoint, seeded populations of realistic image classifiers (MobileNet-style, ResNet-style
and plain VGG-style CNNs at 32-224 px): one to fit a profile's efficiency factors, one held
out to measure how far the fitted predictor can be trusted. The held-out population is drawn
from its own random stream and any architecture that also appears in the calibration
population is dropped, so no held-out model was ever seen by the fit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from workbench.arch import ArchSpec, BasicBlock, Block, Bottleneck, ConvBN, InvertedResidual, Pool

__all__ = [
    "FAMILY_NAMES",
    "MACS_RANGE",
    "calibration_population",
    "heldout_population",
    "random_architecture",
    "situations",
]

FAMILY_NAMES = ("mobilenet", "resnet", "cnn")
_RESOLUTIONS = (32, 48, 64, 96, 128, 160, 192, 224)
_CALIBRATION_STREAM = 1_000_003
_HELDOUT_STREAM = 2_000_029


def _mobilenet(rng: random.Random, res: int, classes: int) -> ArchSpec:
    width = rng.choice((0.35, 0.5, 0.75, 1.0))
    act = rng.choice(("relu6", "relu", "hardswish"))
    stem = max(8, int(32 * width) // 8 * 8)
    blocks: list[Block] = [ConvBN(stem, 3, 2 if res >= 64 else 1, activation=act)]
    channels = (16, 24, 32, 64, 96, 160)
    strides = (1, 2, 2, 2, 1, 2)
    n_stages = rng.randint(3, 6)
    for i in range(n_stages):
        c = max(8, int(channels[i] * width * rng.choice((0.75, 1.0, 1.25))) // 8 * 8)
        depth = rng.randint(1, 3)
        e = 1 if i == 0 else rng.choice((3, 4, 6))
        k = rng.choice((3, 3, 5))
        for j in range(depth):
            s = strides[i] if j == 0 else 1
            blocks.append(InvertedResidual(c, e, k, s, act))
    blocks.append(
        ConvBN(max(64, int(rng.choice((320, 640, 1280)) * width) // 8 * 8), 1, 1, activation=act)
    )
    return ArchSpec(
        (3, res, res), classes, tuple(blocks), name="mobilenet-like", family="mobilenet"
    )


def _resnet(rng: random.Random, res: int, classes: int) -> ArchSpec:
    bottleneck = rng.random() < 0.3
    base = rng.choice((16, 24, 32, 48, 64))
    n_stages = rng.randint(2, 4)
    blocks: list[Block] = [
        ConvBN(
            base, rng.choice((3, 7)) if res >= 96 else 3, 2 if res >= 96 else 1, activation="relu"
        )
    ]
    if res >= 128 and rng.random() < 0.7:
        blocks.append(Pool("max", 3, 2))
    for i in range(n_stages):
        w = base * (2**i)
        for j in range(rng.randint(1, 3)):
            s = 2 if (i > 0 and j == 0) else 1
            blocks.append(Bottleneck(max(8, w // 2), s) if bottleneck else BasicBlock(w, s))
    return ArchSpec((3, res, res), classes, tuple(blocks), name="resnet-like", family="resnet")


def _cnn(rng: random.Random, res: int, classes: int) -> ArchSpec:
    base = rng.choice((16, 24, 32, 48, 64))
    blocks: list[Block] = []
    c = base
    size = res
    for _stage in range(rng.randint(2, 4)):
        for _ in range(rng.randint(1, 2)):
            blocks.append(
                ConvBN(c, rng.choice((3, 3, 5)), 1, activation=rng.choice(("relu", "silu")))
            )
        if size > 8:
            kind = rng.choice(("max", "avg"))
            blocks.append(Pool(kind, 3, 2))
            size = (size + 1) // 2
        c = min(512, c * 2)
    return ArchSpec((3, res, res), classes, tuple(blocks), name="cnn", family="cnn")


_BUILDERS = {"mobilenet": _mobilenet, "resnet": _resnet, "cnn": _cnn}


def random_architecture(
    rng: random.Random,
    *,
    families: Sequence[str] = FAMILY_NAMES,
    resolutions: Sequence[int] = _RESOLUTIONS,
) -> ArchSpec:
    """One random classifier from ``families`` at one of ``resolutions`` (square RGB input)."""
    family = rng.choice(tuple(families))
    res = rng.choice(tuple(resolutions))
    classes = rng.choice((10, 100, 1000))
    spec = _BUILDERS[family](rng, res, classes)
    return spec.with_name(f"{family}-{res}px-{spec.hash[:6]}")


#: MACs of the populations: about 0.3-50 ms on one core of a server CPU, where neither fixed
#: overheads nor a single huge layer dominate every model
MACS_RANGE = (4e6, 1.5e9)


def _population(
    n: int, stream: int, seed: int, exclude: set[str], families: Sequence[str]
) -> list[ArchSpec]:
    from workbench.arch import cost_summary

    rng = random.Random(stream * 7919 + seed)
    out: list[ArchSpec] = []
    seen = set(exclude)
    # cycle through families so every family is represented whatever n is
    while len(out) < n:
        fam = families[len(out) % len(families)]
        spec = random_architecture(rng, families=(fam,))
        if spec.hash in seen or not MACS_RANGE[0] <= cost_summary(spec).macs <= MACS_RANGE[1]:
            continue
        seen.add(spec.hash)
        out.append(spec)
    return out


def _bucket(x: float) -> int:
    """Octave of a positive size (1, 2-3, 4-7, ...), 0 for nothing."""
    return int(x).bit_length()


def situations(spec: ArchSpec) -> set[tuple[object, ...]]:
    """The kernel situations ``spec`` exercises, coarsely: per kernel kind, each pooling kind and
    position, activation, kernel size and stride, channel count and output size (octaves), and
    whether the channels fill whole SIMD registers; plus the model's size (MACs, half-decades) and
    family; and the reduction length of convolutions (octaves). What a calibration set should cover,
    so that the fit meets no unit it never saw."""
    from workbench.arch import cost_summary
    from workbench.hw._predict import kernel_units, ops_from_spec

    keys: set[tuple[object, ...]] = {
        ("family", spec.family),
        ("macs", round(2 * math.log10(max(1, cost_summary(spec).macs)))),
    }
    for u in kernel_units(ops_from_spec(spec)):
        op = u.main
        sub = op.source_op if u.kind == "pool" else ""
        keys.update(
            {
                (u.kind, sub, u.context),
                (u.kind, "act", u.activations),
                (u.kind, "window", op.kernel, op.stride),
                (u.kind, "channels", _bucket(op.out_channels)),
                (u.kind, "positions", _bucket(op.output_elems // max(1, op.out_channels))),
                (u.kind, "lanes", op.out_channels % 16 == 0, op.out_channels % 8 == 0),
            }
        )
        if u.residual:
            keys.add((u.kind, "residual"))
        if u.kind in ("conv", "pwconv"):  # GEMM kernels block the reduction: each octave steps
            keys.add((u.kind, "reduction", _bucket(op.reduction)))
    return keys


#: candidates a calibration set of ``n`` is chosen from: ``n`` times this many
_CANDIDATES_PER_MODEL = 10


def calibration_population(
    n: int = 20, *, seed: int = 0, families: Sequence[str] = FAMILY_NAMES
) -> list[ArchSpec]:
    """``n`` architectures the predictor's efficiency factors are fitted on.

    Chosen from ten times as many seeded candidates to cover as many kernel situations
    (:func:`situations`) as ``n`` models can: greedily, each next model the one that adds the most
    situations not yet covered (the first candidate in draw order on ties), so that a rare
    situation (an averaging pool right before the head, a narrow depthwise layer) is fitted from
    at least one model rather than met first on a held-out one.
    """
    pool = _population(n * _CANDIDATES_PER_MODEL, _CALIBRATION_STREAM, seed, set(), families)
    cover = [situations(s) for s in pool]
    covered: set[tuple[object, ...]] = set()
    chosen: list[int] = []
    while len(chosen) < min(n, len(pool)):
        best = max(
            (i for i in range(len(pool)) if i not in chosen),
            key=lambda i: (len(cover[i] - covered), -i),
        )
        chosen.append(best)
        covered |= cover[best]
    return [pool[i] for i in chosen]


def heldout_population(
    n: int = 30,
    *,
    seed: int = 0,
    families: Sequence[str] = FAMILY_NAMES,
    calibration: Sequence[ArchSpec] = (),
    exclude: Iterable[str] = (),
) -> list[ArchSpec]:
    """``n`` architectures never used for fitting: drawn from their own random stream, and none
    with the hash of a ``calibration`` spec or of one in ``exclude``."""
    return _population(
        n, _HELDOUT_STREAM, seed, {s.hash for s in calibration} | set(exclude), families
    )
