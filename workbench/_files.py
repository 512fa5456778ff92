"""Writing files so that readers, and other processes writing the same file, never see half one."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from workbench._errors import OutputError
from workbench._host import local_process_dead

__all__ = [
    "atomic_write_text",
    "output_error",
    "remove_dead_temporaries",
    "replace_dir",
    "writing",
]

#: what :func:`_private_name` makes: ``.<name>.<tag>-<pid>-<8 hex digits>``
_PRIVATE = re.compile(r"^\..+\.(?:tmp|new|old)-(\d+)-[0-9a-f]{8}$")


def output_error(path: str | os.PathLike[str], err: OSError, action: str = "write") -> OutputError:
    """An :class:`OutputError` of one line naming ``path`` and the OS error ``err``."""
    name = errno.errorcode.get(err.errno or 0)
    reason = err.strerror or str(err)
    suffix = f" ({name})" if name else ""
    out = OutputError(f"cannot {action} {os.fspath(path)}: {reason}{suffix}")
    out.errno, out.filename = err.errno, os.fspath(path)
    return out


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], action: str = "write") -> Iterator[None]:
    """Raise an OSError from the block as an :class:`OutputError` naming ``path`` (the file or
    folder meant, not a temporary name next to it)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        raise output_error(path, err, action) from err


def _private_name(path: Path, tag: str) -> Path:
    # unique per process and call: two workers of one study write the same outputs at once
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def remove_dead_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and staging folders that writers left in ``folder`` when they
    died mid-write (SIGKILL, out of memory); those of live writers, and of writers this machine
    cannot know, stay. Returns what was removed."""
    d = Path(folder)
    removed = []
    with contextlib.suppress(OSError):  # no folder yet, or unreadable: nothing to tidy
        for p in d.iterdir():
            m = _PRIVATE.match(p.name)
            if m is None or not local_process_dead(int(m.group(1))):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a private temporary file and an atomic rename."""
    p = Path(path)
    with writing(p):
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
    stays (it was built from the same storage) and this one is discarded. An OSError (a full
    disk) leaves ``dest`` as it was and is raised as an :class:`OutputError` naming ``dest``.
    """
    d = Path(dest)
    with writing(d):
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
