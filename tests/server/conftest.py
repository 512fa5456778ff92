"""A real Jupyter server (pytest-jupyter's ``jp_fetch``, token authentication on) with the
Workbench extension enabled, rooted in a temporary folder holding a study database."""

from __future__ import annotations

import json
import shutil
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import yaml

# jp_fetch, jp_serverapp and their fixtures (and the async test hooks), for this folder only
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.conftest import tiny_config_dict


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"workbench.server": True},
            "disable_check_xsrf": False,
        },
    }


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study database made once: ``synth`` (300 trials, a measured and a simulated profile) and
    ``synth_small`` (20 trials)."""
    from workbench.study import make_synthetic_study

    d = tmp_path_factory.mktemp("synthetic-db")
    url = f"sqlite:///{d / 'workbench.db'}"
    make_synthetic_study(url, "synth", 300, profiles=("host-cpu", "sim-board"), seed=1)
    make_synthetic_study(url, "synth_small", 20, seed=2)
    return d / "workbench.db"


@pytest.fixture
def root(jp_root_dir: Path, synthetic_db: Path) -> Path:
    """The server root: ``runs/workbench.db`` (a copy of the synthetic database) and ``search/``."""
    (jp_root_dir / "runs").mkdir()
    # copied aside and renamed: the server, already started, may look at the default storage at
    # any moment and must find it whole or absent
    part = jp_root_dir / "runs" / ".workbench.db.part"
    shutil.copy(synthetic_db, part)
    part.replace(jp_root_dir / "runs" / "workbench.db")
    (jp_root_dir / "search").mkdir()
    return jp_root_dir


def write_config(root: Path, name: str, **over: Any) -> str:
    """A tiny MLP config at ``search/<name>.yaml``; returns its root-relative path."""
    path = root / "search" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(name, **over)))
    return f"search/{name}.yaml"


async def get_json(jp_fetch: Any, *parts: str, **params: Any) -> Any:
    # generous: the first request starts the storage worker process, slow on a loaded 2-core machine
    r = await jp_fetch("workbench", "api", *parts, params=params, request_timeout=120)
    return json.loads(r.body)


async def error_of(
    jp_fetch: Any, *parts: str, method: str = "GET", body: Any = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a request expected to fail."""
    kw: dict[str, Any] = {
        "method": method,
        "raise_error": False,
        "params": params,
        "request_timeout": 120,
    }
    if body is not None:
        kw["body"] = json.dumps(body)
    r = await jp_fetch("workbench", "api", *parts, **kw)
    return r.code, json.loads(r.body) if r.body else {}


def _cookies(response: Any) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {k: v.value for k, v in jar.items()}


async def cookie_login(jp_fetch: Any, jp_serverapp: Any) -> tuple[str, str]:
    """Log in as a browser does (the login form with its XSRF token, no token header) and
    return (the Cookie header of that session, the ``_xsrf`` cookie included; the XSRF token)."""
    noauth = {"Authorization": ""}
    page = await jp_fetch("login", headers=noauth, raise_error=False)
    xsrf = _cookies(page)["_xsrf"]
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch(
        "login",
        method="POST",
        body=f"password={token}&_xsrf={xsrf}",
        follow_redirects=False,
        raise_error=False,
        headers={
            **noauth,
            "Cookie": f"_xsrf={xsrf}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert login.code == 302, login.body
    cookie = "; ".join(f"{k}={v}" for k, v in {**_cookies(login), "_xsrf": xsrf}.items())
    return cookie, xsrf
