"""The layering is one-way: every import in ``workbench/`` points to its own package or a lower
layer, never between two packages of one layer, and no subpackages import each other in a cycle.

Imports inside functions and ``if TYPE_CHECKING:`` blocks count; relative imports are resolved.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

# The one table: group -> (layer, the top-level names under the package that belong to it).
# "" is the package root (``workbench/__init__.py``).
LAYERS: dict[str, tuple[int, tuple[str, ...]]] = {
    "core": (
        0,
        (
            "",
            "_errors",
            "_schema",
            "_files",
            "_imports",
            "_json",
            "_resources",
            "_version",
            "_host",
            "_tf",
            "_stats",
            "_thresholds",
        ),
    ),
    "arch": (1, ("arch",)),
    "data": (1, ("data",)),
    "quant": (1, ("quant",)),
    "backends": (2, ("backends",)),
    "train": (2, ("train",)),
    "hw": (3, ("hw",)),
    "bench": (4, ("bench",)),
    "calibrate": (5, ("calibrate",)),
    "study": (6, ("study",)),
    "check": (7, ("check",)),
    "report": (8, ("report",)),
    "_api": (9, ("_api",)),
    "widgets": (10, ("widgets",)),
    "server": (10, ("server",)),
    "cli": (10, ("cli", "__main__")),
}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name
    line: int
    imported: str  # dotted module name
    src: str  # group of the importer
    dst: str  # group of the imported module

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package ``__init__``) of every module under ``root/package``."""
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        out[".".join(parts)] = (path, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, known: Mapping) -> list[tuple[int, str]]:
    """(line, imported module) of every import statement in the file, anywhere in it."""
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                # ``from pkg import sub`` imports the module pkg.sub when there is one
                sub = f"{mod}.{a.name}"
                found.append((node.lineno, sub if sub in known else mod))
    return sorted(set(found))


def _group_of(module: str, package: str, layers: Mapping) -> str | None:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for group, (_, names) in layers.items():
        if top in names:
            return group
    return None


def _cycles(edges: Sequence[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one group (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
        graph.setdefault(e.dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def check_layers(root: Path, package: str, layers: Mapping[str, tuple[int, Sequence[str]]]):
    """Every violation of the layering under ``root/package``, one line each."""
    modules = _modules(root, package)
    problems: list[str] = []
    edges: list[Edge] = []
    for name, (path, is_pkg) in modules.items():
        src = _group_of(name, package, layers)
        if src is None:
            problems.append(f"{name}: module in no layer of the table")
            continue
        for line, imported in _imports(name, path, is_pkg, modules):
            if imported != package and not imported.startswith(package + "."):
                continue
            dst = _group_of(imported, package, layers)
            if dst is None:
                problems.append(f"{name}:{line} imports {imported}, which is in no layer")
                continue
            if dst == src:
                continue
            e = Edge(name, line, imported, src, dst)
            edges.append(e)
            if layers[dst][0] > layers[src][0]:
                problems.append(
                    f"{e}: upward, layer {layers[src][0]} ({src}) -> {layers[dst][0]} ({dst})"
                )
            elif layers[dst][0] == layers[src][0]:
                problems.append(f"{e}: between {src} and {dst}, both in layer {layers[src][0]}")
    for comp in _cycles(edges):
        path = _cycle_through(comp[0], set(comp), edges)
        steps = " -> ".join([e.src for e in path] + [comp[0]])
        witness = "; ".join(str(e) for e in path)
        problems.append(f"cycle {steps}: {witness} (strongly connected: {', '.join(comp)})")
    return problems


def _cycle_through(start: str, comp: set[str], edges: Sequence[Edge]) -> list[Edge]:
    """A shortest cycle from ``start`` back to it inside ``comp``, one witness edge a step."""
    first: dict[tuple[str, str], Edge] = {}
    for e in edges:
        if e.src in comp and e.dst in comp:
            first.setdefault((e.src, e.dst), e)
    came: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for v in frontier:
            for (a, b), e in sorted(first.items()):
                if a != v or b in came:
                    continue
                came[b] = e
                if b == start:
                    path = [e]
                    while path[0].src != start:
                        path.insert(0, came[path[0].src])
                    return path
                nxt.append(b)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component of two or more has one


def test_workbench_imports_point_down_only():
    problems = check_layers(REPO, "workbench", LAYERS)
    assert not problems, "\n".join(problems)


def test_the_checker_reports_an_upward_import_a_same_layer_import_and_a_cycle(tmp_path):
    def write(rel: str, text: str) -> None:
        p = tmp_path / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))

    write("__init__.py", "")
    write("_core.py", "import os\n")
    write("low/__init__.py", "from pkg._core import os\n")
    write(
        "low/_a.py",
        """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from pkg.side import thing


        def f():
            from ..high import g
            return g
        """,
    )
    write("side/__init__.py", "thing = 1\n")
    write("high/__init__.py", "from .. import low\n\ng = 1\n")
    layers = {
        "core": (0, ("", "_core")),
        "low": (1, ("low",)),
        "side": (1, ("side",)),
        "high": (2, ("high",)),
    }
    problems = check_layers(tmp_path, "pkg", layers)
    assert any(p.startswith("pkg.low._a:8 imports pkg.high: upward") for p in problems), problems
    assert any(p.startswith("pkg.low._a:4 imports pkg.side: between") for p in problems), problems
    cycles = [p for p in problems if p.startswith("cycle high -> low -> high:")]
    assert len(cycles) == 1, problems
    assert "pkg.high:1 imports pkg.low" in cycles[0]
    assert "pkg.low._a:8 imports pkg.high" in cycles[0]
    assert len(problems) == 3, problems
    # the same tree without the upward and same-layer imports is clean
    write("low/_a.py", "from pkg._core import os\n")
    assert check_layers(tmp_path, "pkg", layers) == []
