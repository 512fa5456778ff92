"""Storage access for the server: URLs resolved against the server root, cached storages and
study indexes, and a few SQL aggregates so a list of studies never loads their trials.

Everything here is blocking (SQLAlchemy, NumPy): handlers call it in an executor, never on the
event loop.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from workbench._errors import StorageError, UnknownNameError

__all__ = [
    "DEFAULT_STORAGE",
    "LRU",
    "PROCESS_MIN_TRIALS",
    "EmptyStorage",
    "StorageRef",
    "Storages",
    "file_identity",
    "load_any_index",
    "load_points_index",
    "resolve_storage",
]

#: where ``workbench run`` writes when run in the server's root with no ``--storage``/``--out``
DEFAULT_STORAGE = "sqlite:///runs/workbench.db"
#: studies this large load in the worker process; smaller ones (a fraction of a second) in a thread
PROCESS_MIN_TRIALS = 2000
_SQLITE = "sqlite:///"


class EmptyStorage(StorageError):
    """An SQLite file with no tables yet (a run is creating it, or it was left empty): no studies."""


K = TypeVar("K", bound=Hashable)
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


def resolve_storage(url: str | None, root: Path, default: str | None = None) -> StorageRef:
    """Resolve ``url`` (or the default) for a server whose root is ``root``.

    Relative SQLite paths are relative to the root, as for ``workbench run`` started there.
    Passwords never reach the panel (``display`` is redacted).
    """
    from workbench.study._storage import _redact

    url = (url or "").strip() or (default or "").strip() or DEFAULT_STORAGE
    if "://" not in url:
        raise StorageError(
            f"storage must be a database URL such as {DEFAULT_STORAGE} or postgresql://..., got {url!r}"
        )
    if url.startswith(_SQLITE):
        raw = url[len(_SQLITE) :]
        if raw in ("", ":memory:"):
            raise StorageError(
                "an in-memory SQLite storage holds no studies; give a file, e.g. " + DEFAULT_STORAGE
            )
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = root / path
        path = path.resolve()
        try:
            display = f"{_SQLITE}{path.relative_to(root.resolve()).as_posix()}"
        except ValueError:
            display = f"{_SQLITE}{path}"
        return StorageRef(f"{_SQLITE}{path}", display, path)
    return StorageRef(url, _redact(url), None)


def file_identity(url: str) -> tuple[int, int] | None:
    """(device, inode) of an SQLite URL's file, so a cache notices the file being replaced."""
    if not url.startswith(_SQLITE):
        return None
    try:
        st = Path(url[len(_SQLITE) :]).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class LRU(Generic[K, V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass(frozen=True)
class StudyRow:
    """What a list of studies shows, read with a few aggregate queries."""

    study_id: int
    name: str
    directions: list[str]
    metric_names: list[str]
    user_attrs: dict[str, Any]


class Storages:
    """Opened storages, and study indexes cached by (storage, study, trial-count signature)."""

    def __init__(
        self, index_cache: int = 6, loader: Callable[[str, str, bool], Any] | None = None
    ) -> None:
        self._loader = loader
        self._storages: LRU[tuple[str, Any], Any] = LRU(8)
        self._indexes: LRU[tuple[str, str, bool], tuple[tuple[Any, ...], Any]] = LRU(index_cache)
        self._locks: dict[tuple[str, str, bool], threading.Lock] = {}
        self._open_lock = threading.Lock()

    # -- storages -------------------------------------------------------------------------
    def storage(self, ref: StorageRef) -> Any:
        """The ``RDBStorage`` of ``ref`` (opened once); a missing SQLite file is not created."""
        key = (ref.url, file_identity(ref.url))
        st = self._storages.get(key)
        if st is not None:
            return st
        if not ref.exists:
            raise StorageError(
                f"no study database at {ref.display}: run a study first (workbench run CONFIG) or pick another storage"
            )
        if ref.sqlite_path is not None:
            _check_optuna_sqlite(ref)
        with self._open_lock:
            st = self._storages.get(key)
            if st is None:
                from workbench.study._storage import _redact, open_storage

                try:
                    st = open_storage(ref.url, heartbeat=False)
                except StorageError as err:  # name the storage as the panel shows it
                    raise StorageError(str(err).replace(_redact(ref.url), ref.display, 1)) from None
                self._storages.put(key, st)
        return st

    def _engine(self, ref: StorageRef) -> Any:
        return self.storage(ref).engine

    def _read(self, ref: StorageRef, fn: Callable[[Any], V]) -> V:
        """Run ``fn(connection)``; database errors become one-line :class:`StorageError`."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self._engine(ref).connect() as conn:
                return fn(conn)
        except SQLAlchemyError as err:
            msg = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise StorageError(f"cannot read storage {ref.display}: {msg}") from None

    # -- studies ---------------------------------------------------------------------------
    def studies(self, ref: StorageRef) -> list[StudyRow]:
        st = self.storage(ref)
        try:
            frozen = st.get_all_studies()
        except Exception as err:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
            raise StorageError(f"cannot read storage {ref.display}: {_first_line(err)}") from None
        rows = []
        for s in frozen:
            names = s.system_attrs.get("study:metric_names") or []
            rows.append(
                StudyRow(
                    s._study_id,
                    s.study_name,
                    [d.name.lower() for d in s.directions],
                    list(names),
                    dict(s.user_attrs),
                )
            )
        return rows

    def study_row(self, ref: StorageRef, name: str) -> StudyRow:
        rows = self.studies(ref)
        for r in rows:
            if r.name == name:
                return r
        raise UnknownNameError(f"study in {ref.display}", name, [r.name for r in rows])

    def state_counts(
        self, ref: StorageRef, study_id: int
    ) -> tuple[dict[str, int], str | None, str | None]:
        """Trials per state, and when the first trial started and the last one finished."""
        from sqlalchemy import text

        def q(conn: Any) -> tuple[dict[str, int], str | None, str | None]:
            res = conn.execute(
                text(
                    "SELECT state, COUNT(*), MIN(datetime_start), MAX(datetime_complete) FROM trials "
                    "WHERE study_id = :s GROUP BY state"
                ),
                {"s": study_id},
            ).all()
            starts = [_iso(r[2]) for r in res if r[2] is not None]
            ends = [_iso(r[3]) for r in res if r[3] is not None]
            return (
                {str(r[0]): int(r[1]) for r in res},
                min(starts, default=None),
                max(ends, default=None),
            )

        return self._read(ref, q)

    def signature(self, ref: StorageRef, study_id: int) -> tuple[Any, ...]:
        """Changes whenever a trial is added, finishes or changes state: the index cache key."""
        from sqlalchemy import text

        def q(conn: Any) -> tuple[Any, ...]:
            row = conn.execute(
                text(
                    "SELECT COUNT(*), MAX(trial_id), "
                    "SUM(CASE WHEN state = 'COMPLETE' THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN state = 'FAIL' THEN 1 ELSE 0 END), MAX(datetime_complete) "
                    "FROM trials WHERE study_id = :s"
                ),
                {"s": study_id},
            ).one()
            return tuple(str(v) for v in row)

        return self._read(ref, q)

    def best_values(self, ref: StorageRef, row: StudyRow) -> list[dict[str, Any]]:
        """Per objective: the best value over complete trials, its trial, and (for the latency
        objective) whether that latency was measured or predicted."""
        from sqlalchemy import text

        def q(conn: Any) -> list[dict[str, Any]]:
            out = []
            for i, direction in enumerate(row.directions):
                order = "DESC" if direction == "maximize" else "ASC"
                hit = conn.execute(
                    text(
                        "SELECT t.trial_id, t.number, v.value FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id "
                        "WHERE t.study_id = :s AND t.state = 'COMPLETE' AND v.objective = :o AND v.value_type = 'FINITE' "
                        f"ORDER BY v.value {order}, t.number ASC LIMIT 1"
                    ),
                    {"s": row.study_id, "o": i},
                ).first()
                name = row.metric_names[i] if i < len(row.metric_names) else f"objective {i}"
                item: dict[str, Any] = {
                    "name": name,
                    "direction": direction,
                    "value": None,
                    "trial": None,
                    "source": None,
                }
                if hit is not None:
                    item.update(
                        value=float(hit[2]),
                        trial=int(hit[1]),
                        source=_objective_source(conn, int(hit[0])),
                    )
                out.append(item)
            return out

        return self._read(ref, q)

    # -- indexes ---------------------------------------------------------------------------
    def index(self, ref: StorageRef, name: str, *, lean: bool = False) -> tuple[Any, str]:
        """``(StudyIndex, how)``, ``how`` one of ``cache``, ``process`` (the worker) or ``thread``;
        one load per study at a time, reused until a trial changes.

        ``lean``: only what a Pareto plot needs (see :func:`load_points_index`), about half the
        time of the full index on a large study.
        """
        row = self.study_row(ref, name)
        key = (ref.url, name, lean)
        ident = file_identity(ref.url)
        with self._open_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            sig = (ident, *self.signature(ref, row.study_id))
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == sig:
                return cached[1], "cache"
            large = int(sig[1]) >= PROCESS_MIN_TRIALS
            try:
                if (
                    large
                    and self._loader is not None
                    and getattr(self._loader, "ready", lambda: True)()
                ):
                    index, how = self._loader(ref.url, name, lean), "process"
                else:
                    index, how = load_any_index(self.storage(ref), name, lean), "thread"
            except (StorageError, UnknownNameError):
                raise
            except Exception as err:  # noqa: BLE001 - database and decode errors
                raise StorageError(
                    f"cannot read study {name!r} from {ref.display}: {_first_line(err)}"
                ) from None
            self._indexes.put(key, (sig, index))
            return index, how

    def attr_of(
        self, ref: StorageRef, study_id: int, numbers: list[int], key: str
    ) -> dict[int, Any]:
        """One user attribute (e.g. ``arch``) of a few trials, by trial number."""
        from sqlalchemy import text

        def q(conn: Any) -> dict[int, Any]:
            out: dict[int, Any] = {}
            for start in range(0, len(numbers), 500):
                chunk = numbers[start : start + 500]
                ph = ", ".join(f":n{i}" for i in range(len(chunk)))
                res = conn.execute(
                    text(
                        "SELECT t.number, a.value_json FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
                        f"WHERE t.study_id = :s AND a.key = :k AND t.number IN ({ph})"
                    ),
                    {"s": study_id, "k": key, **{f"n{i}": n for i, n in enumerate(chunk)}},
                )
                out.update((int(n), json.loads(v)) for n, v in res)
            return out

        return self._read(ref, q)

    def trial_attrs(
        self, ref: StorageRef, study_id: int, number: int
    ) -> tuple[str, list[float] | None, dict[str, Any], dict[str, Any], float | None]:
        """(state, values, params, user attrs, duration s) of one trial, read directly."""
        from sqlalchemy import text

        def q(conn: Any) -> Any:
            hit = conn.execute(
                text(
                    "SELECT trial_id, state, datetime_start, datetime_complete FROM trials WHERE study_id = :s AND number = :n"
                ),
                {"s": study_id, "n": number},
            ).first()
            if hit is None:
                raise KeyError(number)
            tid = int(hit[0])
            attrs = {
                k: json.loads(v)
                for k, v in conn.execute(
                    text("SELECT key, value_json FROM trial_user_attributes WHERE trial_id = :t"),
                    {"t": tid},
                )
            }
            vals = sorted(
                conn.execute(
                    text("SELECT objective, value FROM trial_values WHERE trial_id = :t"),
                    {"t": tid},
                )
            )
            params = {}
            for pname, pval, dist in conn.execute(
                text(
                    "SELECT param_name, param_value, distribution_json FROM trial_params WHERE trial_id = :t"
                ),
                {"t": tid},
            ):
                params[pname] = _external_param(pval, dist)
            dur = None
            if hit[2] is not None and hit[3] is not None:
                dur = (_dt(hit[3]) - _dt(hit[2])).total_seconds()
            values = [float(v) if v is not None else math.nan for _, v in vals] or None
            return str(hit[1]), values, params, attrs, dur

        return self._read(ref, q)


def _check_optuna_sqlite(ref: StorageRef) -> None:
    """Refuse, read-only, an SQLite file that is not an Optuna storage yet: opening it with Optuna
    would add Optuna's tables to it. That would change someone else's database, and on a file that
    is still being written (a run creating its storage, a copy in progress) it would interleave
    two writers' pages. The server only ever reads."""
    import sqlite3

    assert ref.sqlite_path is not None
    try:
        con = sqlite3.connect(f"file:{ref.sqlite_path}?mode=ro", uri=True, timeout=10)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            con.close()
    except sqlite3.Error as err:
        raise StorageError(f"cannot open storage {ref.display}: {err}") from None
    if not tables:
        raise EmptyStorage(
            f"no studies in {ref.display} yet (an empty database): launch a run, or pick another storage in the settings"
        )
    if not {"studies", "trials"} <= tables:
        raise StorageError(
            f"{ref.display} is an SQLite database but not an Optuna study storage (no studies table)"
        )


def load_any_index(storage: Any, name: str, lean: bool) -> Any:
    """The full :class:`~workbench.study.StudyIndex`, or its lean form for plots."""
    if lean:
        return load_points_index(storage, name)
    from workbench.study import load_index

    return load_index(storage, name)


def load_points_index(storage: Any, name: str) -> Any:
    """A :class:`~workbench.study.StudyIndex` with only what a Pareto plot reads: trial numbers,
    states, the per-key point tables and each trial's objective deployment (architectures,
    parameter counts and objective values are left empty). Two queries and one JSON parse; a
    study whose trials predate the compact ``points`` attribute gets the full index instead."""
    import numpy as np
    import optuna
    from sqlalchemy import text

    from workbench.study import POINT_FIELDS, POINTS_ATTR, load_index
    from workbench.study._index import StudyIndex

    study = optuna.load_study(study_name=name, storage=storage)
    sid = study._study_id
    directions = [d.name.lower() for d in study.directions]
    try:
        metric_names = list(study.metric_names or [])
    except Exception:  # noqa: BLE001 - older storages
        metric_names = []
    query = (
        "SELECT t.number, t.state, p.value_json, o.value_json, t.trial_id FROM trials t "
        "LEFT JOIN trial_user_attributes p ON p.trial_id = t.trial_id AND p.key = {pk} "
        "LEFT JOIN trial_user_attributes o ON o.trial_id = t.trial_id AND o.key = 'objective_deployment' "
        "WHERE t.study_id = {s} ORDER BY t.number"
    )
    with storage.engine.connect() as conn:
        if storage.engine.dialect.name == "sqlite":
            # the DB-API cursor's plain tuples: a third of the time of SQLAlchemy rows at this size
            cur = conn.connection.dbapi_connection.cursor()
            try:
                rows = cur.execute(query.format(pk="?", s="?"), (POINTS_ATTR, sid)).fetchall()
            finally:
                cur.close()
        else:
            rows = conn.execute(
                text(query.format(pk=":pk", s=":s")), {"s": sid, "pk": POINTS_ATTR}
            ).all()
        # trials with measurements but no compact points were written before it existed
        missing = [int(r[4]) for r in rows if r[2] is None]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            ph = ", ".join(f":t{i}" for i in range(len(chunk)))
            old = conn.execute(
                text(
                    f"SELECT 1 FROM trial_user_attributes WHERE trial_id IN ({ph}) AND key LIKE 'measure:%' LIMIT 1"
                ),
                {f"t{i}": t for i, t in enumerate(chunk)},
            ).first()
            if old is not None:
                return load_index(storage, name)
    n = len(rows)
    # one parse of a joined array is several times faster than one json.loads per value
    points = json.loads("[" + ",".join(r[2] or "null" for r in rows) + "]") if rows else []
    objective = json.loads("[" + ",".join(r[3] or "null" for r in rows) + "]") if rows else []
    keys = list(dict.fromkeys(k for d in points if d for k in d))
    width = len(POINT_FIELDS)
    absent = [None] * (width - 2) + [0, 0]
    tables = {}
    for k in keys:
        block = np.array([(d or {}).get(k, absent) for d in points], dtype=np.float64).reshape(
            n, width
        )
        tables[k] = {f: block[:, j] for j, f in enumerate(POINT_FIELDS)}
    empty = np.full(n, np.nan)
    return StudyIndex(
        study_name=name,
        directions=directions,
        metric_names=metric_names,
        numbers=np.array([r[0] for r in rows], dtype=np.int64),
        states=np.array([r[1] for r in rows], dtype=object),
        values=np.full((n, len(directions)), np.nan),
        arch=[""] * n,
        params=empty,
        macs=empty.copy(),
        float_accuracy=empty.copy(),
        objective_key=list(objective),
        tables=tables,
    )


def _iso(v: Any) -> str:
    return _dt(v).isoformat(timespec="seconds")


def _dt(v: Any) -> Any:
    import datetime as _datetime

    return v if isinstance(v, _datetime.datetime) else _datetime.datetime.fromisoformat(str(v))


def _external_param(value: float, dist_json: str) -> Any:
    try:
        from optuna.distributions import json_to_distribution

        return json_to_distribution(dist_json).to_external_repr(value)
    except Exception:  # noqa: BLE001 - show the stored number rather than nothing
        return value


def _objective_source(conn: Any, trial_id: int) -> str | None:
    """``measured`` or ``predicted`` for the measurement a trial's objectives came from."""
    from sqlalchemy import text

    got = dict(
        conn.execute(
            text(
                "SELECT key, value_json FROM trial_user_attributes WHERE trial_id = :t AND key IN ('objective_deployment', 'points')"
            ),
            {"t": trial_id},
        ).all()
    )
    try:
        key = json.loads(got["objective_deployment"])
        point = json.loads(got["points"])[key]
        return "predicted" if point[5] else "measured"
    except (KeyError, TypeError, IndexError, ValueError):
        return None


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
