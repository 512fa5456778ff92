"""The REST API against a real Jupyter server and real SQLite studies (token authentication on)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.server.conftest import cookie_login, error_of, get_json

GETS = [
    ("status",),
    ("studies",),
    ("studies", "synth"),
    ("studies", "synth", "trials"),
    ("studies", "synth", "trials", "0"),
    ("studies", "synth", "points"),
    ("profiles",),
    ("configs",),
    ("jobs",),
    ("jobs", "0123456789ab"),
    ("jobs", "0123456789ab", "log"),
]
POSTS = [("jobs",), ("configs",), ("jobs", "0123456789ab", "cancel")]


async def test_every_endpoint_requires_authentication(jp_fetch, root):
    for parts in GETS:
        r = await jp_fetch(
            "workbench", "api", *parts, headers={"Authorization": ""}, raise_error=False
        )
        assert r.code == 403, parts
    for parts in POSTS:
        r = await jp_fetch(
            "workbench",
            "api",
            *parts,
            method="POST",
            body="{}",
            headers={"Authorization": ""},
            raise_error=False,
        )
        assert r.code == 403, parts


async def test_posts_need_the_xsrf_token_with_cookie_login(jp_fetch, jp_serverapp, root):
    """A browser session (login cookie, no token header) must send the XSRF token with a POST."""
    noauth = {"Authorization": ""}
    cookie, xsrf = await cookie_login(jp_fetch, jp_serverapp)
    # the cookie alone authenticates a GET
    ok = await jp_fetch(
        "workbench", "api", "status", headers={**noauth, "Cookie": cookie}, raise_error=False
    )
    assert ok.code == 200
    body = json.dumps({"config": "search/none.yaml"})
    refused = await jp_fetch(
        "workbench",
        "api",
        "jobs",
        method="POST",
        body=body,
        headers={**noauth, "Cookie": cookie},
        raise_error=False,
    )
    assert refused.code == 403 and b"xsrf" in refused.body.lower()
    allowed = await jp_fetch(
        "workbench",
        "api",
        "jobs",
        method="POST",
        body=body,
        headers={**noauth, "Cookie": cookie, "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert allowed.code == 404  # reached the handler: the config does not exist
    assert "no config file search/none.yaml" in json.loads(allowed.body)["message"]


async def test_status_is_cheap_and_names_the_storage(jp_fetch, root):
    s = await get_json(jp_fetch, "status")
    assert s["root"] == str(root.resolve())
    assert s["storage"] == {
        "url": "sqlite:///runs/workbench.db",
        "sqlite_path": "runs/workbench.db",
        "exists": True,
    }
    assert s["jobs"] == {"running": 0, "queued": 0}


async def test_studies_have_counts_best_figures_and_objective_names(jp_fetch, root):
    data = await get_json(jp_fetch, "studies")
    by_name = {s["name"]: s for s in data["studies"]}
    assert set(by_name) == {"synth", "synth_small"}
    s = by_name["synth"]
    assert s["n_trials"] == 300 and s["n_complete"] + s["n_failed"] == 300 and s["n_failed"] > 0
    assert [o["name"] for o in s["objectives"]] == ["accuracy", "latency_p50_ms"]
    assert [o["direction"] for o in s["objectives"]] == ["maximize", "minimize"]
    assert s["objectives"][1]["unit"] == "ms" and s["synthetic"] is True
    # the best figures are the study's own: compare with Optuna
    import optuna

    study = optuna.load_study(
        study_name="synth", storage=f"sqlite:///{root / 'runs' / 'workbench.db'}"
    )
    done = [t for t in study.get_trials() if t.values is not None]
    acc, lat = s["best"]
    assert acc["value"] == pytest.approx(max(t.values[0] for t in done))
    assert lat["value"] == pytest.approx(min(t.values[1] for t in done))
    assert (
        lat["source"] == "measured" and acc["source"] is None
    )  # only a latency is measured or predicted
    assert s["status"] == "finished"


async def test_a_missing_database_is_an_empty_list_not_a_new_file(jp_fetch, root):
    data = await get_json(jp_fetch, "studies", storage="sqlite:///elsewhere/none.db")
    assert (
        data["studies"] == [] and "no study database at sqlite:///elsewhere/none.db" in data["note"]
    )
    assert not (root / "elsewhere").exists()
    # an empty file (a run creating its storage has not made its tables yet) holds no studies, and
    # the server adds none: it only reads
    (root / "starting.db").touch()
    data = await get_json(jp_fetch, "studies", storage="sqlite:///starting.db")
    assert data["studies"] == [] and "no studies in sqlite:///starting.db yet" in data["note"]
    assert (root / "starting.db").stat().st_size == 0


async def test_unreadable_storages_give_one_line_messages(jp_fetch, root):
    (root / "broken.db").write_bytes(b"this is not an SQLite database, just text " * 100)
    code, body = await error_of(jp_fetch, "studies", storage="sqlite:///broken.db")
    assert (
        code == 400
        and body["message"].startswith("cannot open storage sqlite:///broken.db: ")
        and "\n" not in body["message"]
    )
    assert "Traceback" not in json.dumps(body)
    code, body = await error_of(
        jp_fetch, "studies", storage="postgresql://workbench:secret@127.0.0.1:1/none"
    )
    assert code == 400 and "secret" not in body["message"] and "\n" not in body["message"]
    assert "postgresql://workbench:***@127.0.0.1:1/none" in body["message"]
    code, body = await error_of(jp_fetch, "studies", storage="runs/workbench.db")
    assert code == 400 and "must be a database URL" in body["message"]
    # someone else's SQLite database is refused, and left as it was (no Optuna tables added)
    import sqlite3

    con = sqlite3.connect(root / "other.db")
    con.execute("CREATE TABLE notes (text TEXT)")
    con.commit()
    con.close()
    code, body = await error_of(jp_fetch, "studies", storage="sqlite:///other.db")
    assert (
        code == 400
        and body["message"]
        == "sqlite:///other.db is an SQLite database but not an Optuna study storage "
        "(no studies table)"
    )
    con = sqlite3.connect(root / "other.db")
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [
        "notes"
    ]
    con.close()


async def test_points_are_compact_arrays_with_the_library_pareto_front(jp_fetch, root):
    r = await jp_fetch(
        "workbench",
        "api",
        "studies",
        "synth",
        "points",
        params={"profile": "host-cpu", "deployment": "torch/onnxruntime-fp32"},
    )
    data = json.loads(r.body)
    assert (
        data["x"]["name"] == "latency"
        and data["x"]["unit"] == "ms"
        and data["y"]["name"] == "accuracy"
    )
    assert [o["name"] for o in data["objectives"]] == ["accuracy", "latency_p50_ms"]
    assert data["profiles"] == ["host-cpu", "sim-board"]
    assert "torch/onnxruntime-int8-static" in data["deployments"]
    (series,) = data["series"]
    assert series["key"] == "host-cpu/torch/onnxruntime-fp32" and series["source"] == "measured"
    n = series["n"]
    assert n > 250 and all(len(series[k]) == n for k in ("trial", "x", "y", "predicted", "pareto"))
    assert all(
        isinstance(v, (int, float)) for v in series["x"]
    )  # flat arrays, no per-point objects
    # the same front as the full-results path of the library (StudyResults.front)
    from workbench.study import load_results, open_study

    res = load_results(open_study("synth", f"sqlite:///{root / 'runs' / 'workbench.db'}"))
    front = res.front("host-cpu/torch/onnxruntime-fp32", "latency", "accuracy")
    flagged = [series["trial"][i] for i in range(n) if series["pareto"][i]]
    assert sorted(flagged) == sorted(front.trials)
    assert [series["trial"][i] for i in series["front"]] == front.trials  # ordered by latency
    assert series["knee"] == front.knee
    assert set(data["front_arch"]) == {str(t) for t in front.trials}
    assert r.headers["X-Workbench-Cache"] == "miss"
    again = await jp_fetch(
        "workbench",
        "api",
        "studies",
        "synth",
        "points",
        params={"profile": "host-cpu", "deployment": "torch/onnxruntime-fp32"},
    )
    assert again.headers["X-Workbench-Cache"] == "hit" and again.body == r.body


async def test_points_default_to_the_objective_deployment_and_mark_predictions(jp_fetch, root):
    data = await get_json(jp_fetch, "studies", "synth", "points")
    assert data["profile"] == "host-cpu"
    import collections

    import optuna

    study = optuna.load_study(
        study_name="synth", storage=f"sqlite:///{root / 'runs' / 'workbench.db'}"
    )
    most = collections.Counter(
        t.user_attrs.get("objective_deployment") for t in study.get_trials() if t.values
    ).most_common(1)[0][0]
    assert data["deployment"] == most.split("/", 1)[1]
    sim = await get_json(
        jp_fetch,
        "studies",
        "synth",
        "points",
        profile="sim-board",
        deployment="all",
        x="size",
        y="accuracy",
    )
    assert len(sim["series"]) == 4 and {s["source"] for s in sim["series"]} == {"predicted"}
    assert all(set(s["predicted"]) == {1} for s in sim["series"])
    assert sim["x"] == {
        "name": "size",
        "label": "size on disk",
        "unit": "bytes",
        "direction": "minimize",
    }
    # one reference point for every deployment, so their hypervolumes compare
    assert all(s["hypervolume"] > 0 for s in sim["series"])


async def test_points_refuse_bad_arguments_by_name(jp_fetch, root):
    code, body = await error_of(jp_fetch, "studies", "synth", "points", x="speed")
    assert code == 400 and body["message"].startswith("x must be one of accuracy, latency")
    code, body = await error_of(jp_fetch, "studies", "synth", "points", profile="nope")
    assert code == 400 and "host-cpu, sim-board" in body["message"]
    code, body = await error_of(jp_fetch, "studies", "synth", "points", deployment="tflite")
    assert code == 400 and "torch/onnxruntime-fp32" in body["message"]
    code, body = await error_of(jp_fetch, "studies", "nope", "points")
    assert (
        code == 404
        and body["message"]
        == "unknown study in sqlite:///runs/workbench.db 'nope'; known: synth, synth_small"
    )


async def test_the_index_cache_notices_new_trials(jp_fetch, root):
    first = await jp_fetch("workbench", "api", "studies", "synth_small", "points")
    assert first.headers["X-Workbench-Cache"] == "miss"
    assert json.loads(first.body)["n_trials"] == 20
    from workbench.study import make_synthetic_study

    make_synthetic_study(f"sqlite:///{root / 'runs' / 'workbench.db'}", "another", 3)
    same = await jp_fetch("workbench", "api", "studies", "synth_small", "points")
    assert same.headers["X-Workbench-Cache"] == "hit"
    import optuna

    study = optuna.load_study(
        study_name="synth_small", storage=f"sqlite:///{root / 'runs' / 'workbench.db'}"
    )
    study.enqueue_trial({})  # a new (waiting) trial changes the study
    changed = await jp_fetch("workbench", "api", "studies", "synth_small", "points")
    assert (
        changed.headers["X-Workbench-Cache"] == "miss"
        and json.loads(changed.body)["n_trials"] == 21
    )


async def test_study_detail_trials_page_and_one_trial(jp_fetch, root):
    d = await get_json(jp_fetch, "studies", "synth")
    assert d["n_trials"] == 300 and d["profiles"] == ["host-cpu", "sim-board"]
    sources = {k["key"]: k["source"] for k in d["keys"]}
    assert (
        sources["host-cpu/torch/torch-fp32"] == "measured"
        and sources["sim-board/torch/torch-fp32"] == "predicted"
    )
    page = await get_json(
        jp_fetch, "studies", "synth", "trials", limit="5", sort="accuracy", order="desc"
    )
    assert page["total"] == 300 and len(page["trials"]) == 5
    accs = [t["values"][0] for t in page["trials"]]
    assert accs == sorted(accs, reverse=True)
    rest = await get_json(
        jp_fetch, "studies", "synth", "trials", limit="500", state="complete", sort="accuracy"
    )
    assert max(t["values"][0] for t in rest["trials"]) == accs[0]
    assert all(t["state"] == "COMPLETE" for t in rest["trials"])
    last = await get_json(jp_fetch, "studies", "synth", "trials", limit="2")
    assert [t["number"] for t in last["trials"]] == [299, 298]
    number = page["trials"][0]["number"]
    t = await get_json(jp_fetch, "studies", "synth", "trials", str(number))
    assert t["number"] == number and t["values"][0] == pytest.approx(accs[0], rel=1e-5)
    assert {m["key"] for m in t["measurements"]} >= {
        "host-cpu/torch/onnxruntime-fp32",
        "sim-board/torch/torch-fp32",
    }
    assert all(m["source"] in ("measured", "predicted") for m in t["measurements"])
    assert set(t["params"]) == {"stem_channels", "depth", "width", "kernel", "expansion"}
    code, body = await error_of(jp_fetch, "studies", "synth", "trials", "4000")
    assert code == 404 and "no trial 4000" in body["message"]
    code, body = await error_of(jp_fetch, "studies", "synth", "trials", limit="100000")
    assert code == 400 and "limit" in body["message"]


async def test_profiles_include_the_roots_folder_and_report_bad_files(jp_fetch, root):
    (root / "hwprofiles").mkdir()
    (root / "hwprofiles" / "my-board.yaml").write_text(
        "name: my-board\nkind: simulated\ndevice: cpu\nthreads: 4\nprecisions: [fp32]\n"
        "cores: {value: 4, source: datasheet}\n"
        "peak_gops: {fp32: {value: 20, source: datasheet}}\n"
        "memory_bandwidth_gbs: {value: 4, source: datasheet}\n"
    )
    (root / "hwprofiles" / "broken.yaml").write_text("name: broken\nkind: sometimes\n")
    data = await get_json(jp_fetch, "profiles")
    by_name = {p["name"]: p for p in data["profiles"]}
    assert by_name["host-cpu"]["kind"] == "measured" and by_name["host-cpu"]["source"] == "measured"
    assert (
        by_name["my-board"]["source"] == "predicted"
        and by_name["my-board"]["file"] == "hwprofiles/my-board.yaml"
    )
    (err,) = data["errors"]
    assert err["name"] == "broken" and "kind" in err["message"]


async def test_configs_lists_search_yaml_under_the_root(jp_fetch, root):
    from tests.server.conftest import write_config

    write_config(root, "alpha")
    (root / "project" / "search").mkdir(parents=True)
    (root / "project" / "search" / "beta.yml").write_text("schema: 1\n")
    (root / "notes.yaml").write_text("a: 1\n")
    data = await get_json(jp_fetch, "configs")
    assert [c["path"] for c in data["configs"]] == ["project/search/beta.yml", "search/alpha.yaml"]


@pytest.mark.parametrize(
    "path, status",
    [
        ("../outside.yaml", 403),
        ("search/../../outside.yaml", 403),
        ("/etc/passwd", 403),
        ("OUTSIDE_ABSOLUTE", 403),
        ("search/link.yaml", 403),  # a symlink inside the root pointing outside it
        ("search/missing.yaml", 404),
        ("runs/workbench.db", 400),
        ("", 400),
    ],
)
async def test_config_paths_are_confined_to_the_root(jp_fetch, root, tmp_path, path, status):
    outside = tmp_path / "outside.yaml"
    from tests.conftest import tiny_config_dict

    outside.write_text(json.dumps(tiny_config_dict("outside")))
    os.symlink(outside, root / "search" / "link.yaml")
    if path == "OUTSIDE_ABSOLUTE":
        path = str(outside)
    for endpoint in ("jobs", "configs"):
        code, body = await error_of(
            jp_fetch, endpoint, method="POST", body={"config": path, "path": path}
        )
        assert code == status, (endpoint, path, body)
        assert body["message"] and "\n" not in body["message"]
    jobs = await get_json(jp_fetch, "jobs")
    assert jobs["jobs"] == []  # nothing was started


async def test_a_malformed_config_is_refused_with_the_validators_line(jp_fetch, root):
    (root / "search" / "bad.yaml").write_text(
        "schema: 1\nstudy: {trials: many}\nspace: {family: mlp}\n"
    )
    for endpoint in ("jobs", "configs"):
        code, body = await error_of(
            jp_fetch,
            endpoint,
            method="POST",
            body={"config": "search/bad.yaml", "path": "search/bad.yaml"},
        )
        assert code == 400, body
        assert (
            "study.trials" in body["message"]
            and "bad.yaml" in body["message"]
            and "\n" not in body["message"]
        )
    code, body = await error_of(
        jp_fetch, "jobs", method="POST", body={"config": "search/bad.yaml", "trials": 0}
    )
    assert code == 400 and "trials" in body["message"]
    assert (await get_json(jp_fetch, "jobs"))["jobs"] == []


async def test_the_server_answers_while_a_large_study_loads(jp_fetch, root):
    """Status requests sent while a cold points request loads are answered: storage reads are
    off the event loop, and the index is built in the worker process (the body says so)."""
    from workbench.study import make_synthetic_study

    make_synthetic_study(f"sqlite:///{root / 'runs' / 'workbench.db'}", "large", 4000, seed=3)
    # listing a large study starts the index worker; wait until it runs (and its prefetch is done)
    await get_json(jp_fetch, "studies")
    from workbench.server._worker import shared_loader

    for _ in range(600):
        if shared_loader().ready():
            break
        await asyncio.sleep(0.1)
    assert shared_loader().ready()
    import optuna

    optuna.load_study(
        study_name="large", storage=f"sqlite:///{root / 'runs' / 'workbench.db'}"
    ).enqueue_trial({})
    # the enqueued trial made any prefetched index stale: this load is cold
    statuses: list[int] = []

    async def points() -> dict:
        resp = await jp_fetch(
            "workbench",
            "api",
            "studies",
            "large",
            "points",
            params={"deployment": "all"},
            request_timeout=120,
        )
        return json.loads(resp.body)

    async def status() -> None:
        for _ in range(3):
            statuses.append((await jp_fetch("workbench", "api", "status")).code)

    body, _ = await asyncio.gather(points(), status())
    # the cold index was built in the worker process, so the event loop stayed free for the
    # status requests sent meanwhile (which order they finish in is the machine's business)
    assert body["index_loaded_by"] == "process" and body["n_trials"] == 4001
    assert statuses == [200, 200, 200]


def test_storage_urls_resolve_against_the_root(tmp_path):
    from workbench.server._storage import resolve_storage

    ref = resolve_storage(None, tmp_path)
    assert (
        ref.url == f"sqlite:///{tmp_path.resolve() / 'runs' / 'workbench.db'}"
        and ref.display == "sqlite:///runs/workbench.db"
    )
    ref = resolve_storage("sqlite:////abs/elsewhere.db", tmp_path)
    assert ref.url == "sqlite:////abs/elsewhere.db" and ref.display == "sqlite:////abs/elsewhere.db"
    ref = resolve_storage("postgresql://u:pw@db/x", tmp_path)
    assert ref.url == "postgresql://u:pw@db/x" and ref.display == "postgresql://u:***@db/x"
    assert resolve_storage("", tmp_path, "sqlite:///data/s.db").display == "sqlite:///data/s.db"


def test_point_arrays_match_the_index(tmp_path):
    """The view's arrays are the index's columns (six significant digits), in trial order."""
    from workbench.server._views import StudyViews
    from workbench.study import load_index, make_synthetic_study

    url = f"sqlite:///{tmp_path / 'runs' / 'workbench.db'}"
    make_synthetic_study(url, "s", 60, seed=4)
    views = StudyViews(tmp_path)
    body, hit = views.points(None, "s", deployment="torch/torch-fp32", x="memory", y="accuracy")
    data = json.loads(body)
    idx = load_index(url, "s")
    rows, xs, ys, _ = idx.points("host-cpu/torch/torch-fp32", "memory", "accuracy")
    (s,) = data["series"]
    assert s["trial"] == idx.numbers[rows].tolist()
    np.testing.assert_allclose(s["x"], xs, rtol=1e-5)
    np.testing.assert_allclose(s["y"], ys, rtol=1e-5)
    assert not hit and re.fullmatch(r"[\x20-\x7e]+", body.decode())  # compact ASCII JSON, no NaN
    assert Path(tmp_path / "runs" / "workbench.db").exists()


def test_the_lean_plot_index_matches_the_full_index(tmp_path):
    """The Pareto view reads a lean index (points only); its tables are the library's."""
    from workbench.study import load_index, make_synthetic_study, open_storage

    def load_points_index(st, name):
        return load_index(st, name, lean=True)

    url = f"sqlite:///{tmp_path / 'w.db'}"
    make_synthetic_study(url, "s", 120, profiles=("host-cpu", "sim"), seed=5, fail_fraction=0.1)
    st = open_storage(url, heartbeat=False)
    lean, full = load_points_index(st, "s"), load_index(st, "s")
    assert (
        lean.numbers.tolist() == full.numbers.tolist()
        and lean.states.tolist() == full.states.tolist()
    )
    assert lean.keys() == full.keys() and lean.objective_key == full.objective_key
    for key in full.tables:
        for field in full.tables[key]:
            np.testing.assert_array_equal(lean.tables[key][field], full.tables[key][field])
    # a trial that failed before measuring has no points and needs none
    import optuna

    optuna.load_study(study_name="s", storage=st).add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={"failure": {"stage": "sample"}}
        )
    )
    again = load_points_index(st, "s")
    assert len(again) == 121 and np.isnan(again.tables["host-cpu/torch/torch-fp32"]["accuracy"][-1])
    assert again.arch[-1] == ""  # the lean index leaves architectures out
