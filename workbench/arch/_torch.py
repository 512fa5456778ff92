"""Build a PyTorch ``nn.Module`` from an ArchSpec.

Module paths equal the layer names of :func:`workbench.arch.layer_costs`, so per-layer figures
can be checked against the built model and mapped onto profiler output.
"""

from __future__ import annotations

from collections import OrderedDict
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
    from torch import Tensor
    from torch.nn import Module

__all__ = ["build_torch"]


def build_torch(spec: ArchSpec, *, seed: int | None = None) -> Module:
    """Return an ``nn.Module`` (in train mode) equivalent to ``spec``.

    ``seed`` makes weight initialisation reproducible without touching the global RNG state.
    """
    torch = require("torch", extra="torch")
    classes = _classes(torch)
    if seed is None:
        return classes["SpecNet"](spec)
    devices: list[int] = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return classes["SpecNet"](spec)


_CACHE: dict[str, Any] = {}


def _classes(torch: Any) -> dict[str, Any]:
    """Define the module classes once, on first use, so importing this file needs no torch."""
    if _CACHE:
        return _CACHE
    nn = torch.nn
    F = torch.nn.functional

    def activation(name: str) -> Module:
        return {
            "relu": nn.ReLU,
            "relu6": nn.ReLU6,
            "silu": nn.SiLU,
            "hardswish": nn.Hardswish,
            "gelu": nn.GELU,
        }[name]()

    def conv_bn(cin: int, cout: int, k: int, s: int, groups: int, act: str) -> Module:
        parts: OrderedDict[str, Any] = OrderedDict(
            conv=nn.Conv2d(cin, cout, k, s, padding=k // 2, groups=groups, bias=False),
            bn=nn.BatchNorm2d(cout),
        )
        if act != "none":
            parts["act"] = activation(act)
        return nn.Sequential(parts)

    class GlobalAvgPool(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def forward(self, x: Tensor) -> Tensor:
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    class InvertedResidualModule(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self, cin: int, b: InvertedResidual) -> None:
            super().__init__()
            hidden = b.hidden_for(cin)
            self.use_residual = b.has_residual(cin)
            self.expand: Module | None
            if b.expansion != 1:
                self.expand = conv_bn(cin, hidden, 1, 1, 1, b.activation)
            else:
                self.expand = None
            self.dw = conv_bn(hidden, hidden, b.kernel, b.stride, hidden, b.activation)
            self.project = conv_bn(hidden, b.out_channels, 1, 1, 1, "none")

        def forward(self, x: Tensor) -> Tensor:
            h = self.expand(x) if self.expand is not None else x
            h = self.project(self.dw(h))
            return x + h if self.use_residual else h

    class ResidualModule(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self, cin: int, b: BasicBlock | Bottleneck) -> None:
            super().__init__()
            cout = b.out_channels_for(cin)
            if isinstance(b, BasicBlock):
                self.conv1 = conv_bn(cin, cout, 3, b.stride, 1, "relu")
                self.conv2 = conv_bn(cout, cout, 3, 1, 1, "none")
                self.conv3 = None
            else:
                self.conv1 = conv_bn(cin, b.width, 1, 1, 1, "relu")
                self.conv2 = conv_bn(b.width, b.width, 3, b.stride, 1, "relu")
                self.conv3 = conv_bn(b.width, cout, 1, 1, 1, "none")
            self.shortcut = (
                conv_bn(cin, cout, 1, b.stride, 1, "none") if b.has_projection(cin) else None
            )
            self.act = nn.ReLU()

        def forward(self, x: Tensor) -> Tensor:
            h = self.conv2(self.conv1(x))
            if self.conv3 is not None:
                h = self.conv3(h)
            skip = self.shortcut(x) if self.shortcut is not None else x
            return self.act(h + skip)

    class PoolModule(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self, b: Pool) -> None:
            super().__init__()
            pad = b.kernel // 2
            if b.kind == "max":
                self.pool = nn.MaxPool2d(b.kernel, b.stride, padding=pad)
            else:
                self.pool = nn.AvgPool2d(b.kernel, b.stride, padding=pad, count_include_pad=False)

        def forward(self, x: Tensor) -> Tensor:
            return self.pool(x)

    class DenseModule(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self, in_shape: tuple[int, ...], b: Dense, pool: bool) -> None:
            super().__init__()
            self.to_vector: str | None = None
            features = in_shape[0]
            if len(in_shape) == 3:
                if pool:
                    self.gap = GlobalAvgPool()
                    self.to_vector = "gap"
                else:
                    self.flatten = nn.Flatten()
                    self.to_vector = "flatten"
                    features = in_shape[0] * in_shape[1] * in_shape[2]
            self.fc = nn.Linear(features, b.units)
            self.bn = nn.BatchNorm1d(b.units) if b.batchnorm else None
            self.act = activation(b.activation) if b.activation != "none" else None
            self.dropout = nn.Dropout(b.dropout) if b.dropout > 0 else None

        def forward(self, x: Tensor) -> Tensor:
            if self.to_vector is not None:
                x = getattr(self, self.to_vector)(x)
            x = self.fc(x)
            if self.bn is not None:
                x = self.bn(x)
            if self.act is not None:
                x = self.act(x)
            if self.dropout is not None:
                x = self.dropout(x)
            return x

    class Head(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self, spec: ArchSpec) -> None:
            super().__init__()
            self.to_vector: str | None = None
            if spec.head_pools:
                self.gap = GlobalAvgPool()
                self.to_vector = "gap"
            elif spec.head_flattens:
                self.flatten = nn.Flatten()
                self.to_vector = "flatten"
            self.dropout = nn.Dropout(spec.head_dropout) if spec.head_dropout > 0 else None
            self.fc = nn.Linear(spec.head_in_features, spec.num_classes)

        def forward(self, x: Tensor) -> Tensor:
            if self.to_vector is not None:
                x = getattr(self, self.to_vector)(x)
            if self.dropout is not None:
                x = self.dropout(x)
            return self.fc(x)

    class SpecNet(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        """A network built from an :class:`~workbench.arch.ArchSpec` (kept as ``.spec``)."""

        def __init__(self, spec: ArchSpec) -> None:
            super().__init__()
            self.spec = spec
            shapes = spec.shapes()
            blocks = []
            seen_spatial = False
            for i, b in enumerate(spec.blocks):
                cin = shapes[i][0]
                if isinstance(b, ConvBN):
                    blocks.append(
                        conv_bn(
                            cin, b.out_channels, b.kernel, b.stride, b.groups_for(cin), b.activation
                        )
                    )
                elif isinstance(b, InvertedResidual):
                    blocks.append(InvertedResidualModule(cin, b))
                elif isinstance(b, (BasicBlock, Bottleneck)):
                    blocks.append(ResidualModule(cin, b))
                elif isinstance(b, Pool):
                    blocks.append(PoolModule(b))
                elif isinstance(b, Dense):
                    blocks.append(DenseModule(shapes[i], b, pool=seen_spatial))
                else:  # pragma: no cover
                    raise TypeError(f"unhandled block {b!r}")
                seen_spatial = seen_spatial or b.spatial
            self.blocks = nn.ModuleList(blocks)
            self.head = Head(spec)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x: Tensor) -> Tensor:
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    _CACHE.update(SpecNet=SpecNet, GlobalAvgPool=GlobalAvgPool)
    return _CACHE
