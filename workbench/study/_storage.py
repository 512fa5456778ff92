"""The Optuna storage is the one database: an SQLite file by default, any SQLAlchemy URL
otherwise."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from workbench._errors import StorageError

__all__ = ["list_studies", "open_storage", "open_study"]

HEARTBEAT_S = 30
GRACE_S = 120


def open_storage(url: str, *, heartbeat: bool = True, read_only: bool = False) -> Any:
    """An ``RDBStorage`` for ``url`` with heartbeats, so trials of a crashed worker are failed
    (and not counted as finished) when the study is next opened. SQLite parent folders are
    created.

    ``read_only``: no table is created, and an SQLite file (``sqlite:///PATH``) is opened by
    SQLite in read-only mode, so the file is never created or changed; a storage that is not an
    Optuna storage yet fails to open instead.
    """
    if read_only:
        return _open(url, heartbeat, _read_only_engine_kwargs(url), skip_table_creation=True)
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///") :])
        if str(db) not in ("", ":memory:"):
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StorageError(f"cannot create the folder for {url}: {err.strerror}") from None
    return _open(url, heartbeat, _engine_kwargs(url))


def _open(url: str, heartbeat: bool, engine_kwargs: dict[str, Any], **more: Any) -> Any:
    import optuna
    from optuna.exceptions import ExperimentalWarning

    kwargs: dict[str, Any] = dict(more)
    if heartbeat:
        kwargs.update(heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StorageError(f"cannot open storage {_redact(url)}: {msg}") from None


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # wait for a writer holding the lock instead of failing at once (several workers)
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _read_only_engine_kwargs(url: str) -> dict[str, Any]:
    if not url.startswith("sqlite:///"):
        return _engine_kwargs(url)
    import sqlite3
    from urllib.parse import quote

    uri = f"file:{quote(url[len('sqlite:///') :])}?mode=ro"

    def connect() -> sqlite3.Connection:
        # SQLite itself refuses to create or write the file
        return sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)

    return {"creator": connect}


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def open_study(name: str, storage: str | Any) -> Any:
    """Load an existing study by name; unknown names list the studies that exist."""
    import optuna

    st = open_storage(storage, heartbeat=False) if isinstance(storage, str) else storage
    names = [
        s.study_name for s in optuna.study.get_all_study_summaries(st, include_best_trial=False)
    ]
    if name not in names:
        from workbench._errors import UnknownNameError

        where = _redact(storage) if isinstance(storage, str) else "the storage"
        raise UnknownNameError(f"study in {where}", name, names)
    return optuna.load_study(study_name=name, storage=st)


def list_studies(storage: str | Any) -> list[Any]:
    import optuna

    st = open_storage(storage, heartbeat=False) if isinstance(storage, str) else storage
    return list(optuna.study.get_all_study_summaries(st, include_best_trial=False))


def sqlite_url(path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(path)}"
