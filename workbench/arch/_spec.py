"""ArchSpec: a framework-neutral, frozen description of a classification network.

One spec builds equivalent PyTorch and Keras models (same layers, same parameter count), and
per-layer cost (params, MACs, activation bytes) is computed from the spec alone, so hardware
feasibility can be judged before anything is built or trained.

Convolutions use "same" padding with odd kernels, so a stride-``s`` layer maps ``H`` to
``ceil(H / s)`` in both frameworks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from workbench._errors import ConfigError

__all__ = [
    "ACTIVATIONS",
    "ArchSpec",
    "BasicBlock",
    "Block",
    "Bottleneck",
    "ConvBN",
    "Dense",
    "InvertedResidual",
    "Pool",
    "block_from_dict",
]

SCHEMA_VERSION = 1
ACTIVATIONS = ("relu", "relu6", "silu", "hardswish", "gelu", "none")


def _check_int(owner: str, name: str, value: object, lo: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"expected an integer >= {lo}, got {value!r}", field=f"{owner}.{name}")


def _check_kernel(owner: str, value: Any) -> None:
    _check_int(owner, "kernel", value)
    if value % 2 == 0:
        raise ConfigError(f"expected an odd kernel size, got {value!r}", field=f"{owner}.kernel")


def _check_act(owner: str, value: object) -> None:
    if value not in ACTIVATIONS:
        raise ConfigError(
            f"expected one of {', '.join(ACTIVATIONS)}, got {value!r}", field=f"{owner}.activation"
        )


@dataclass(frozen=True)
class Block:
    """Base of all blocks. ``type`` names the block in JSON."""

    type: ClassVar[str] = ""
    spatial: ClassVar[bool] = True  # consumes and produces (C, H, W) feature maps

    def validate(self) -> None:  # pragma: no cover - overridden
        pass

    def out_channels_for(self, in_channels: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def stride_of(self) -> int:
        return int(getattr(self, "stride", 1))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class ConvBN(Block):
    """Convolution (no bias) + batch norm + activation. ``groups=0`` means depthwise."""

    type: ClassVar[str] = "conv"
    out_channels: int
    kernel: int = 3
    stride: int = 1
    groups: int = 1
    activation: str = "relu"

    def validate(self) -> None:
        _check_int("conv", "out_channels", self.out_channels)
        _check_kernel("conv", self.kernel)
        _check_int("conv", "stride", self.stride)
        _check_int("conv", "groups", self.groups, lo=0)
        _check_act("conv", self.activation)

    def out_channels_for(self, in_channels: int) -> int:
        return self.out_channels

    def groups_for(self, in_channels: int) -> int:
        g = in_channels if self.groups == 0 else self.groups
        if in_channels % g or self.out_channels % g:
            raise ConfigError(
                f"groups={g} must divide in_channels={in_channels} and "
                f"out_channels={self.out_channels}",
                field="conv.groups",
            )
        return g


@dataclass(frozen=True)
class InvertedResidual(Block):
    """MobileNetV2 block: 1x1 expand (none when expansion is 1), depthwise kxk, 1x1 linear project.

    The residual connection is used when stride is 1 and channels are unchanged.
    """

    type: ClassVar[str] = "inverted_residual"
    out_channels: int
    expansion: int = 6
    kernel: int = 3
    stride: int = 1
    activation: str = "relu6"

    def validate(self) -> None:
        _check_int("inverted_residual", "out_channels", self.out_channels)
        _check_int("inverted_residual", "expansion", self.expansion)
        _check_kernel("inverted_residual", self.kernel)
        _check_int("inverted_residual", "stride", self.stride)
        _check_act("inverted_residual", self.activation)

    def out_channels_for(self, in_channels: int) -> int:
        return self.out_channels

    def hidden_for(self, in_channels: int) -> int:
        return in_channels * self.expansion

    def has_residual(self, in_channels: int) -> bool:
        return self.stride == 1 and in_channels == self.out_channels


@dataclass(frozen=True)
class BasicBlock(Block):
    """ResNet basic block: two 3x3 conv-BN, identity or 1x1 projection shortcut, ReLU after add."""

    type: ClassVar[str] = "basic"
    out_channels: int
    stride: int = 1

    def validate(self) -> None:
        _check_int("basic", "out_channels", self.out_channels)
        _check_int("basic", "stride", self.stride)

    def out_channels_for(self, in_channels: int) -> int:
        return self.out_channels

    def has_projection(self, in_channels: int) -> bool:
        return self.stride != 1 or in_channels != self.out_channels


@dataclass(frozen=True)
class Bottleneck(Block):
    """ResNet bottleneck: 1x1 reduce to ``width``, 3x3 (stride here, as in ResNet v1.5), 1x1 expand
    to ``width * expansion``; projection shortcut when shape changes."""

    type: ClassVar[str] = "bottleneck"
    width: int
    stride: int = 1
    expansion: int = 4

    def validate(self) -> None:
        _check_int("bottleneck", "width", self.width)
        _check_int("bottleneck", "stride", self.stride)
        _check_int("bottleneck", "expansion", self.expansion)

    def out_channels_for(self, in_channels: int) -> int:
        return self.width * self.expansion

    def has_projection(self, in_channels: int) -> bool:
        return self.stride != 1 or in_channels != self.width * self.expansion


@dataclass(frozen=True)
class Pool(Block):
    """Max or average pooling, "same" padding (ResNet's stem max-pool is ``Pool("max", 3, 2)``)."""

    type: ClassVar[str] = "pool"
    kind: str = "max"
    kernel: int = 3
    stride: int = 2

    def validate(self) -> None:
        if self.kind not in ("max", "avg"):
            raise ConfigError(f"expected max or avg, got {self.kind!r}", field="pool.kind")
        _check_kernel("pool", self.kernel)
        _check_int("pool", "stride", self.stride)

    def out_channels_for(self, in_channels: int) -> int:
        return in_channels


@dataclass(frozen=True)
class Dense(Block):
    """Fully connected hidden layer: linear with bias, optional batch norm, activation, dropout."""

    type: ClassVar[str] = "dense"
    spatial: ClassVar[bool] = False
    units: int
    activation: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0

    def validate(self) -> None:
        _check_int("dense", "units", self.units)
        _check_act("dense", self.activation)
        if not isinstance(self.batchnorm, bool):
            raise ConfigError(
                f"expected true or false, got {self.batchnorm!r}", field="dense.batchnorm"
            )
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"expected a number in [0, 1), got {self.dropout!r}", field="dense.dropout"
            )

    def out_channels_for(self, in_channels: int) -> int:
        return self.units


