"""Writing files so that readers, and other processes writing the same file, never see half one."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write_text", "replace_dir"]


def _private_name(path: Path, tag: str) -> Path:
    # unique per process and call: two workers of one study write the same outputs at once
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a private temporary file and an atomic rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_name(p, "tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def replace_dir(dest: str | os.PathLike[str], build: Callable[[Path], None]) -> Path:
    """Fill a fresh folder with ``build(folder)``, then put it in place of ``dest``.

    The old folder is moved aside before the new one is renamed in, so ``dest`` is never a mix
    of two versions. When another process puts its own ``dest`` in place in between, that one
    stays (it was built from the same storage) and this one is discarded.
    """
    d = Path(dest)
    d.parent.mkdir(parents=True, exist_ok=True)
    staging = _private_name(d, "new")
    staging.mkdir()
    try:
        build(staging)
        old = _private_name(d, "old")
        with contextlib.suppress(FileNotFoundError):
            d.rename(old)
        with contextlib.suppress(OSError):  # another writer's folder arrived first
            staging.rename(d)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return d
