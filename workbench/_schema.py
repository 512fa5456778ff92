"""Declarative validation of YAML/dict configs with one-line errors.

A config section is read through a :class:`Reader`, which takes each key with a check, fills
defaults, converts types, and refuses unknown keys by listing the known ones. Errors name the
file and line (when the data came from YAML), the dotted field and what was expected::

    search/bad.yaml:7: train.epochs: expected an integer >= 1, got 'three'
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError

__all__ = [
    "REQUIRED",
    "Bool",
    "Check",
    "Choice",
    "Float",
    "Int",
    "ListOf",
    "Optional",
    "Reader",
    "SourceMap",
    "Str",
    "load_yaml",
    "parse_yaml",
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Check:
    """Converts and validates one value; raises ``ConfigError`` (without location) when bad."""

    expected: str = "a value"

    def __call__(self, value: object) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def fail(self, value: object) -> ConfigError:
        return ConfigError(f"expected {self.expected}, got {_show(value)}")


@dataclass(frozen=True)
class Int(Check):
    min: int | None = None
    max: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.min is not None and self.max is not None:
            return f"an integer in [{self.min}, {self.max}]"
        if self.min is not None:
            return f"an integer >= {self.min}"
        if self.max is not None:
            return f"an integer <= {self.max}"
        return "an integer"

    def __call__(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(value)
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            raise self.fail(value)
        return int(value)


@dataclass(frozen=True)
class Float(Check):
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        lo = "(" if self.min_exclusive else "["
        if self.min is not None and self.max is not None:
            return f"a number in {lo}{self.min}, {self.max}]"
        if self.min is not None:
            return f"a number {'>' if self.min_exclusive else '>='} {self.min}"
        if self.max is not None:
            return f"a number <= {self.max}"
        return "a number"

    def __call__(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(value)
        value = float(value)
        if math.isnan(value):
            raise self.fail(value)
        if self.min is not None and (
            value < self.min or (self.min_exclusive and value == self.min)
        ):
            raise self.fail(value)
        if self.max is not None and value > self.max:
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Str(Check):
    nonempty: bool = True
    expected: str = "a non-empty string"

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Bool(Check):
    expected: str = "true or false"

    def __call__(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Choice(Check):
    choices: tuple[str, ...] = ()

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.choices)

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class ListOf(Check):
    item: Check = Str()
    min_len: int = 0

    @property
    def expected(self) -> str:  # type: ignore[override]
        least = f"at least {self.min_len} of " if self.min_len else ""
        return f"a list of {least}{self.item.expected}"

    def __call__(self, value: object) -> tuple[Any, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise self.fail(value)
        if len(value) < self.min_len:
            raise self.fail(value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item(item))
            except ConfigError as err:
                raise ConfigError(err.message, field=f"[{i}]") from None
        return tuple(out)


@dataclass(frozen=True)
class Optional(Check):
    inner: Check = Str()

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.inner.expected} or null"

    def __call__(self, value: object) -> Any:
        return None if value is None else self.inner(value)


@dataclass(frozen=True)
class Func(Check):
    """A check given as a function that returns the converted value or raises ValueError."""

    func: Callable[[Any], Any] = lambda v: v
    expected: str = "a value"

    def __call__(self, value: object) -> Any:
        try:
            return self.func(value)
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            detail = str(err)
            raise ConfigError(
                f"expected {self.expected}, got {_show(value)}" + (f" ({detail})" if detail else "")
            ) from None


class SourceMap:
    """Where each dotted field of a YAML document was written: file and line."""

    def __init__(self, path: str | None = None, lines: dict[str, int] | None = None) -> None:
        self.path = path
        self.lines = lines or {}

    def where(self, field: str) -> str | None:
        if self.path is None:
            return None
        probe = field
        while probe:
            if probe in self.lines:
                return f"{self.path}:{self.lines[probe]}"
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        return self.path


def _child(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


#: bounds on a YAML document (configs and profiles are a few KB): size, nesting, nodes after
#: aliases are expanded (a "billion laughs" document stays small on disk only)
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000


def load_yaml(path: str | os.PathLike[str], *, display: str | None = None) -> tuple[Any, SourceMap]:
    """Load a YAML file, returning its data and a map of field -> line for error messages.

    Bounded: at most :data:`MAX_YAML_BYTES`, nested at most :data:`MAX_YAML_DEPTH` deep, at most
    :data:`MAX_YAML_NODES` nodes with aliases expanded, no recursive alias, no duplicate key;
    text only (UTF-8). Anything else is a one-line :class:`ConfigError`.
    """
    p = Path(path)
    name = display or str(path)
    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"file too large for a config ({size:,} bytes; at most {MAX_YAML_BYTES:,})",
                location=name,
            )
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", location=name) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a YAML file", location=name) from None
    except OSError as err:
        raise ConfigError(f"cannot read file ({err.strerror})", location=name) from None
    return parse_yaml(raw, name)


def parse_yaml(raw: bytes | str, name: str = "<text>") -> tuple[Any, SourceMap]:
    """Parse YAML text (bytes must be UTF-8) within the bounds :func:`load_yaml` states."""
    import yaml

    if isinstance(raw, bytes):
        if len(raw) > MAX_YAML_BYTES:
            raise ConfigError(
                f"too large for a config ({len(raw):,} bytes; at most {MAX_YAML_BYTES:,})",
                location=name,
            )
        if b"\x00" in raw:
            raise ConfigError("not a text file (it holds NUL bytes): expected YAML", location=name)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"not UTF-8 text (byte {err.start}): expected a YAML file", location=name
            ) from None
    else:
        text = raw
    try:
        _check_depth(yaml.parse(text, Loader=yaml.SafeLoader), name)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed YAML: {problem}", location=where) from None
    if node is None:
        return None, SourceMap(name, {})
    lines = _check_graph(node, name)
    try:
        data = yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed YAML: {problem}", location=where) from None
    return data, SourceMap(name, lines)


def _check_depth(events: Any, name: str) -> None:
    """Refuse nesting deeper than :data:`MAX_YAML_DEPTH` from the event stream (which is read
    without recursion, unlike composing the node tree)."""
    import yaml

    depth = 0
    for ev in events:
        if isinstance(ev, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = ev.start_mark.line + 1 if ev.start_mark else "?"
                raise ConfigError(
                    f"nested more than {MAX_YAML_DEPTH} levels deep", location=f"{name}:{line}"
                )
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1


def _check_graph(root: Any, name: str) -> dict[str, int]:
    """Walk the composed nodes without recursion: field -> line, refusing a recursive alias, a
    duplicate key, and more than :data:`MAX_YAML_NODES` nodes once aliases are expanded."""
    import yaml

    lines: dict[str, int] = {}
    expanded = 0
    # (node, field, ids of the collections above it)
    stack: list[tuple[Any, str, frozenset[int]]] = [(root, "", frozenset())]
    while stack:
        node, prefix, above = stack.pop()
        expanded += 1
        if expanded > MAX_YAML_NODES:
            raise ConfigError(
                f"more than {MAX_YAML_NODES:,} values once its aliases are expanded",
                location=name,
            )
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            continue
        if id(node) in above:
            raise ConfigError(
                "a recursive alias (a value that contains itself)",
                location=f"{name}:{node.start_mark.line + 1}",
            )
        inner = above | {id(node)}
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key in seen and key != "<<":
                    raise ConfigError(
                        f"duplicate key {key!r} (also on line {seen[key]})",
                        location=f"{name}:{line}",
                    )
                seen[key] = line
                field = _child(prefix, key)
                lines.setdefault(field, line)
                stack.append((value_node, field, inner))
        else:
            for i, item in enumerate(node.value):
                field = _child(prefix, i)
                lines.setdefault(field, item.start_mark.line + 1)
                stack.append((item, field, inner))
    return lines


class Reader:
    """Reads one mapping section with checks; call :meth:`finish` to refuse unknown keys."""

    def __init__(
        self,
        data: object,
        *,
        field: str = "",
        source: SourceMap | None = None,
        what: str = "a mapping",
    ) -> None:
        self.field = field
        self.source = source or SourceMap()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise self.error(f"expected {what}, got {_show(data)}")
        self.data: Mapping[str, Any] = data
        self._taken: set[str] = set()

    def error(self, message: str, key: str | int | None = None) -> ConfigError:
        field = _child(self.field, key) if key is not None else self.field
        return ConfigError(message, field=field or None, location=self.source.where(field))

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, check: Check, default: object = REQUIRED) -> Any:
        self._taken.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.error(f"missing; expected {check.expected}", key)
            return default
        try:
            return check(self.data[key])
        except ConfigError as err:
            sub = _child(self.field, key)
            if err.field:
                sub = sub + (err.field if err.field.startswith("[") else "." + err.field)
            raise ConfigError(err.message, field=sub, location=self.source.where(sub)) from None

    def raw(self, key: str, default: object = REQUIRED) -> Any:
        self._taken.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.error("missing", key)
            return default
        return self.data[key]

    def section(self, key: str, *, what: str = "a mapping") -> Reader:
        self._taken.add(key)
        return Reader(
            self.data.get(key), field=_child(self.field, key), source=self.source, what=what
        )

    def sub(self, key: str | int, data: object, *, what: str = "a mapping") -> Reader:
        return Reader(data, field=_child(self.field, key), source=self.source, what=what)

    def finish(self, *, extra_known: Sequence[str] = ()) -> None:
        unknown = [k for k in self.data if k not in self._taken]
        if unknown:
            known = sorted(self._taken | set(extra_known))
            key = unknown[0]
            raise self.error(f"unknown key; expected one of: {', '.join(known)}", str(key))