def _leaf(field: str | None) -> str:
    """``conv.kernel`` -> ``kernel``: a block's own field name, for a message about blocks[i]."""
    return (field or "").split(".", 1)[-1]


def _token(b: Block) -> str:
    """Short text for one block: c16k3s2, ir24e4k5s2, basic64s2, bneck64s2, maxpool3s2, fc128."""
    s = f"s{b.stride_of()}" if b.stride_of() != 1 else ""
    if isinstance(b, ConvBN):
        dw = "dw" if b.groups == 0 else ""
        return f"{dw}c{b.out_channels}k{b.kernel}{s}"
    if isinstance(b, InvertedResidual):
        return f"ir{b.out_channels}e{b.expansion}k{b.kernel}{s}"
    if isinstance(b, BasicBlock):
        return f"basic{b.out_channels}{s}"
    if isinstance(b, Bottleneck):
        return f"bneck{b.width}x{b.expansion}{s}"
    if isinstance(b, Pool):
        return f"{b.kind}pool{b.kernel}{s}"
    if isinstance(b, Dense):
        return f"fc{b.units}"
    return b.type


BLOCK_TYPES: dict[str, type[Block]] = {
    cls.type: cls for cls in (ConvBN, InvertedResidual, BasicBlock, Bottleneck, Pool, Dense)
}


