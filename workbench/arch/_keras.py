"""Build a Keras 3 model from an ArchSpec, equivalent to :func:`workbench.arch.build_torch`.

Same blocks, same parameters, same layer names: every Keras layer with weights is named like
the PyTorch module path and the :func:`workbench.arch.layer_costs` entry (``blocks.3.dw.conv``,
``head.fc``), so per-layer figures are checked against both builds.

Images are channels last, ``(H, W, C)``: TensorFlow's CPU kernels only run NHWC convolutions.
Numerics follow the PyTorch build too:

- strided convolutions pad ``kernel // 2`` on every side (an explicit ``ZeroPadding2D`` named
  ``<conv>.pad`` before a "valid" convolution, as Keras Applications do) rather than
  TensorFlow's "same", which pads bottom/right only; stride-1 convolutions use "same", which is
  symmetric for odd kernels;
- batch norm uses PyTorch's epsilon (1e-5) and momentum (0.1, i.e. Keras momentum 0.9);
- initialisers draw from PyTorch's distributions (He normal over fan-out for convolutions,
  uniform(+-1/sqrt(fan_in)) for linear layers), each seeded from ``seed`` and the layer;
- a flatten of a multi-channel image permutes to channels first, so feature order matches.

Strided max pooling after a ReLU pads with zeros on every side (exactly PyTorch's result, as in
Keras Applications' ResNet stem); other strided pooling keeps TensorFlow's "same" padding (the
extra row/column at the bottom/right): the output shape is the same, border values can differ.
"""

from __future__ import annotations

import math
import zlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from workbench._imports import require
from workbench.arch._spec import (
    ArchSpec,
    BasicBlock,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
)

if TYPE_CHECKING:
    import keras

__all__ = ["build_keras", "keras_input_shape"]

BN_EPSILON = 1e-5  # PyTorch's default
BN_MOMENTUM = 0.9  # Keras' momentum is 1 - PyTorch's (0.1)


def keras_input_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras input shape for a spec's ``input_shape``: ``(C, H, W)`` -> ``(H, W, C)``."""
    shape = tuple(int(d) for d in input_shape)
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def build_keras(spec: ArchSpec, *, seed: int | None = None) -> keras.Model:
    """A ``keras.Model`` equivalent to ``spec`` (functional, channels-last input named ``input``).

    ``seed`` makes weight initialisation reproducible without touching Keras' global seed.
    """
    keras = require("keras", extra="keras", purpose="Keras models")
    return _Builder(keras, spec, 0 if seed is None else int(seed)).build()


