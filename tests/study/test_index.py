"""The fast index agrees with the full results, for real and generated studies."""

import math
import shutil

import numpy as np
import optuna
import pytest

from workbench.study import load_results, open_study
from workbench.study._index import POINTS_ATTR, load_index
from workbench.study._synthetic import make_synthetic_study


@pytest.fixture(scope="module")
def real_study(real_config, real_run):
    """(storage URL, name) of the session's real study (tests/conftest.py ``real_run``)."""
    return real_config.storage_url(), real_config.name


def _same(a, b):
    return (
        a is None and (b is None or (isinstance(b, float) and math.isnan(b)))
    ) or a == pytest.approx(b, rel=1e-5)


def _check_against_results(url, name):
    res = load_results(open_study(name, url))
    idx = load_index(url, name)
    assert list(idx.numbers) == [t.number for t in res.trials]
    assert list(idx.states) == [t.state for t in res.trials]
    assert set(idx.keys()) == set(res.keys())
    for row in res.rows():
        if row.get("key") is None:
            continue
        i = idx.row_of(row["trial"])
        t = idx.tables[row["key"]]
        assert _same(row["accuracy"], t["accuracy"][i])
        assert _same(row["latency_p50_ms"], t["latency_p50_ms"][i])
        assert (row["status"] == "ok") == bool(t["ok"][i])
        assert (row["source"] == "predicted") == bool(t["predicted"][i])
    for key in res.keys():  # noqa: SIM118 - StudyResults.keys() is a method, not a dict
        rows, mask = idx.front_mask(key)
        assert sorted(idx.numbers[rows[mask]].tolist()) == sorted(res.front(key).trials)
    done = [t for t in res.trials if t.values]
    for t in done:
        np.testing.assert_allclose(idx.values[idx.row_of(t.number)], t.values)
    return idx


@pytest.mark.slow
def test_index_matches_full_results_on_a_real_study(real_study):
    idx = _check_against_results(*real_study)
    assert idx.profiles() == ["host-cpu"] and "onnxruntime-int8-static" in idx.deployments()
    assert all(a for a in idx.arch) and np.all(idx.params > 0)


@pytest.mark.slow
def test_trials_without_the_compact_attribute_are_read_in_full(real_study, tmp_path):
    url, name = real_study
    copy = tmp_path / "copy.db"  # the session's study stays as it is for the other tests
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    st = optuna.storages.RDBStorage(url)
    from sqlalchemy import text

    with st.engine.begin() as conn:
        conn.execute(text("DELETE FROM trial_user_attributes WHERE key = :k"), {"k": POINTS_ATTR})
    _check_against_results(url, name)


def test_generated_study_reads_in_plain_optuna_and_in_the_index(tmp_path):
    url = f"sqlite:///{tmp_path / 'gen.db'}"
    make_synthetic_study(url, "gen", 300, profiles=("host-cpu", "rpi"), seed=1, batch=128)
    study = optuna.load_study(study_name="gen", storage=url)
    trials = study.get_trials()
    assert len(trials) == 300 and study.metric_names == ["accuracy", "latency_p50_ms"]
    assert {t.state.name for t in trials} <= {"COMPLETE", "FAIL"}
    assert trials[7].params and trials[7].user_attrs["synthetic"] is True
    assert study.user_attrs["synthetic"] is True
    assert len(study.best_trials) >= 1  # Optuna can compute its own front over the stored values
    idx = _check_against_results(url, "gen")
    assert idx.profiles() == ["host-cpu", "rpi"]
    rows, _x, _y, predicted = idx.points("rpi/torch/onnxruntime-fp32")
    assert len(rows) > 250 and predicted.all()


def test_in_memory_storage_goes_through_the_api():
    storage = optuna.storages.InMemoryStorage()
    make_synthetic_study(storage, "mem", 40, seed=2)
    idx = load_index(storage, "mem")
    assert len(idx) == 40 and len(idx.keys()) == 4