def block_from_dict(data: Mapping[str, Any], *, where: str = "block") -> Block:
    """Build a block from its JSON form ``{"type": ..., **fields}``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping with a 'type', got {data!r}", field=where)
    kind = data.get("type")
    cls = BLOCK_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ConfigError(
            f"unknown block type {kind!r}; expected one of: {', '.join(sorted(BLOCK_TYPES))}",
            field=f"{where}.type",
        )
    names = {f.name for f in fields(cls)}
    unknown = [k for k in data if k != "type" and k not in names]
    if unknown:
        raise ConfigError(
            f"unknown key; expected one of: {', '.join(sorted(names))}",
            field=f"{where}.{unknown[0]}",
        )
    try:
        block = cls(**{k: v for k, v in data.items() if k != "type"})
    except TypeError as err:
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING]
        raise ConfigError(
            f"missing field(s) {', '.join(missing) or str(err)}", field=where
        ) from None
    try:
        block.validate()
    except ConfigError as err:
        raise ConfigError(err.message, field=f"{where}.{_leaf(err.field)}") from None
    return block


@dataclass(frozen=True)
class ArchSpec:
    """A classification network: input shape, classes and a sequence of blocks.

    ``input_shape`` is ``(C, H, W)`` for images or ``(features,)`` for vectors. Spatial blocks
    come first; the first :class:`Dense` after them (or the classifier) sees globally
    average-pooled features. Image inputs given straight to a :class:`Dense` are flattened.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    blocks: tuple[Block, ...] = ()
    head_dropout: float = 0.0
    name: str = ""
    family: str = ""
    schema: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        self.validate()

    # -- validation and shapes -------------------------------------------------------------
    def validate(self) -> None:
        if len(self.input_shape) not in (1, 3) or any(d < 1 for d in self.input_shape):
            raise ConfigError(
                f"expected (C, H, W) or (features,) with positive sizes, got {self.input_shape}",
                field="input_shape",
            )
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 2
        ):
            raise ConfigError(
                f"expected an integer >= 2, got {self.num_classes!r}", field="num_classes"
            )
        if not 0.0 <= float(self.head_dropout) < 1.0:
            raise ConfigError(
                f"expected a number in [0, 1), got {self.head_dropout!r}", field="head_dropout"
            )
        seen_dense = False
        for i, block in enumerate(self.blocks):
            if not isinstance(block, Block):
                raise ConfigError(
                    f"expected a Block, got {type(block).__name__}", field=f"blocks[{i}]"
                )
            try:
                block.validate()
            except ConfigError as err:
                raise ConfigError(err.message, field=f"blocks[{i}].{_leaf(err.field)}") from None
            if block.spatial:
                if len(self.input_shape) != 3:
                    raise ConfigError(
                        f"a {block.type} block needs an image input (C, H, W); input_shape is "
                        f"{self.input_shape}",
                        field=f"blocks[{i}]",
                    )
                if seen_dense:
                    raise ConfigError(
                        f"a {block.type} block cannot follow a dense block", field=f"blocks[{i}]"
                    )
            else:
                seen_dense = True
        self.shapes()  # raises on impossible channel/group combinations

    def shapes(self) -> list[tuple[int, ...]]:
        """Output shape of each block (without batch), after the input shape at index 0."""
        shape = self.input_shape
        out = [shape]
        for i, block in enumerate(self.blocks):
            if block.spatial:
                c, h, w = shape
                s = block.stride_of()
                if isinstance(block, ConvBN):
                    try:
                        block.groups_for(c)
                    except ConfigError as err:
                        raise ConfigError(err.message, field=f"blocks[{i}].groups") from None
                shape = (block.out_channels_for(c), math.ceil(h / s), math.ceil(w / s))
            else:
                features = shape[0] if len(shape) == 1 else self._dense_input(shape, i)
                shape = (block.out_channels_for(features),)
            out.append(shape)
        return out

    def _dense_input(self, shape: tuple[int, ...], index: int) -> int:
        # Image input straight into dense layers is flattened; after conv blocks it is pooled.
        has_conv_before = any(b.spatial for b in self.blocks[:index])
        return shape[0] if has_conv_before else int(math.prod(shape))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return self.shapes()[-1]

    @property
    def head_pools(self) -> bool:
        """Whether the classifier sees globally average-pooled features (conv nets)."""
        return len(self.feature_shape) == 3 and any(b.spatial for b in self.blocks)

    @property
    def head_flattens(self) -> bool:
        return len(self.feature_shape) == 3 and not any(b.spatial for b in self.blocks)

    @property
    def head_in_features(self) -> int:
        shape = self.feature_shape
        if len(shape) == 1:
            return shape[0]
        return shape[0] if self.head_pools else int(math.prod(shape))

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "name": self.name,
            "family": self.family,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "head_dropout": self.head_dropout,
            "blocks": [b.to_dict() for b in self.blocks],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping, got {type(data).__name__}", field="spec")
        schema = data.get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ConfigError(
                f"unsupported schema {schema!r}; this version reads {SCHEMA_VERSION}",
                field="schema",
            )
        known = {"schema", "name", "family", "input_shape", "num_classes", "head_dropout", "blocks"}
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ConfigError(
                f"unknown key; expected one of: {', '.join(sorted(known))}", field=unknown[0]
            )
        for key in ("input_shape", "num_classes"):
            if key not in data:
                raise ConfigError("missing", field=key)
        blocks_data = data.get("blocks", [])
        if not isinstance(blocks_data, Sequence) or isinstance(blocks_data, (str, bytes)):
            raise ConfigError(f"expected a list of blocks, got {blocks_data!r}", field="blocks")
        shape = data["input_shape"]
        if not isinstance(shape, Sequence) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise ConfigError(f"expected a list of integers, got {shape!r}", field="input_shape")
        return cls(
            input_shape=tuple(shape),
            num_classes=data["num_classes"],
            blocks=tuple(
                block_from_dict(b, where=f"blocks[{i}]") for i, b in enumerate(blocks_data)
            ),
            head_dropout=float(data.get("head_dropout", 0.0)),
            name=str(data.get("name", "")),
            family=str(data.get("family", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))

    @property
    def hash(self) -> str:
        """Stable 12-hex-digit hash of the architecture (the name and family do not count)."""
        body = self.to_dict()
        body.pop("name")
        body.pop("family")
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:12]

    def summary(self, max_tokens: int = 12) -> str:
        """A compact one-line description, e.g. ``mobilenet: c16 ir24e4k3s2 ir24e4k3 fc10``."""
        tokens = [_token(b) for b in self.blocks]
        if len(tokens) > max_tokens:
            tokens = [*tokens[: max_tokens - 2], f"...+{len(tokens) - max_tokens + 1}", tokens[-1]]
        label = self.name or self.family or "spec"
        return f"{label}: {' '.join([*tokens, f'fc{self.num_classes}'])}"

    def with_name(self, name: str) -> ArchSpec:
        return ArchSpec(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            blocks=self.blocks,
            head_dropout=self.head_dropout,
            name=name,
            family=self.family,
        )
