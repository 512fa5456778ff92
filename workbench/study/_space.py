"""Search spaces: YAML families compiled to Optuna define-by-run functions, or user callables.

A YAML value is fixed when scalar, categorical when a list, and a range when a mapping
``{min, max[, step][, log]}`` (integer when both ends are integers). Per-stage and per-layer
parameters are sampled for every stage up to the maximum, so the space is the same for every
trial (NSGA-II's crossover needs that); a stage of depth 0 is simply absent.

Custom spaces are Python callables named ``package.module:function`` taking ``(trial)`` or
``(trial, task)`` (``task.input_shape``, ``task.num_classes``) and returning an ArchSpec.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._errors import ConfigError
from workbench._schema import Reader
from workbench.arch import (
    ACTIVATIONS,
    ArchSpec,
    BasicBlock,
    Block,
    Bottleneck,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
)

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

    from workbench._schema import Func, Int

__all__ = ["FAMILIES", "Param", "SearchSpace", "Task", "compile_space"]

FAMILIES = ("mlp", "mobilenet", "resnet")


@dataclass(frozen=True)
class Task:
    """What a search space may depend on: the data's input shape and class count."""

    input_shape: tuple[int, ...]
    num_classes: int


@dataclass(frozen=True)
class Param:
    """One searchable value: fixed, categorical, or an int/float range."""

    kind: str  # fixed | choice | int | float
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False

    def sample(self, trial: BaseTrial, name: str) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(
            name, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def values(self) -> list[Any]:
        """Every value this parameter can take (ranges: the ends), for static checks."""
        if self.kind == "fixed":
            return [self.value]
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def to_yaml(self) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return list(self.choices)
        d: dict[str, Any] = {"min": self.low, "max": self.high}
        if self.step is not None:
            d["step"] = self.step
        if self.log:
            d["log"] = True
        return d


def _param(
    r: Reader,
    key: str,
    default: Any,
    *,
    kind: type,
    lo: float | None = None,
    hi: float | None = None,
    options: tuple[Any, ...] | None = None,
) -> Param:
    """Read a parameter spec and check every value it can produce."""
    raw = r.raw(key, default)

    def check(v: Any) -> Any:
        if options is not None:
            if v not in options:
                raise r.error(
                    f"expected values among {', '.join(map(str, options))}, got {v!r}", key
                )
            return v
        if kind is bool:
            if not isinstance(v, bool):
                raise r.error(f"expected true or false, got {v!r}", key)
            return v
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (kind is int and not float(v).is_integer())
        ):
            raise r.error(f"expected {'integers' if kind is int else 'numbers'}, got {v!r}", key)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise r.error(f"expected values in {rng}, got {v!r}", key)
        return int(v) if kind is int else float(v)

    if isinstance(raw, list):
        if not raw:
            raise r.error("expected a non-empty list of choices", key)
        return Param("choice", choices=tuple(check(v) for v in raw))
    if isinstance(raw, Mapping):
        extra = set(raw) - {"min", "max", "step", "log"}
        if extra:
            raise r.error(
                f"unknown range key {sorted(extra)[0]!r}; expected min, max, step, log", key
            )
        if "min" not in raw or "max" not in raw:
            raise r.error("a range needs min and max", key)
        if options is not None or kind is bool:
            raise r.error("expected a value or a list of choices, not a range", key)
        low, high = check(raw["min"]), check(raw["max"])
        if low > high:
            raise r.error(f"min ({low}) is greater than max ({high})", key)
        step = raw.get("step")
        log = bool(raw.get("log", False))
        is_int = kind is int or (
            isinstance(raw["min"], int)
            and isinstance(raw["max"], int)
            and not isinstance(step, float)
        )
        if log and low <= 0:
            raise r.error("a log range needs min > 0", key)
        return Param("int" if is_int else "float", low=low, high=high, step=step, log=log)
    return Param("fixed", value=check(raw))


