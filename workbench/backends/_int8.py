"""Choosing int8 settings by the accuracy of the result: what the int8 backends share.

Schemes are tried in order; the first whose artifact keeps validation accuracy within
``max_drop`` of the float model's is kept. When none does, the most accurate one is kept and
marked as outside the tolerance. Every attempt (scheme, time, accuracy or error) is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from workbench._errors import DeploymentError

__all__ = ["Int8Choice", "choose_int8"]

_Scheme = TypeVar("_Scheme")


@dataclass
class Int8Choice:
    scheme: dict[str, Any]  # the kept attempt's scheme, as recorded
    tries: list[dict[str, Any]]
    within_tolerance: bool


def choose_int8(
    schemes: Sequence[_Scheme],
    out: Path,
    *,
    build: Callable[[_Scheme, Path], object],
    accuracy: Callable[[Path], float] | None,
    reference: float | None,
    max_drop: float,
    describe: Callable[[_Scheme], dict[str, Any]],
    catch: tuple[type[Exception], ...] = (Exception,),
    error_text: Callable[[Exception], str] = str,
    give_up: Callable[[Exception], bool] = lambda _err: False,
    reraise_lone: bool = False,
) -> Int8Choice:
    """Build ``out`` with each scheme in turn (``build(scheme, path)``) and keep the right one.

    Attempts after the first are written beside ``out`` and the kept one is moved to ``out``;
    the others are deleted. ``give_up(err)`` stops after a failure no other scheme can avoid.
    When every attempt fails, their errors are joined into one :class:`DeploymentError`; with
    ``reraise_lone``, a single failure that is already one is raised as it is.
    """
    tries: list[dict[str, Any]] = []
    failures: list[Exception] = []
    chosen: dict[str, Any] | None = None
    for i, scheme in enumerate(schemes):
        candidate = out if i == 0 else out.with_name(f"{out.stem}.try{i}{out.suffix}")
        start = time.perf_counter()
        try:
            build(scheme, candidate)
        except catch as err:
            tries.append({"scheme": describe(scheme), "error": error_text(err)})
            failures.append(err)
            if give_up(err):
                break
            continue
        record: dict[str, Any] = {
            "scheme": describe(scheme),
            "quantize_s": round(time.perf_counter() - start, 3),
            "path": candidate,
        }
        if accuracy is not None:
            record["val_accuracy"] = accuracy(candidate)
        tries.append(record)
        if (
            "val_accuracy" not in record
            or reference is None
            or reference - record["val_accuracy"] <= max_drop
        ):
            chosen = record
            break
    good = [t for t in tries if "path" in t]
    if not good:
        if reraise_lone and len(failures) == 1 and isinstance(failures[0], DeploymentError):
            raise failures[0]
        raise DeploymentError(
            "quantize", "; ".join(f"{t['scheme']['label']}: {t['error']}" for t in tries)
        )
    within = chosen is not None
    if chosen is None:  # none within tolerance: keep the most accurate, and say so
        chosen = max(good, key=lambda t: t.get("val_accuracy", -1.0))
    final = Path(chosen["path"])
    if final != out:
        final.replace(out)
    for t in good:
        p = Path(t.pop("path"))
        if p != out and p.exists():
            p.unlink()
    return Int8Choice(chosen["scheme"], tries, within)
