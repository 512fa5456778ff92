"""Storage access for the server: URLs resolved against the server root, opened storages,
and the study store's reads (:mod:`workbench.study`) with errors named as the panel shows the
storage.

Everything here is blocking (SQLAlchemy, NumPy): handlers call it in an executor, never on the
event loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from workbench._errors import StorageError, UnknownNameError
from workbench.study._cache import LRU, IndexCache
from workbench.study._results import TrialRecord
from workbench.study._store import (
    StudySignature,
    file_identity,
    sqlite_tables,
    study_signature,
    trial_row,
    trial_user_attrs,
)
from workbench.study._summary import StudySummary, list_study_summaries

__all__ = [
    "DEFAULT_STORAGE",
    "LRU",
    "OUTSIDE_ROOT",
    "PROCESS_MIN_TRIALS",
    "EmptyStorage",
    "StorageRef",
    "Storages",
    "file_identity",
    "resolve_storage",
]

#: where ``workbench run`` writes when run in the server's root with no ``--storage``/``--out``
DEFAULT_STORAGE = "sqlite:///runs/workbench.db"
#: studies this large load in the worker process; smaller ones (a fraction of a second) in a thread
PROCESS_MIN_TRIALS = 2000
_SQLITE = "sqlite:///"


class EmptyStorage(StorageError):
    """An SQLite file with no tables yet (a run is creating it, or it was left empty): no
    studies."""


V = TypeVar("V")


@dataclass(frozen=True)
class StorageRef:
    """A storage URL as the server uses it (``url``) and as the panel shows it (``display``)."""

    url: str
    display: str
    sqlite_path: Path | None = None  # the database file, for SQLite URLs

    @property
    def exists(self) -> bool:
        """False only for an SQLite file that is not there yet (nothing has run)."""
        return self.sqlite_path is None or self.sqlite_path.is_file()

    def to_dict(self, root: Path) -> dict[str, Any]:
        rel = None
        if self.sqlite_path is not None:
            try:
                rel = self.sqlite_path.relative_to(root).as_posix()
            except ValueError:
                rel = None
        return {"url": self.display, "sqlite_path": rel, "exists": self.exists}


#: the one refusal for an SQLite file outside the root, whether or not the file exists
OUTSIDE_ROOT = (
    "storage refused: SQLite files outside the server root are not read "
    "(c.WorkbenchServer.allow_storage_outside_root = True allows them)"
)


def resolve_storage(
    url: str | None,
    root: Path,
    default: str | None = None,
    *,
    confine: bool = False,
) -> StorageRef:
    """Resolve ``url`` (or the default) for a server whose root is ``root``.

    The URL is parsed by SQLAlchemy: every SQLite URL, whatever its driver
    (``sqlite+pysqlite:///...``, ``file:`` URIs), becomes ``sqlite:///ABSOLUTE-PATH``; relative
    paths are relative to the root, as for ``workbench run`` started there. In-memory SQLite
    holds no studies and is refused. ``confine``: an SQLite file outside the root is refused
    with :data:`OUTSIDE_ROOT`, decided from the path alone (nothing is looked up on disk that
    would tell whether such a file exists). Passwords never reach the panel (``display`` is
    redacted).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from workbench.study._storage import _redact

    url = (url or "").strip() or (default or "").strip() or DEFAULT_STORAGE
    bad = StorageError(
        f"storage must be a database URL such as {DEFAULT_STORAGE} or postgresql://..., "
        f"got {_redact(url)!r}"
    )
    if "://" not in url or "\0" in url:
        raise bad
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise bad from None
    if parsed.get_backend_name() != "sqlite":
        return StorageRef(url, _redact(url), None)
    path = _sqlite_file(parsed.database, dict(parsed.query))
    if not path.is_absolute():
        path = root / path
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root))
    if confine and not _inside(path, root):
        raise StorageError(OUTSIDE_ROOT)
    path = path.resolve()  # symlinks: where the file really is
    if confine and not _inside(path, root.resolve()):
        raise StorageError(OUTSIDE_ROOT)
    try:
        display = f"{_SQLITE}{path.relative_to(root.resolve()).as_posix()}"
    except ValueError:
        display = f"{_SQLITE}{path}"
    return StorageRef(f"{_SQLITE}{path}", display, path)