class SearchSpace:
    """A define-by-run function ``trial -> ArchSpec`` with a description."""

    def __init__(
        self,
        fn: Callable[[BaseTrial], ArchSpec],
        *,
        description: str,
        definition: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.description = description
        self.definition = definition

    def __call__(self, trial: BaseTrial) -> ArchSpec:
        spec = self.fn(trial)
        if not isinstance(spec, ArchSpec):
            raise ConfigError(
                f"search space {self.description} returned {type(spec).__name__}, expected an "
                "ArchSpec"
            )
        return spec


def compile_space(
    r: Reader, task: Task, *, base_dir: Path | None = None, import_code: bool = True
) -> SearchSpace:
    """Compile the ``space:`` section of a study config for ``task``.

    ``import_code=False``: a ``callable:`` space is checked by form only; its module is
    imported when the space is first called (in the process that runs the trials).
    """
    if r.has("callable"):
        target = r.get("callable", _target_check())
        r.finish()
        if not import_code:
            loaded: list[SearchSpace] = []

            def first_import(trial: BaseTrial) -> ArchSpec:
                if not loaded:
                    loaded.append(_callable_space(target, task, base_dir, r))
                return loaded[0](trial)

            return SearchSpace(first_import, description=target, definition={"callable": target})
        return _callable_space(target, task, base_dir, r)
    family = r.raw("family")
    if family not in FAMILIES:
        raise r.error(
            f"expected one of {', '.join(FAMILIES)} (or 'callable: module:function'), got "
            f"{family!r}",
            "family",
        )
    builder = {"mlp": _mlp_space, "mobilenet": _mobilenet_space, "resnet": _resnet_space}[family]
    space = builder(r, task)
    r.finish()
    return space


#: ``package.module:function``: dotted Python names, one attribute
_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def _target_check() -> Func:
    from workbench._schema import Func

    def convert(v: object) -> str:
        if not isinstance(v, str) or not _TARGET.fullmatch(v):
            raise ValueError("write it as package.module:function")
        return v

    return Func(convert, expected="'package.module:function'")


def _callable_space(target: str, task: Task, base_dir: Path | None, r: Reader) -> SearchSpace:
    module_name, _, attr = target.partition(":")
    added: list[str] = []
    for folder in (base_dir, Path.cwd()):
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
            added.append(str(folder))
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError) as err:
        raise r.error(f"cannot import {target!r}: {err}", "callable") from None
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)
    if not callable(fn):
        raise r.error(f"{target!r} is not callable", "callable")
    try:
        n_args = len([p for p in inspect.signature(fn).parameters.values() if p.default is p.empty])
    except (TypeError, ValueError):
        n_args = 1
    call = (lambda trial: fn(trial, task)) if n_args >= 2 else fn
    return SearchSpace(call, description=target, definition={"callable": target})


# -- families -------------------------------------------------------------------------------
def _common_head(r: Reader) -> tuple[Param, Param]:
    return (
        _param(r, "head_dropout", 0.0, kind=float, lo=0.0, hi=0.9),
        _param(r, "activation", None, kind=str, options=ACTIVATIONS)
        if r.has("activation")
        else Param("fixed", None),
    )


def _mlp_space(r: Reader, task: Task) -> SearchSpace:
    layers = _param(r, "layers", {"min": 1, "max": 3}, kind=int, lo=0, hi=64)
    units = _param(r, "units", [32, 64, 128, 256], kind=int, lo=1)
    dropout = _param(r, "dropout", 0.0, kind=float, lo=0.0, hi=0.9)
    batchnorm = _param(r, "batchnorm", False, kind=bool)
    head_dropout, act = _common_head(r)
    max_layers = int(max(layers.values()))
    activation = act if act.value is not None or act.kind != "fixed" else Param("fixed", "relu")

    def fn(trial: BaseTrial) -> ArchSpec:
        n = layers.sample(trial, "layers")
        a = activation.sample(trial, "activation")
        bn = batchnorm.sample(trial, "batchnorm")
        blocks = []
        for i in range(max_layers):
            u = units.sample(trial, f"layer{i + 1}.units")
            d = dropout.sample(trial, f"layer{i + 1}.dropout")
            if i < n:
                blocks.append(Dense(units=u, activation=a, dropout=d, batchnorm=bn))
        return ArchSpec(
            task.input_shape,
            task.num_classes,
            tuple(blocks),
            head_dropout.sample(trial, "head_dropout"),
            family="mlp",
        )

    return SearchSpace(fn, description="mlp", definition=r.data)


def _stage_reader(r: Reader) -> int:
    stages = r.get("stages", _int_check(1, 12), 3)
    return stages


def _int_check(lo: int, hi: int) -> Int:
    from workbench._schema import Int

    return Int(min=lo, max=hi)


