"""Study indexes loaded in a separate process.

Parsing a large study's JSON attributes is one long C call that holds the GIL; in a thread it
would pause the whole Jupyter server for that long. A worker process loads the index and sends
it back pickled (a few megabytes for 10,000 trials, milliseconds to transfer), so the server's
event loop never waits on it.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["IndexLoader", "shared_loader"]

_STORAGES: dict[tuple[str, Any], Any] = {}
_WORKERS = 1


def _warm(url: str | None) -> None:
    """Import the heavy modules (and open the default storage) before the first request needs
    them."""
    import optuna  # noqa: F401
    import sqlalchemy  # noqa: F401

    import workbench.study  # noqa: F401

    if url and _file_identity(url) is not None:
        from workbench.study._storage import open_storage

        _STORAGES[(url, _file_identity(url))] = open_storage(url, heartbeat=False, read_only=True)


def _load(url: str, name: str, lean: bool) -> Any:
    from workbench._errors import StorageError
    from workbench.study import load_index
    from workbench.study._storage import open_storage

    try:
        key = (url, _file_identity(url))
        st = _STORAGES.get(key)
        if st is None:
            if len(_STORAGES) >= 8:
                _STORAGES.clear()
            st = _STORAGES[key] = open_storage(url, heartbeat=False, read_only=True)
        return load_index(st, name, lean=lean)
    except Exception as err:  # noqa: BLE001 - sent back as one picklable, readable error
        text = str(getattr(err, "orig", None) or err).strip()
        raise StorageError(
            f"cannot read study {name!r}: {text.splitlines()[0] if text else type(err).__name__}"
        ) from None


def _file_identity(url: str) -> Any:
    """A replaced SQLite file (deleted and made again) must not be read through an old
    connection."""
    from workbench.study import file_identity

    return file_identity(url)


class IndexLoader:
    """``loader(url, name, lean) -> StudyIndex`` run in a spawned worker process, started by
    :meth:`warm` when the panel first lists studies (not at server start: a JupyterLab that never
    opens the panel pays nothing). If the worker dies the next call starts a new one."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._warming: list[Future[None]] = []

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the server has threads, and a forked copy of them can deadlock
                self._pool = ProcessPoolExecutor(
                    max_workers=_WORKERS, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def warm(self, url: str | None = None) -> None:
        """Start the worker now (and open ``url`` there when it is an existing SQLite file)."""
        if self._warming:
            return
        pool = self._executor()
        self._warming = [pool.submit(_warm, url) for _ in range(_WORKERS)]

    def ready(self) -> bool:
        """False until the worker has started (its first imports take seconds): callers load in a
        thread meanwhile rather than wait."""
        return bool(self._warming) and all(f.done() for f in self._warming)

    def __call__(self, url: str, name: str, lean: bool = False) -> Any:
        try:
            return self._executor().submit(_load, url, name, lean).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return self._executor().submit(_load, url, name, lean).result()

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


_SHARED: IndexLoader | None = None
_SHARED_LOCK = threading.Lock()


def shared_loader() -> IndexLoader:
    """The process's one loader: every server in this process uses the same worker."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            import atexit

            _SHARED = IndexLoader()
            atexit.register(_SHARED.shutdown)
        return _SHARED
