"""Hostile and malformed requests against a real Jupyter server and real SQLite files: every
one answers 4xx with one line, and no database is created or changed by a read."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import cookie_login, error_of, get_json, write_config
from workbench.server._storage import OUTSIDE_ROOT


def _state(path: Path) -> tuple[str, int]:
    """(sha256 of the bytes, mtime in ns) of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _notes_db(path: Path) -> Path:
    """Someone else's SQLite database: one table, not an Optuna storage."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.execute("INSERT INTO notes VALUES ('mine')")
    con.commit()
    con.close()
    return path


def _one_line(code: int, body: dict[str, Any]) -> str:
    assert 400 <= code < 500, (code, body)
    message = body["message"]
    assert message and "\n" not in message and "internal error" not in message, message
    return message


def _tables(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        con.close()


# every spelling of an SQLite file that SQLAlchemy accepts
SPELLINGS = [
    "sqlite:///{name}",
    "sqlite+pysqlite:///{name}",
    "sqlite+aiosqlite:///{name}",
    "sqlite+pysqlite:///file:{name}?mode=rwc&uri=true",
    "sqlite+pysqlite:///./sub/../{name}",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_no_sqlite_spelling_creates_or_changes_a_file(jp_fetch, root, spelling):
    other = _notes_db(root / "other.db")
    before = _state(other)
    for endpoint in ("studies", "status", ("studies", "synth")):
        parts = endpoint if isinstance(endpoint, tuple) else (endpoint,)
        url = spelling.format(name="other.db")
        code, body = await error_of(jp_fetch, *parts, storage=url)
        if parts == ("status",):
            assert code == 200  # status reads nothing
        else:
            assert "not an Optuna study storage" in _one_line(code, body)
        # a file that is not there is not made, in the root or in a new folder
        for missing in ("made.db", "new/made.db"):
            r = await error_of(jp_fetch, *parts, storage=spelling.format(name=missing))
            assert r[0] in (200, 400, 404), r
            assert not (root / missing).exists() and not (root / "new").exists()
    assert _state(other) == before and _tables(other) == ["notes"]


async def test_an_optuna_storage_read_through_any_driver_is_not_written(jp_fetch, root):
    db = root / "runs" / "workbench.db"
    before = _state(db)
    for url in ("sqlite+pysqlite:///runs/workbench.db", f"sqlite:///file:{db}?uri=true"):
        data = await get_json(jp_fetch, "studies", storage=url)
        assert {s["name"] for s in data["studies"]} == {"synth", "synth_small"}
        page = await get_json(jp_fetch, "studies", "synth_small", "trials", storage=url)
        assert page["total"] == 20
    assert _state(db) == before


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite+pysqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///file::memory:?uri=true",
        "sqlite:///file:shared?mode=memory&cache=shared&uri=true",
    ],
)
async def test_in_memory_sqlite_is_refused_in_every_spelling(jp_fetch, root, url):
    for endpoint in ("studies", "status"):
        code, body = await error_of(jp_fetch, endpoint, storage=url)
        assert "in-memory SQLite storage holds no studies" in _one_line(code, body)


async def test_files_outside_the_root_are_refused_without_telling_whether_they_exist(
    jp_fetch, root, synthetic_db, tmp_path
):
    link = root / "link.db"
    link.symlink_to(synthetic_db)  # an Optuna storage outside the root, reached by a link
    outside = [
        "sqlite:////etc/shadow",
        "sqlite:////etc/no-such-file.db",
        f"sqlite+pysqlite:///{synthetic_db}",
        f"sqlite:///{tmp_path / 'missing.db'}",
        "sqlite:///../outside.db",
        "sqlite:///link.db",
        "sqlite:///file:/etc/shadow?uri=true",
        "sqlite:///~/workbench.db",
    ]
    answers = set()
    for url in outside:
        for endpoint in ("status", "studies", ("studies", "synth", "points")):
            parts = endpoint if isinstance(endpoint, tuple) else (endpoint,)
            code, body = await error_of(jp_fetch, *parts, storage=url)
            answers.add((code, _one_line(code, body)))
    assert answers == {(400, OUTSIDE_ROOT)}  # the same answer, existing file or not
    assert not (root.parent / "outside.db").exists() and not (tmp_path / "missing.db").exists()
    # a run is not launched into such a storage either
    path = write_config(root, "tiny")
    code, body = await error_of(
        jp_fetch,
        "jobs",
        method="POST",
        body={"config": path, "storage": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert (code, _one_line(code, body)) == (400, OUTSIDE_ROOT)
    assert (await get_json(jp_fetch, "jobs"))["jobs"] == []


def test_the_setting_allows_storages_outside_the_root(tmp_path, synthetic_db):
    from workbench._errors import StorageError
    from workbench.server._views import StudyViews

    root = tmp_path / "root"
    root.mkdir()
    url = f"sqlite+pysqlite:///{synthetic_db}"
    with pytest.raises(StorageError, match="outside the server root"):
        StudyViews(root).ref(url)
    allowed = StudyViews(root, outside_root=True)
    assert allowed.ref(url).url == f"sqlite:///{synthetic_db.resolve()}"
    names = {s["name"] for s in allowed.studies(url)["studies"]}
    assert names == {"synth", "synth_small"}
    # the configured default storage is read wherever it is
    assert StudyViews(root, f"sqlite:///{synthetic_db}").ref(None).sqlite_path == (
        synthetic_db.resolve()
    )


async def test_choosing_a_storage_needs_the_xsrf_token_with_cookie_login(
    jp_fetch, jp_serverapp, root
):
    """A cross-site page can make the browser send the login cookie with a GET, never the
    XSRF header: a GET that names a storage is refused without it."""
    noauth = {"Authorization": ""}
    cookie, xsrf = await cookie_login(jp_fetch, jp_serverapp)
    other = _notes_db(root / "other.db")
    before = _state(other)

    async def get(endpoint: str, headers: dict[str, str], **params: str) -> Any:
        return await jp_fetch(
            "workbench",
            "api",
            endpoint,
            params=params,
            headers={**noauth, "Cookie": cookie, **headers},
            raise_error=False,
        )

    for endpoint in ("status", "studies"):
        for url in ("sqlite:///runs/workbench.db", "sqlite+pysqlite:///made.db"):
            refused = await get(endpoint, {"Referer": "http://127.0.0.1/"}, storage=url)
            message = _one_line(refused.code, json.loads(refused.body))
            assert refused.code == 403 and "XSRF" in message
        assert (await get(endpoint, {})).code == 200  # the default storage needs no token
        ok = await get(endpoint, {"X-XSRFToken": xsrf}, storage="sqlite:///runs/workbench.db")
        assert ok.code == 200
    assert not (root / "made.db").exists() and _state(other) == before


async def test_validating_a_config_never_imports_its_callable_space(jp_fetch, root):
    marker = root / "imported.txt"
    (root / "search" / "myspace.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "def space(trial):\n    raise RuntimeError('not called')\n"
    )
    path = write_config(root, "custom", space={"callable": "myspace:space"})
    info = await get_json_post(jp_fetch, "configs", {"path": path})
    assert info["study"] == "custom"
    assert not marker.exists()
    for bad in ("os.system('touch x'):y", "myspace", "my-space:space", "myspace:space.x", ":f"):
        write_config(root, "bad", space={"callable": bad})
        code, body = await error_of(
            jp_fetch, "configs", method="POST", body={"path": "search/bad.yaml"}
        )
        assert "package.module:function" in _one_line(code, body)
    assert not marker.exists()


async def get_json_post(jp_fetch: Any, endpoint: str, body: Any) -> Any:
    r = await jp_fetch(
        "workbench", "api", endpoint, method="POST", body=json.dumps(body), request_timeout=120
    )
    return json.loads(r.body)


async def _raw(jp_fetch: Any, *parts: str, method: str = "GET", body: bytes | None = None, **p):
    r = await jp_fetch(
        "workbench",
        "api",
        *parts,
        method=method,
        body=body,
        params=p,
        raise_error=False,
        request_timeout=120,
    )
    return r.code, json.loads(r.body)


async def test_deep_and_huge_json_bodies_are_refused_before_parsing(jp_fetch, root):
    deep = b"[" * 100_000 + b"]" * 100_000
    for endpoint in ("configs", "jobs", ("jobs", "0123456789ab", "cancel")):
        parts = endpoint if isinstance(endpoint, tuple) else (endpoint,)
        code, body = await _raw(jp_fetch, *parts, method="POST", body=deep)
        assert code == 413 or "nests deeper" in _one_line(code, body)
        nested = b'{"path": ' + b'{"a": ' * 40 + b"1" + b"}" * 41
        code, body = await _raw(jp_fetch, *parts, method="POST", body=nested)
        assert "nests deeper than 32 levels" in _one_line(code, body)
        code, body = await _raw(jp_fetch, *parts, method="POST", body=b" " * (2 << 20))
        assert code == 413 and "over" in _one_line(code, body)
        # brackets inside strings are text, not nesting
        for path in ("[" * 1000, "a/" * 200_000, "x" * 300):
            text = json.dumps({"path": path, "config": path}).encode()
            code, body = await _raw(jp_fetch, *parts, method="POST", body=text)
            assert "nests" not in _one_line(code, body)
        code, body = await _raw(jp_fetch, *parts, method="POST", body=b"\xff\xfe{")
        assert "not JSON" in _one_line(code, body)


@pytest.mark.parametrize(
    ("parts", "params", "text"),
    [
        (("studies", "synth", "trials", "99999999999999999999999"), {}, "trial number"),
        (("studies", "synth", "trials", "9223372036854775808"), {}, "trial number"),
        (("studies", "synth", "trials"), {"offset": "99999999999999999999999"}, "offset"),
        (("studies", "synth", "trials"), {"limit": "1e9999"}, "limit"),
        (("studies", "synth", "trials"), {"offset": "--1"}, "offset"),
        (("studies", "synth", "trials"), {"limit": "nan"}, "limit"),
        (("jobs", "0123456789ab", "log"), {"wait": "abc"}, "wait"),
        (("jobs", "0123456789ab", "log"), {"wait": "nan"}, "wait"),
        (("jobs", "0123456789ab", "log"), {"wait": "inf"}, "wait"),
        (("jobs", "0123456789ab", "log"), {"wait": "-1"}, "wait"),
        (("jobs", "0123456789ab", "log"), {"offset": "-5"}, "offset"),
        (("jobs", "0123456789ab", "log"), {"offset": "1" * 30}, "offset"),
        (("studies",), {"storage": "postgresql+nosuchdriver://u@127.0.0.1:1/x"}, "storage"),
        (("studies",), {"storage": "not a url://\x00"}, "storage"),
        (("status",), {"storage": "://"}, "storage"),
    ],
)
async def test_malformed_arguments_answer_400_with_one_line(jp_fetch, root, parts, params, text):
    code, body = await error_of(jp_fetch, *parts, **params)
    assert code == 400 and text in _one_line(code, body), (code, body)
    assert not (root / "x.db").exists()