class _Builder:
    def __init__(self, keras: ModuleType, spec: ArchSpec, seed: int) -> None:
        self.keras = keras
        self.layers = keras.layers
        self.spec = spec
        self.seed = seed

    # -- seeded initialisers with PyTorch's distributions -------------------------------------
    def _seed(self, name: str) -> int:
        return (self.seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31 - 1)

    def _conv_init(self, name: str, out_channels: int, kernel: int) -> Any:
        # torch.nn.init.kaiming_normal_(mode="fan_out", nonlinearity="relu"): fan_out = C_out * k *
        # k
        std = math.sqrt(2.0 / (out_channels * kernel * kernel))
        return self.keras.initializers.RandomNormal(0.0, std, seed=self._seed(name))

    def _linear_init(self, name: str, fan_in: int, part: str) -> Any:
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return self.keras.initializers.RandomUniform(
            -bound, bound, seed=self._seed(f"{name}/{part}")
        )

    # -- primitives ----------------------------------------------------------------------------
    def activation(self, x: Any, name: str, act: str) -> Any:
        L = self.layers
        if act == "none":
            return x
        if act == "relu":
            return L.ReLU(name=name)(x)
        if act == "relu6":
            return L.ReLU(max_value=6.0, name=name)(x)
        keras_name = {"silu": "silu", "hardswish": "hard_swish", "gelu": "gelu"}[act]
        return L.Activation(keras_name, name=name)(x)

    def conv_bn(
        self, x: Any, name: str, cin: int, cout: int, k: int, s: int, groups: int, act: str
    ) -> Any:
        L = self.layers
        padding = "same"
        if s > 1 and k > 1:
            x = L.ZeroPadding2D(k // 2, name=f"{name}.pad")(x)
            padding = "valid"
        init = self._conv_init(f"{name}.conv", cout, k)
        if groups == cin and groups > 1:  # depthwise; PyTorch's channel order c * m + j matches
            x = L.DepthwiseConv2D(
                k,
                s,
                padding=padding,
                depth_multiplier=cout // cin,
                use_bias=False,
                depthwise_initializer=init,
                name=f"{name}.conv",
            )(x)
        else:
            x = L.Conv2D(
                cout,
                k,
                s,
                padding=padding,
                groups=groups,
                use_bias=False,
                kernel_initializer=init,
                name=f"{name}.conv",
            )(x)
        x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}.bn")(x)
        return self.activation(x, f"{name}.act", act)

    def linear(self, x: Any, name: str, fan_in: int, units: int) -> Any:
        return self.layers.Dense(
            units,
            kernel_initializer=self._linear_init(name, fan_in, "kernel"),
            bias_initializer=self._linear_init(name, fan_in, "bias"),
            name=name,
        )(x)

    def to_vector(self, x: Any, prefix: str, shape: tuple[int, ...], *, pool: bool) -> Any:
        L = self.layers
        if pool:
            return L.GlobalAveragePooling2D(name=f"{prefix}.gap")(x)
        if shape[0] > 1:  # flatten in PyTorch's (C, H, W) order, so weights line up
            x = L.Permute((3, 1, 2), name=f"{prefix}.to_chw")(x)
        return L.Flatten(name=f"{prefix}.flatten")(x)

    # -- the network ---------------------------------------------------------------------------
    def build(self) -> keras.Model:
        keras, L, spec = self.keras, self.layers, self.spec
        inputs = keras.Input(keras_input_shape(spec.input_shape), name="input")
        x = inputs
        shapes = spec.shapes()
        seen_spatial = False
        for i, b in enumerate(spec.blocks):
            p = f"blocks.{i}"
            shape = shapes[i]
            cin = shape[0]
            if isinstance(b, ConvBN):
                x = self.conv_bn(
                    x, p, cin, b.out_channels, b.kernel, b.stride, b.groups_for(cin), b.activation
                )
            elif isinstance(b, InvertedResidual):
                hidden = b.hidden_for(cin)
                h = x
                if b.expansion != 1:
                    h = self.conv_bn(h, f"{p}.expand", cin, hidden, 1, 1, 1, b.activation)
                h = self.conv_bn(
                    h, f"{p}.dw", hidden, hidden, b.kernel, b.stride, hidden, b.activation
                )
                h = self.conv_bn(h, f"{p}.project", hidden, b.out_channels, 1, 1, 1, "none")
                x = L.Add(name=f"{p}.add")([x, h]) if b.has_residual(cin) else h
            elif isinstance(b, (BasicBlock, Bottleneck)):
                cout = b.out_channels_for(cin)
                if isinstance(b, BasicBlock):
                    h = self.conv_bn(x, f"{p}.conv1", cin, cout, 3, b.stride, 1, "relu")
                    h = self.conv_bn(h, f"{p}.conv2", cout, cout, 3, 1, 1, "none")
                else:
                    h = self.conv_bn(x, f"{p}.conv1", cin, b.width, 1, 1, 1, "relu")
                    h = self.conv_bn(h, f"{p}.conv2", b.width, b.width, 3, b.stride, 1, "relu")
                    h = self.conv_bn(h, f"{p}.conv3", b.width, cout, 1, 1, 1, "none")
                skip = (
                    self.conv_bn(x, f"{p}.shortcut", cin, cout, 1, b.stride, 1, "none")
                    if b.has_projection(cin)
                    else x
                )
                x = L.Add(name=f"{p}.add")([h, skip])
                x = L.ReLU(name=f"{p}.act")(x)
            elif isinstance(b, Pool):
                if b.kind == "max" and b.stride > 1 and b.kernel > 1 and _nonnegative(spec, i):
                    # after a ReLU, zeros pad like PyTorch's -inf (Keras Applications' ResNet stem)
                    x = L.ZeroPadding2D(b.kernel // 2, name=f"{p}.pad")(x)
                    x = L.MaxPooling2D(b.kernel, b.stride, padding="valid", name=f"{p}.pool")(x)
                else:
                    cls = L.MaxPooling2D if b.kind == "max" else L.AveragePooling2D
                    x = cls(b.kernel, b.stride, padding="same", name=f"{p}.pool")(x)
            elif isinstance(b, Dense):
                features = shape[0]
                if len(shape) == 3:
                    x = self.to_vector(x, p, shape, pool=seen_spatial)
                    features = shape[0] if seen_spatial else int(math.prod(shape))
                x = self.linear(x, f"{p}.fc", features, b.units)
                if b.batchnorm:
                    x = L.BatchNormalization(
                        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{p}.bn"
                    )(x)
                x = self.activation(x, f"{p}.act", b.activation)
                if b.dropout > 0:
                    x = L.Dropout(b.dropout, seed=self._seed(f"{p}.dropout"), name=f"{p}.dropout")(
                        x
                    )
            else:  # pragma: no cover - every block type is handled above
                raise TypeError(f"unhandled block {b!r}")
            seen_spatial = seen_spatial or b.spatial
        final = shapes[-1]
        if len(final) == 3:
            x = self.to_vector(x, "head", final, pool=seen_spatial)
        if spec.head_dropout > 0:
            x = L.Dropout(spec.head_dropout, seed=self._seed("head.dropout"), name="head.dropout")(
                x
            )
        x = self.linear(x, "head.fc", spec.head_in_features, spec.num_classes)
        return keras.Model(inputs, x, name=_model_name(spec))


def _nonnegative(spec: ArchSpec, index: int) -> bool:
    """Whether block ``index``'s input is known to be >= 0 (it follows a ReLU)."""
    for b in reversed(spec.blocks[:index]):
        if isinstance(b, Pool) and b.kind == "max":
            continue  # max pooling keeps the sign of its input
        if isinstance(b, ConvBN):
            return b.activation in ("relu", "relu6")
        return isinstance(b, (BasicBlock, Bottleneck))  # both end in a ReLU
    return False


def _model_name(spec: ArchSpec) -> str:
    raw = spec.name or spec.family or "specnet"
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw) or "specnet"
