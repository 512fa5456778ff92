"""Which study a widget shows, given in any form a user has, and one trial's full record.

The widgets read a study two ways: the columnar :class:`~workbench.study.StudyIndex` for plots
over every trial, and the storage API for the full record of the one trial a user clicks, so a
10,000-trial study never has all its trials rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.bench import Measurement
from workbench.study import (
    StudyIndex,
    StudySignature,
    cached_index,
    is_designed,
    study_signature,
)
from workbench.study._store import trial_row

if TYPE_CHECKING:
    import optuna
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.samplers import BaseSampler

    from workbench.arch import ArchSpec

__all__ = ["StudyRef", "TrialDetail", "resolve_study"]


@dataclass
class StudyRef:
    """A study by name in a storage (an Optuna storage object; ``url`` when known)."""

    name: str
    storage: Any
    url: str | None = None
    _study_id: int | None = field(default=None, repr=False)

    @property
    def study_id(self) -> int:
        if self._study_id is None:
            self._study_id = int(self.storage.get_study_id_from_name(self.name))
        return self._study_id

    def load(self, sampler: BaseSampler | None = None) -> optuna.Study:
        """The ``optuna.Study``."""
        import optuna

        return optuna.load_study(study_name=self.name, storage=self.storage, sampler=sampler)

    def index(self) -> StudyIndex:
        """The study's :class:`~workbench.study.StudyIndex`; reused while the study is unchanged."""
        return cached_index(self.storage, self.name)

    def signature(self) -> StudySignature:
        """What changes whenever a trial is added, finishes or gets a new attribute."""
        return study_signature(self.storage, self.study_id)

    def user_attrs(self) -> dict[str, Any]:
        return dict(self.storage.get_study_user_attrs(self.study_id))

    def artifact_store(self) -> FileSystemArtifactStore | None:
        """The study's Optuna file-system artifact store, or None when it has none on this disk."""
        path = self.user_attrs().get("artifact_store")
        if not path or not Path(path).is_dir():
            return None
        from optuna.artifacts import FileSystemArtifactStore

        return FileSystemArtifactStore(str(path))

    def trial(self, number: int) -> TrialDetail:
        """The full record of trial ``number`` (one trial, read through the study store)."""
        try:
            t = trial_row(self.storage, self.study_id, int(number))
        except KeyError:
            raise KeyError(f"no trial {number} in study {self.name!r}") from None
        return TrialDetail(t.number, t.state, t.values, t.params, t.user_attrs)


@dataclass
class TrialDetail:
    """Everything stored for one trial."""

    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]

    @property
    def spec(self) -> ArchSpec | None:
        from workbench.arch import ArchSpec

        data = self.user_attrs.get("spec")
        return ArchSpec.from_dict(data) if data else None

    def measurement(self, key: str) -> Measurement | None:
        data = self.user_attrs.get(f"measure:{key}")
        return Measurement.from_dict(data) if data else None

    def keys(self) -> list[str]:
        return sorted(k[len("measure:") :] for k in self.user_attrs if k.startswith("measure:"))

    @property
    def designed(self) -> bool:
        return is_designed(self.user_attrs)


_STORAGES: dict[str, Any] = {}


def _storage_for(url: str) -> Any:
    """One storage per URL in this process (opening one checks the schema: a tenth of a
    second)."""
    if url not in _STORAGES:
        from workbench.study import open_storage

        _STORAGES[url] = open_storage(url, heartbeat=False)
    return _STORAGES[url]


def resolve_study(study: Any, storage: Any = None) -> StudyRef:
    """A :class:`StudyRef` from a study name and its storage (URL or object), an
    ``optuna.Study``, what ``run_study`` returns (a ``RunResult``), or a StudyRef."""
    if isinstance(study, StudyRef):
        return study
    if isinstance(study, str):
        if storage is None:
            raise ValueError(
                f"study {study!r} is given by name: pass its storage too, "
                "e.g. storage='sqlite:///runs/workbench.db'"
            )
        url = storage if isinstance(storage, str) else None
        st = storage
        if isinstance(storage, str):
            st = _storage_for(storage)
        st = getattr(st, "_backend", st)
        try:
            study_id = int(st.get_study_id_from_name(study))
        except KeyError:
            # (optuna's study summaries would read every trial of every study; this reads names
            # only)
            from workbench._errors import UnknownNameError

            names = [s.study_name for s in st.get_all_studies()]
            raise UnknownNameError(f"study in {url or 'the storage'}", study, names) from None
        return StudyRef(study, st, url, study_id)
    inner = getattr(study, "study", None)  # RunResult
    if inner is not None and hasattr(inner, "study_name"):
        study = inner
    if hasattr(study, "study_name") and hasattr(study, "_storage"):
        # Optuna wraps an RDB storage in a cache; the index reads the database underneath
        st = getattr(study._storage, "_backend", study._storage)
        url = getattr(st, "url", None)
        return StudyRef(study.study_name, st, url if isinstance(url, str) else None)
    raise TypeError(
        "expected a study name with its storage, an optuna.Study, or what workbench.run_study "
        f"returns; got {type(study).__name__}"
    )