def _mobilenet_space(r: Reader, task: Task) -> SearchSpace:
    if len(task.input_shape) != 3:
        raise r.error(
            "the mobilenet family needs image input (C, H, W); the data has shape "
            f"{task.input_shape}",
            "family",
        )
    stem = _param(r, "stem_channels", [8, 16, 24], kind=int, lo=1)
    stem_stride = _param(r, "stem_stride", 1, kind=int, lo=1, hi=4)
    n_stages = _stage_reader(r)
    depth = _param(r, "depth", {"min": 1, "max": 3}, kind=int, lo=0, hi=16)
    width = _param(r, "width", [16, 24, 32, 48], kind=int, lo=1)
    kernel = _param(r, "kernel", [3, 5], kind=int, options=(1, 3, 5, 7, 9))
    expansion = _param(r, "expansion", [1, 3, 6], kind=int, lo=1, hi=12)
    stride = _param(r, "stride", [1, 2], kind=int, lo=1, hi=4)
    last = _param(r, "last_channels", 0, kind=int, lo=0)
    head_dropout, act = _common_head(r)
    activation = act if act.kind != "fixed" or act.value is not None else Param("fixed", "relu6")

    def fn(trial: BaseTrial) -> ArchSpec:
        a = activation.sample(trial, "activation")
        blocks: list[Block] = [
            ConvBN(
                stem.sample(trial, "stem_channels"),
                3,
                stem_stride.sample(trial, "stem_stride"),
                activation=a,
            )
        ]
        for i in range(n_stages):
            p = f"stage{i + 1}"
            d = depth.sample(trial, f"{p}.depth")
            w = width.sample(trial, f"{p}.width")
            k = kernel.sample(trial, f"{p}.kernel")
            t = expansion.sample(trial, f"{p}.expansion")
            s = stride.sample(trial, f"{p}.stride")
            if i == 0:
                d = max(d, 1)  # at least one block after the stem
            for j in range(d):
                blocks.append(InvertedResidual(w, t, k, s if j == 0 else 1, activation=a))
        lc = last.sample(trial, "last_channels")
        if lc:
            blocks.append(ConvBN(lc, 1, 1, activation=a))
        return ArchSpec(
            task.input_shape,
            task.num_classes,
            tuple(blocks),
            head_dropout.sample(trial, "head_dropout"),
            family="mobilenet",
        )

    return SearchSpace(fn, description="mobilenet", definition=r.data)


def _resnet_space(r: Reader, task: Task) -> SearchSpace:
    if len(task.input_shape) != 3:
        raise r.error(
            f"the resnet family needs image input (C, H, W); the data has shape {task.input_shape}",
            "family",
        )
    block = _param(r, "block", ["basic"], kind=str, options=("basic", "bottleneck"))
    stem = _param(r, "stem_channels", [16, 32], kind=int, lo=1)
    stem_kernel = _param(r, "stem_kernel", 3, kind=int, options=(1, 3, 5, 7))
    stem_stride = _param(r, "stem_stride", 1, kind=int, lo=1, hi=4)
    stem_pool = _param(r, "stem_pool", False, kind=bool)
    n_stages = _stage_reader(r)
    depth = _param(r, "depth", {"min": 1, "max": 2}, kind=int, lo=0, hi=16)
    width = _param(r, "width", [16, 32, 64], kind=int, lo=1)
    stride = _param(r, "stride", 2, kind=int, lo=1, hi=4)
    head_dropout, _ = _common_head(r)

    def fn(trial: BaseTrial) -> ArchSpec:
        kind = block.sample(trial, "block")
        blocks: list[Block] = [
            ConvBN(
                stem.sample(trial, "stem_channels"),
                stem_kernel.sample(trial, "stem_kernel"),
                stem_stride.sample(trial, "stem_stride"),
                activation="relu",
            )
        ]
        if stem_pool.sample(trial, "stem_pool"):
            blocks.append(Pool("max", 3, 2))
        for i in range(n_stages):
            p = f"stage{i + 1}"
            d = depth.sample(trial, f"{p}.depth")
            w = width.sample(trial, f"{p}.width")
            s = stride.sample(trial, f"{p}.stride") if i > 0 else 1
            if i == 0:
                d = max(d, 1)
            for j in range(d):
                st = s if j == 0 else 1
                blocks.append(
                    BasicBlock(w, st) if kind == "basic" else Bottleneck(max(1, w // 4), st)
                )
        return ArchSpec(
            task.input_shape,
            task.num_classes,
            tuple(blocks),
            head_dropout.sample(trial, "head_dropout"),
            family="resnet",
        )

    return SearchSpace(fn, description="resnet", definition=r.data)
