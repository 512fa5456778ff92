"""The study's artifact store: Optuna's file-system store, with writes that cannot be seen
half-done.

A write goes to a private ``.<id>.<pid>.part`` file and is renamed into place when complete,
so a process killed mid-write (SIGKILL, out of memory, a full disk) leaves no artifact at its
final name. Opening the store removes the ``.part`` files of writers that are dead on this
machine (a live writer's file, another process's or another machine's, is left alone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

from optuna.artifacts import FileSystemArtifactStore

from workbench._host import local_process_dead

__all__ = ["AtomicArtifactStore"]

_PART = ".part"


class AtomicArtifactStore(FileSystemArtifactStore):
    """:class:`optuna.artifacts.FileSystemArtifactStore` whose writes are atomic renames."""

    def __init__(self, base_path: str | os.PathLike[str]) -> None:
        super().__init__(Path(base_path))
        self.base_path = Path(base_path)
        self.removed_parts = self._remove_dead_parts()

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        final = self._get_filepath(artifact_id)
        tmp = final.with_name(f".{final.name}.{os.getpid()}{_PART}")
        try:
            with open(tmp, "wb") as f:
                shutil.copyfileobj(content_body, f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _remove_dead_parts(self) -> list[Path]:
        if not self.base_path.is_dir():
            return []
        removed = []
        for part in self.base_path.glob(f".*{_PART}"):
            pid_text = part.name[: -len(_PART)].rsplit(".", 1)[-1]
            if pid_text.isdigit() and local_process_dead(int(pid_text)):
                part.unlink(missing_ok=True)
                removed.append(part)
        return removed
