"""The study store: its SQL and its public-API fallback read the same study the same way."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tests.study.test_postgres import postgres_url  # noqa: F401 - the fixture
from workbench.study import (
    DESIGNED,
    ORIGIN_ATTR,
    SAMPLED,
    STATUSES,
    IndexCache,
    _store,
    designed_mask,
    file_identity,
    is_designed,
    list_study_summaries,
    load_index,
    make_synthetic_study,
    open_storage,
    schema_problem,
    study_signature,
    study_status,
    trial_origin,
    trial_row,
    trial_user_attrs,
    uses_sql,
)


def _mixed_study(url: str, name: str = "s") -> None:
    """A generated study plus failed, running, hand-designed and infinite-valued trials."""
    make_synthetic_study(url, name, 60, profiles=("host-cpu", "sim"), seed=2, fail_fraction=0.2)
    st = open_storage(url, heartbeat=False)
    study = optuna.load_study(study_name=name, storage=st)
    study.set_user_attr("config", {"study": {"trials": 100}})
    study.add_trial(
        create_trial(state=TrialState.FAIL, user_attrs={"failure": {"stage": "sample"}})
    )
    study.add_trial(
        create_trial(
            values=[0.5, math.inf],
            params={"depth": 2},
            distributions={"depth": optuna.distributions.IntDistribution(1, 6)},
            user_attrs={ORIGIN_ATTR: DESIGNED, "arch": "by hand"},
        )
    )
    running = study.ask()
    running.set_user_attr("arch", "still running")
    optuna.create_study(study_name="empty", storage=st)


def _mismatched_copy(src, dest) -> str:
    """A copy of the database whose trials table has a column Optuna's model lacks."""
    shutil.copy(src, dest)
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{dest}")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE trials ADD COLUMN note VARCHAR(20)"))
    engine.dispose()
    return f"sqlite:///{dest}"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(storage read with SQL, the same database read through the API)."""
    root = tmp_path_factory.mktemp("store")
    url = f"sqlite:///{root / 'a.db'}"
    _mixed_study(url)
    sql = open_storage(url, heartbeat=False)
    api = open_storage(_mismatched_copy(root / "a.db", root / "b.db"), heartbeat=False)
    return sql, api


def _index_equal(a, b, *, key_order: bool = True) -> None:
    assert a.numbers.tolist() == b.numbers.tolist() and a.states.tolist() == b.states.tolist()
    np.testing.assert_array_equal(a.values, b.values)
    assert a.arch == b.arch and a.objective_key == b.objective_key
    for col in ("params", "macs", "float_accuracy"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    assert a.keys() == b.keys() if key_order else sorted(a.keys()) == sorted(b.keys())
    for key in a.tables:
        for f in a.tables[key]:
            np.testing.assert_array_equal(a.tables[key][f], b.tables[key][f])


def test_a_column_optuna_does_not_know_is_detected(pair):
    sql, api = pair
    assert uses_sql(sql) and schema_problem(sql) is None
    assert "trials has columns" in schema_problem(api) and not uses_sql(api)
    assert "not an RDB storage" in schema_problem(optuna.storages.InMemoryStorage())


def test_a_schema_version_optuna_does_not_know_is_detected(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    make_synthetic_study(url, "v", 5, seed=1)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE version_info SET schema_version = 999"))
    engine.dispose()
    st = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    assert "version_info says schema 999" in schema_problem(st)
    assert len(load_index(st, "v")) == 5  # read through the API


def test_sql_and_api_give_the_same_index_rows_and_attributes(pair):
    sql, api = pair
    for lean in (False, True):
        _index_equal(load_index(sql, "s", lean=lean), load_index(api, "s", lean=lean))
    full = load_index(sql, "s")
    assert "RUNNING" in full.states.tolist() and "FAIL" in full.states.tolist()
    assert math.isinf(full.values[-2, 1])  # the designed trial's infinite latency
    sid = sql.get_study_id_from_name("s")
    numbers = full.numbers.tolist()
    assert trial_user_attrs(sql, sid, numbers) == trial_user_attrs(api, sid, numbers)
    some = trial_user_attrs(sql, sid, [*numbers[:5], 10_000], ["arch", "points"])
    assert sorted(some) == numbers[:5] and all(set(a) <= {"arch", "points"} for a in some.values())
    assert some == trial_user_attrs(api, sid, [*numbers[:5], 10_000], ["arch", "points"])
    for n in (0, numbers[-2], numbers[-1]):
        assert trial_row(sql, sid, n) == trial_row(api, sid, n)
    with pytest.raises(KeyError):
        trial_row(sql, sid, 10_000)
    with pytest.raises(KeyError):
        trial_row(api, sid, 10_000)


def test_sql_and_api_give_the_same_summaries(pair):
    sql, api = pair
    a, b = list_study_summaries(sql), list_study_summaries(api)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    by_name = {s.name: s for s in a}
    s = by_name["s"]
    assert s.counts["RUNNING"] == 1 and s.counts["FAIL"] >= 2 and s.n_trials == 63
    assert s.status == "partial" and s.target_trials == 100
    assert [x.name for x in s.best] == ["accuracy", "latency_p50_ms"]
    assert s.best[0].source in ("measured", "predicted") and s.best[0].value <= 1
    assert by_name["empty"].status == "empty" and by_name["empty"].best[0].value is None
    assert list_study_summaries(sql, running={"s"})[0].status == "running"
    # a storage that is not an RDB storage at all
    mem = optuna.storages.InMemoryStorage()
    optuna.copy_study(from_study_name="s", from_storage=sql, to_storage=mem)
    got = {x.name: x.to_dict() for x in list_study_summaries(mem)}["s"]
    assert got == s.to_dict()


def test_the_signature_changes_when_a_trial_is_added_or_finished_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    make_synthetic_study(url, "g", 10, seed=3)
    st = open_storage(url, heartbeat=False)
    study = optuna.load_study(study_name="g", storage=st)
    sid = study._study_id
    first = study_signature(st, sid)
    load_index(st, "g")
    list_study_summaries(st)
    assert study_signature(st, sid) == first and first.file == file_identity(url)
    trial = study.ask()
    added = study_signature(st, sid)
    assert added != first and added.n_running == 1 and added.n_trials == 11
    assert study_signature(st, sid) == added
    study.tell(trial, [0.5, 1.0])
    finished = study_signature(st, sid)
    assert finished != added and finished.n_complete == first.n_complete + 1
    mem = optuna.storages.InMemoryStorage()
    optuna.copy_study(from_study_name="g", from_storage=st, to_storage=mem)
    msid = mem.get_study_id_from_name("g")
    m1 = study_signature(mem, msid)
    assert study_signature(mem, msid) == m1 and m1.n_trials == 11 and m1.file is None
    optuna.load_study(study_name="g", storage=mem).ask()
    assert study_signature(mem, msid) != m1
    # the same study in a replaced file (deleted and made again) is another study
    db = tmp_path / "g.db"
    shutil.copy(db, tmp_path / "copy.db")
    os.replace(tmp_path / "copy.db", db)
    replaced = study_signature(open_storage(url, heartbeat=False), sid)
    assert replaced.file != finished.file and replaced.n_trials == finished.n_trials


def test_trials_written_before_the_compact_points_are_read_from_their_measurements(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_synthetic_study(url, "old", 20, seed=6)
    from sqlalchemy import create_engine, text

    reference = load_index(open_storage(url, heartbeat=False), "old")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trial_user_attributes WHERE key = 'points'"))
    engine.dispose()
    sql = open_storage(url, heartbeat=False)
    api = open_storage(_mismatched_copy(tmp_path / "old.db", tmp_path / "old2.db"), heartbeat=False)
    first = load_index(sql, "old")
    for st in (sql, api):
        for lean in (False, True):
            got = load_index(st, "old", lean=lean)
            assert got.arch == reference.arch  # the lean form needs points: the full index
            _index_equal(got, reference, key_order=False)
            _index_equal(got, first)


def test_the_index_cache_reads_again_only_after_a_change(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    make_synthetic_study(url, "c", 10, seed=4)
    st = open_storage(url, heartbeat=False)
    cache = IndexCache(2)
    first, hit = cache.load(st, "c")
    assert not hit and len(first) == 10
    again, hit = cache.load(st, "c")
    assert hit and again is first
    optuna.load_study(study_name="c", storage=st).ask()
    third, hit = cache.load(st, "c")
    assert not hit and len(third) == 11
    lean, hit = cache.load(st, "c", lean=True)
    assert not hit and lean.arch == [""] * 11


def test_status_for_each_case():
    assert study_status({}, None) == "empty"
    assert study_status({"FAIL": 2}, None) == "failed"
    assert study_status({"COMPLETE": 2, "FAIL": 1}, 5) == "partial"
    assert study_status({"COMPLETE": 2, "FAIL": 1, "PRUNED": 2}, 5) == "finished"
    assert study_status({"COMPLETE": 2}, None) == "finished"
    assert study_status({"COMPLETE": 2}, 5, running=True) == "running"
    assert set(STATUSES) == {"running", "empty", "failed", "partial", "finished"}


def test_origin_helpers(pair):
    assert trial_origin({ORIGIN_ATTR: DESIGNED}) == DESIGNED and trial_origin({}) == SAMPLED
    assert is_designed({ORIGIN_ATTR: DESIGNED}) and not is_designed({ORIGIN_ATTR: None})
    assert designed_mask([None, DESIGNED, "sampled"]).tolist() == [False, True, False]
    from workbench.widgets._source import resolve_study

    sql, api = pair
    for st in (sql, api):
        ref = resolve_study("s", st)
        index = ref.index()
        found = [t.number for t in st.get_all_trials(ref.study_id) if is_designed(t.user_attrs)]
        mask = np.isin(index.numbers, sorted(found))
        assert mask.sum() == 1 and index.arch[int(np.flatnonzero(mask)[0])] == "by hand"
        assert index.designed().tolist() == mask.tolist()
        assert load_index(st, "s", lean=True).designed().tolist() == mask.tolist()


@pytest.mark.postgres
@pytest.mark.slow
def test_sql_and_api_agree_on_postgresql(postgres_url, tmp_path):  # noqa: F811
    _mixed_study(postgres_url, "pg")
    sql = open_storage(postgres_url, heartbeat=False)
    assert uses_sql(sql)
    mem = optuna.storages.InMemoryStorage()
    optuna.copy_study(from_study_name="pg", from_storage=sql, to_storage=mem)
    _index_equal(load_index(sql, "pg"), load_index(mem, "pg"))
    _index_equal(load_index(sql, "pg", lean=True), load_index(mem, "pg", lean=True))
    a = {s.name: s.to_dict() for s in list_study_summaries(sql)}["pg"]
    assert a == {s.name: s.to_dict() for s in list_study_summaries(mem)}["pg"]
    sid = sql.get_study_id_from_name("pg")
    msid = mem.get_study_id_from_name("pg")
    assert trial_row(sql, sid, 0) == trial_row(mem, msid, 0)
    assert _store.study_signature(sql, sid).n_trials == 63


def test_generated_trials_store_datetimes_as_optuna_does_whatever_adapter_is_registered(tmp_path):
    """nbformat registers a sqlite3 adapter writing ISO 'T' datetimes; rows written in bulk must
    still match Optuna's own ' ' format, or MIN and MAX over the strings order them wrongly."""
    import sqlite3

    pytest.importorskip("nbformat.sign")  # importing it registers the adapter process-wide
    url = f"sqlite:///{tmp_path / 'd.db'}"
    _mixed_study(url)
    with sqlite3.connect(tmp_path / "d.db") as con:
        stamps = [r[0] for r in con.execute("SELECT datetime_start FROM trials")]
    assert len(stamps) == 63 and not any("T" in s for s in stamps)
    (s,) = [x for x in list_study_summaries(open_storage(url, heartbeat=False)) if x.name == "s"]
    assert s.datetime_start is not None and s.datetime_last is not None
    assert s.datetime_start <= s.datetime_last