def _sqlite_file(database: str | None, query: dict[str, Any]) -> Path:
    """The file an SQLite URL's database names (a ``file:`` URI's path); in memory: refused."""
    from urllib.parse import parse_qs, unquote, urlsplit

    raw = database or ""
    modes = [str(m) for m in _as_list(query.get("mode"))]
    if raw.startswith("file:"):
        uri = urlsplit(raw)
        modes += parse_qs(uri.query).get("mode", [])
        raw = unquote(uri.path)
    if raw in ("", ":memory:") or "memory" in modes:
        raise StorageError(
            "an in-memory SQLite storage holds no studies; give a file, e.g. " + DEFAULT_STORAGE
        )
    return Path(raw).expanduser()


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (tuple, list)) else [v]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class Storages:
    """Opened storages, and study indexes cached by (storage, study) and change signature."""

    def __init__(
        self, index_cache: int = 6, loader: Callable[[str, str, bool], Any] | None = None
    ) -> None:
        self._loader = loader
        self._storages: LRU[tuple[str, Any], Any] = LRU(8)
        self._indexes = IndexCache(index_cache)
        self._open_lock = threading.Lock()

    # -- storages -------------------------------------------------------------------------
    def storage(self, ref: StorageRef) -> Any:
        """The ``RDBStorage`` of ``ref`` (opened once, read-only): a missing SQLite file is not
        created, and no table is added to any database."""
        key = (ref.url, file_identity(ref.url))
        st = self._storages.get(key)
        if st is not None:
            return st
        if not ref.exists:
            raise StorageError(
                f"no study database at {ref.display}: run a study first "
                "(workbench run CONFIG) or pick another storage"
            )
        if ref.sqlite_path is not None:
            _check_optuna_sqlite(ref)
        with self._open_lock:
            st = self._storages.get(key)
            if st is None:
                from workbench.study._storage import _redact, open_storage

                try:
                    st = open_storage(ref.url, heartbeat=False, read_only=True)
                except StorageError as err:  # name the storage as the panel shows it
                    raise StorageError(str(err).replace(_redact(ref.url), ref.display, 1)) from None
                self._storages.put(key, st)
        return st

    def _read(self, ref: StorageRef, fn: Callable[[Any], V]) -> V:
        """``fn(storage)``; database errors become one-line :class:`StorageError`."""
        st = self.storage(ref)
        try:
            return fn(st)
        except (StorageError, UnknownNameError, KeyError):
            raise
        except Exception as err:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
            raise StorageError(f"cannot read storage {ref.display}: {_first_line(err)}") from None

    # -- studies ---------------------------------------------------------------------------
    def studies(
        self, ref: StorageRef, *, running: set[str] | frozenset[str] = frozenset()
    ) -> list[StudySummary]:
        """Every study with its counts, best values and status, most recently active first."""
        return self._read(ref, lambda st: list_study_summaries(st, running=running))

    def study_row(self, ref: StorageRef, name: str) -> StudySummary:
        """One study's name, directions, metric names and attributes (no trial is read)."""
        rows = self._read(ref, lambda st: list_study_summaries(st, counts=False))
        for r in rows:
            if r.name == name:
                return r
        raise UnknownNameError(f"study in {ref.display}", name, [r.name for r in rows])

    def signature(self, ref: StorageRef, study_id: int) -> StudySignature:
        """Changes whenever a trial is added, finishes or changes state: the cache key."""
        return self._read(ref, lambda st: study_signature(st, study_id))

    # -- indexes ---------------------------------------------------------------------------
    def index(self, ref: StorageRef, name: str, *, lean: bool = False) -> tuple[Any, str]:
        """``(StudyIndex, how)``, ``how`` one of ``cache``, ``process`` (the worker) or ``thread``;
        one load per study at a time, reused until a trial changes.

        ``lean``: only what a Pareto plot needs (see :func:`~workbench.study.load_index`), about
        half the time of the full index on a large study.
        """
        row = self.study_row(ref, name)
        st = self.storage(ref)
        how = "cache"

        def load(sig: StudySignature) -> Any:
            nonlocal how
            from workbench.study import load_index

            loader = self._loader
            if (
                sig.n_trials >= PROCESS_MIN_TRIALS
                and loader is not None
                and getattr(loader, "ready", lambda: True)()
            ):
                how = "process"
                return loader(ref.url, name, lean)
            how = "thread"
            return load_index(st, name, lean=lean)

        try:
            index, _ = self._indexes.load(st, name, lean=lean, study_id=row.study_id, loader=load)
        except (StorageError, UnknownNameError):
            raise
        except Exception as err:  # noqa: BLE001 - database and decode errors
            raise StorageError(
                f"cannot read study {name!r} from {ref.display}: {_first_line(err)}"
            ) from None
        return index, how

    def attr_of(
        self, ref: StorageRef, study_id: int, numbers: list[int], key: str
    ) -> dict[int, Any]:
        """One user attribute (e.g. ``arch``) of a few trials, by trial number."""
        got = self._read(ref, lambda st: trial_user_attrs(st, study_id, numbers, [key]))
        return {n: attrs[key] for n, attrs in got.items()}

    def trial_attrs(
        self, ref: StorageRef, study_id: int, number: int
    ) -> tuple[str, list[float] | None, dict[str, Any], dict[str, Any], float | None]:
        """(state, values, params, user attrs, duration s) of one trial, read directly."""
        t: TrialRecord = self._read(ref, lambda st: trial_row(st, study_id, number))
        return t.state, t.values, t.params, t.user_attrs, t.duration_s


def _check_optuna_sqlite(ref: StorageRef) -> None:
    """Refuse, read-only, an SQLite file that is not an Optuna storage yet: opening it with Optuna
    would add Optuna's tables to it. That would change someone else's database, and on a file that
    is still being written (a run creating its storage, a copy in progress) it would interleave
    two writers' pages. The server only ever reads."""
    import sqlite3

    assert ref.sqlite_path is not None
    try:
        tables = sqlite_tables(ref.sqlite_path)
    except sqlite3.Error as err:
        raise StorageError(f"cannot open storage {ref.display}: {err}") from None
    if not tables:
        raise EmptyStorage(
            f"no studies in {ref.display} yet (an empty database): launch a run, or pick another "
            "storage in the settings"
        )
    if not {"studies", "trials"} <= tables:
        raise StorageError(
            f"{ref.display} is an SQLite database but not an Optuna study storage "
            "(no studies table)"
        )


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
