"""StudyMonitor: a real tiny search in a background thread, live progress and fronts, Stop
(after the trial, or at once) and resume."""

from __future__ import annotations

import time

import optuna
import pytest

from tests.widgets.conftest import tiny_study_config
from workbench import ConfigError, StorageError
from workbench.study import count_finished, load_index
from workbench.widgets import StudyMonitor

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.onnxruntime]

FAST = {"deployments": ["torch-fp32", "onnxruntime-fp32"]}


def _poll(cond, timeout: float = 120.0, every: float = 0.02) -> list[str]:
    """Wait for ``cond()`` while the main thread stays free; returns nothing but proves it ran."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(every)
    return []


def test_runs_in_the_background_with_live_progress_and_fronts(tmp_path):
    cfg = tiny_study_config(tmp_path, "live", 2, **FAST)
    mon = StudyMonitor(cfg, measure_memory=False, write=False)
    assert mon.state == "idle" and mon.progress.max == 2
    mon.start()
    assert mon.running  # start returned while the run goes on
    ticks = 0
    while mon.running:  # the caller's thread (the notebook) stays usable meanwhile
        ticks += 1
        time.sleep(0.02)
    res = mon.wait()
    assert ticks > 10
    stages = {s.split(": ", 1)[-1].split(" ")[0] for s in mon.stage_log}
    assert res.new_trials == 2 and mon.state == "finished" and mon.new_trials == 2
    assert {"train", "measure"} <= stages
    assert mon.progress.value == 2 and mon.progress.bar_style == "success"
    assert "2/2 trials finished" in mon.stats.value and "trials/min" in mon.stats.value
    assert mon.trials_per_minute() > 0
    assert mon.refreshes >= 2
    index = load_index(cfg.storage_url(), "live")
    drawn = sum(len(t.x) for t in mon.figure.data if t.meta["role"] in ("measured", "predicted"))
    # every deployment measured, the host profile's recipe (int8 static) among them
    assert (
        drawn
        == sum(len(index.points(k)[0]) for k in index.tables)
        == 2 * len(cfg.profile_deployments(cfg.hardware[0]))
    )
    assert any(t.meta["role"] == "front" and len(t.x) for t in mon.figure.data)
    assert mon.start_button.disabled is False and mon.stop_button.disabled is True


def test_stop_after_the_current_trial_then_resume(tmp_path):
    cfg = tiny_study_config(tmp_path, "stop", 3, **FAST)
    mon = StudyMonitor(cfg, measure_memory=False, write=False).start()
    _poll(lambda: mon.stage_text.startswith("trial 0: train"))
    mon.stop()
    assert mon.state == "stopping" and mon.stop_button.description == "Stop now"
    mon.wait()
    assert mon.state == "stopped" and mon.start_button.description == "Resume"
    study = optuna.load_study(study_name="stop", storage=cfg.storage_url())
    assert count_finished(study) == 1  # the running trial finished, no other started
    mon.start()
    mon.wait()
    assert mon.state == "finished" and mon.finished_before == 1 and mon.new_trials == 2
    assert count_finished(optuna.load_study(study_name="stop", storage=cfg.storage_url())) == 3


def test_stop_now_interrupts_the_trial_which_does_not_count(tmp_path):
    cfg = tiny_study_config(tmp_path, "now", 1, **FAST)
    mon = StudyMonitor(cfg, measure_memory=False, write=False).start()
    _poll(lambda: mon.stage_text.startswith("trial 0: train"))
    mon.stop(now=True)
    res = mon.wait()
    assert res.interrupted and mon.state == "stopped"
    study = optuna.load_study(study_name="now", storage=cfg.storage_url())
    assert count_finished(study) == 0
    assert study.trials[0].user_attrs.get("status") == "interrupted"
    mon.start()
    mon.wait()
    assert count_finished(optuna.load_study(study_name="now", storage=cfg.storage_url())) == 1


def test_bad_input_and_failures_are_reported(tmp_path):
    with pytest.raises(ConfigError):
        StudyMonitor(
            {
                "schema": 1,
                "study": {"name": "x", "sampler": "annealing"},
                "space": {"family": "mlp"},
            }
        )
    with pytest.raises(TypeError, match="YAML path, a mapping or a StudyConfig"):
        StudyMonitor(42)
    cfg = tiny_study_config(tmp_path, "bad", 1, **FAST)
    mon = StudyMonitor(
        cfg, storage="sqlite:////proc/no-such-dir/x.db", measure_memory=False, write=False
    )
    with pytest.raises(RuntimeError, match="not been started"):
        mon.wait()
    mon.start()
    with pytest.raises(StorageError, match="cannot"):
        mon.wait()
    assert (
        mon.state == "failed"
        and "StorageError" in mon.message.value
        and mon.progress.bar_style == "danger"
    )
