"""Trials left RUNNING by a worker that died (SIGKILL, out of memory, power loss) are failed.

Every trial records the process that runs it (:func:`workbench._host.process_identity`: this
boot of this machine, pid, the pid's start time). A run, before it starts and when it ends,
fails the RUNNING trials whose process is known dead on this machine: at once, not after the
heartbeat's grace period. Trials of workers on other machines are left to Optuna's heartbeat
(``optuna.storages.fail_stale_trials``), which this also runs.

A failed-because-dead trial is marked ``status: crashed`` (not ``failure``), so it does not
count against the trial budget: resuming runs it again, as for a trial cut short by Ctrl-C.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from workbench._host import process_alive, process_identity

if TYPE_CHECKING:
    import optuna

__all__ = ["WORKER_ATTR", "fail_dead_trials", "record_worker"]

#: trial system attribute naming the process that runs the trial
WORKER_ATTR = "workbench:worker"


def record_worker(trial: optuna.trial.Trial) -> None:
    """Note in ``trial`` which process runs it."""
    trial.storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, process_identity())


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials of ``study`` whose process is dead (this machine), then those
    Optuna's heartbeat finds stale (any machine); the numbers of the trials failed."""
    import optuna
    from optuna.trial import TrialState

    storage: Any = study._storage
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = t.system_attrs.get(WORKER_ATTR)
        if not isinstance(who, dict) or process_alive(who) is not False:
            continue
        storage.set_trial_user_attr(t._trial_id, "status", "crashed")
        storage.set_trial_user_attr(
            t._trial_id,
            "crash",
            f"its worker (pid {who.get('pid')} on {who.get('host')}) died before it finished",
        )
        try:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except RuntimeError:  # it finished meanwhile after all (a trial is never re-opened)
            continue
        failed.append(t.number)
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # nothing to do on a storage without heartbeats
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    return sorted(set(failed) | (after - before))
