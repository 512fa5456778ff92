"""Runtime footprint: the installed size of the packages a deployment needs, from their metadata.

Users of deployment tools compare what a target must install: the LiteRT interpreter
(``ai-edge-litert``) or ONNX Runtime against the full framework (``tensorflow``, ``torch``).
Sizes are the sum of the files each distribution's ``RECORD`` lists (as installed here, for
this platform), with and without the distributions it requires, walked transitively.
Computed once per process; no package is imported.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.backends._base import Backend

__all__ = ["FRAMEWORK_PACKAGES", "footprint_of", "installed_size", "runtime_footprint"]

#: the framework packages a model of each framework needs before any deployment
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "keras": ("tensorflow", "tensorflow-cpu", "keras"),
    "onnx": ("onnx",),
}

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _dist(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def installed_size(name: str) -> int | None:
    """Bytes on disk of the files distribution ``name`` installed (None when not installed)."""
    dist = _dist(name)
    if dist is None:
        return None
    total = 0
    for f in dist.files or ():
        try:
            p = Path(str(dist.locate_file(f)))
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            continue
    return total


def _requirements(name: str) -> list[str]:
    dist = _dist(name)
    out = []
    for req in (dist.requires or []) if dist is not None else []:
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue  # optional extras are not needed to run
        if ";" in req:
            try:  # markers such as python_version and sys_platform
                from packaging.markers import Marker

                if not Marker(req.split(";", 1)[1]).evaluate():
                    continue
            except Exception:  # noqa: BLE001 - no packaging, or an odd marker: count the requirement
                pass
        m = _REQ_NAME.match(req)
        if m:
            out.append(_norm(m.group(1)))
    return out


@functools.cache
def _closure(name: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    stack = [_norm(name)]
    while stack:
        n = stack.pop()
        if n in seen or _dist(n) is None:
            continue
        seen[n] = None
        stack.extend(_requirements(n))
    return tuple(seen)


@functools.cache
def footprint_of(packages: tuple[str, ...]) -> dict[str, Any] | None:
    """Installed size of the installed ``packages`` (alternatives absent here are skipped)."""
    present = [p for p in packages if _dist(p) is not None]
    if not present:
        return None
    own = {p: installed_size(p) or 0 for p in present}
    deps: dict[str, None] = {}
    for p in present:
        deps.update(dict.fromkeys(_closure(p)))
    with_deps = sum(installed_size(d) or 0 for d in deps)
    names = " + ".join(f"{p} {_dist(p).version}" for p in present)  # type: ignore[union-attr]
    return {
        "packages": {p: {"version": _dist(p).version, "bytes": own[p]} for p in present},  # type: ignore[union-attr]
        "bytes": sum(own.values()),
        "with_dependencies_bytes": with_deps,
        "dependencies": sorted(d for d in deps if d not in {_norm(p) for p in present}),
        "label": f"installed size of {names}",
    }


def runtime_footprint(backend: Backend, framework: str) -> dict[str, Any]:
    """The runtime a deployment needs (its backend's packages) beside the framework's."""
    return {
        "runtime": footprint_of(tuple(backend.runtime_packages)),
        "framework": footprint_of(FRAMEWORK_PACKAGES.get(framework, ())),
        "method": (
            "sum of the sizes of the files each distribution's RECORD lists, as installed on this "
            "host; with_dependencies adds every installed distribution it requires, transitively "
            "(extras excluded)"
        ),
    }
