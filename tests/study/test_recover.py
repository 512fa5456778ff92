"""Trials of a dead worker: failed at once when the process is known dead on this machine,
left alone when it runs or ran elsewhere."""

from __future__ import annotations

import subprocess

import optuna

from workbench._host import process_alive, process_identity
from workbench.study import open_storage
from workbench.study._recover import WORKER_ATTR, fail_dead_trials


def _dead_identity() -> dict:
    p = subprocess.Popen(["sleep", "30"])
    who = process_identity(p.pid)
    p.kill()
    p.wait()
    return who


def test_process_alive_on_this_machine_and_elsewhere():
    me = process_identity()
    assert process_alive(me) is True
    assert process_alive(_dead_identity()) is False
    assert process_alive({**me, "start": (me["start"] or 0) + 1}) is False  # the pid was reused
    assert process_alive({**me, "boot": "another machine"}) is None


def test_running_trials_of_dead_workers_fail_and_others_stay(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=False)
    study = optuna.create_study(study_name="s", storage=storage)
    owners = {
        "dead": _dead_identity(),
        "alive": process_identity(),
        "elsewhere": {**process_identity(), "boot": "another machine", "pid": 1},
    }
    numbers = {}
    for name, who in owners.items():
        t = study.ask()
        storage.set_trial_system_attr(t._trial_id, WORKER_ATTR, who)
        numbers[name] = t.number
    study.tell(study.ask(), 1.0)  # a finished trial is never touched
    assert fail_dead_trials(study) == [numbers["dead"]]
    states = {t.number: t for t in study.get_trials()}
    dead = states[numbers["dead"]]
    assert dead.state.name == "FAIL" and dead.user_attrs["status"] == "crashed"
    assert states[numbers["alive"]].state.name == "RUNNING"
    assert states[numbers["elsewhere"]].state.name == "RUNNING"  # the heartbeat's to judge
    assert fail_dead_trials(study) == []
