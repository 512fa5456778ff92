"""Study indexes cached by their change signature, so an unchanged study is read once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from workbench.study._store import StudySignature, inner_storage, study_signature

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from workbench.study._index import StudyIndex

__all__ = ["LRU", "IndexCache", "cached_index"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


class IndexCache:
    """Study indexes by (storage, study, lean), each kept with the :class:`StudySignature` it
    was read at and reused while the study's signature is unchanged; one load per study at a
    time."""

    def __init__(self, size: int = 6) -> None:
        self._lru: LRU[tuple[Hashable, str, bool], tuple[StudySignature, StudyIndex]] = LRU(size)
        self._locks: dict[tuple[Hashable, str, bool], threading.Lock] = {}
        self._lock = threading.Lock()

    def load(
        self,
        storage: BaseStorage,
        name: str,
        *,
        lean: bool = False,
        study_id: int | None = None,
        loader: Callable[[StudySignature], StudyIndex] | None = None,
    ) -> tuple[StudyIndex, bool]:
        """``(StudyIndex, from_cache)`` of study ``name``. ``loader(signature)`` reads it when
        the cache has no current copy (default: :func:`~workbench.study.load_index`)."""
        st = inner_storage(storage)
        if study_id is None:
            study_id = int(st.get_study_id_from_name(name))
        url = getattr(st, "url", None)
        key = (url if isinstance(url, str) else id(st), name, lean)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            sig = study_signature(st, study_id)
            hit = self._lru.get(key)
            if hit is not None and hit[0] == sig:
                return hit[1], True
            if loader is None:
                from workbench.study._index import load_index

                index = load_index(st, name, lean=lean)
            else:
                index = loader(sig)
            self._lru.put(key, (sig, index))
            return index, False

    def clear(self) -> None:
        self._lru.clear()


_DEFAULT = IndexCache(4)


def cached_index(storage: BaseStorage, name: str, *, lean: bool = False) -> StudyIndex:
    """The :class:`~workbench.study.StudyIndex` of ``name``, read again only when the study has
    changed since the last call (a process-wide cache of a few studies)."""
    return _DEFAULT.load(storage, name, lean=lean)[0]
