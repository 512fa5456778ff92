"""The study list: each study's objectives, trial counts, best values and status."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.study._store import BestValue, TrialCounts, best_values, inner_storage, state_counts

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = ["STATUSES", "StudySummary", "list_study_summaries", "study_status", "target_trials"]

#: every status a study can have, see :func:`study_status`
STATUSES = ("running", "empty", "failed", "partial", "finished")


def study_status(counts: dict[str, int], target: int | None, *, running: bool = False) -> str:
    """``running`` while a run of it is going on; else ``empty`` with no trials, ``failed`` when
    trials failed and none completed, ``partial`` when fewer trials ended (complete, failed or
    pruned) than its config asked for, and ``finished`` otherwise."""
    n_complete, n_failed = counts.get("COMPLETE", 0), counts.get("FAIL", 0)
    if running:
        return "running"
    if sum(counts.values()) == 0:
        return "empty"
    if n_complete == 0 and n_failed:
        return "failed"
    if target is not None and n_complete + n_failed + counts.get("PRUNED", 0) < target:
        return "partial"
    return "finished"


def target_trials(user_attrs: dict[str, Any]) -> int | None:
    """The trial count the study's config asked for (``study.trials``), when it has one."""
    cfg = user_attrs.get("config")
    if isinstance(cfg, dict):
        t = (cfg.get("study") or {}).get("trials")
        if isinstance(t, int) and not isinstance(t, bool):
            return t
    return None


@dataclass(frozen=True)
class StudySummary:
    """What a list of studies shows of one study."""

    study_id: int
    name: str
    directions: list[str]
    metric_names: list[str]
    user_attrs: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    datetime_start: str | None = None
    datetime_last: str | None = None
    best: list[BestValue] = field(default_factory=list)
    running: bool = False

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())

    @property
    def target_trials(self) -> int | None:
        return target_trials(self.user_attrs)

    @property
    def status(self) -> str:
        return study_status(self.counts, self.target_trials, running=self.running)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "directions": list(self.directions),
            "metric_names": list(self.metric_names),
            "n_trials": self.n_trials,
            "n_complete": self.counts.get("COMPLETE", 0),
            "n_failed": self.counts.get("FAIL", 0),
            "n_running": self.counts.get("RUNNING", 0),
            "target_trials": self.target_trials,
            "status": self.status,
            "best": [b.to_dict() for b in self.best],
            "synthetic": bool(self.user_attrs.get("synthetic")),
            "objective_deployment": self.user_attrs.get("objective_deployment"),
            "datetime_start": self.datetime_start,
            "datetime_last": self.datetime_last,
        }


def list_study_summaries(
    storage: BaseStorage, *, running: Collection[str] = (), counts: bool = True
) -> list[StudySummary]:
    """Every study in ``storage`` (an Optuna storage object), most recently active first.

    ``running``: names of studies a run is writing now. ``counts=False`` reads names,
    directions and attributes only (no trial is read).
    """
    st = inner_storage(storage)
    out = []
    for s in st.get_all_studies():
        directions = [d.name.lower() for d in s.directions]
        names = list(s.system_attrs.get("study:metric_names") or [])
        sid = s._study_id
        tc = state_counts(st, sid) if counts else TrialCounts({}, None, None)
        out.append(
            StudySummary(
                study_id=sid,
                name=s.study_name,
                directions=directions,
                metric_names=names,
                user_attrs=dict(s.user_attrs),
                counts=tc.by_state,
                datetime_start=tc.first_start,
                datetime_last=tc.last_complete,
                best=best_values(st, sid, directions, names) if counts else [],
                running=s.study_name in running,
            )
        )
    out.sort(key=lambda s: s.datetime_last or s.datetime_start or "", reverse=True)
    return out
