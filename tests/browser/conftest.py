"""Real-browser fixtures: a JupyterLab server on 127.0.0.1 and Debian's Chromium via Playwright.

The server runs in its own process group with a token, a temporary root, settings and
workspace folders, and the news pop-up disabled; ``lab_page`` is a Playwright page already
showing JupyterLab with the application shell ready (``window.jupyterapp`` exposed).
``screenshot_dir`` is where a test saves its screenshots: the test's own ``tmp_path``, or the
folder named by ``WORKBENCH_SCREENSHOTS`` (``docs/make_images.sh`` sets it to ``docs/``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JupyterLab:
    url: str  # base URL, ending in "/"
    token: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"{self.url}{path.lstrip('/')}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            return json.loads(text) if text else {}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _require_browser_stack() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium)")
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab")


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root directory; tests put notebooks and configs here before it starts."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="module")
def lab_extra_args() -> list[str]:
    """Extra ``jupyter lab`` arguments; a test module overrides it to enable extensions."""
    return []


@pytest.fixture(scope="module")
def jupyter_lab(
    lab_root: Path, lab_extra_args: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLab]:
    _require_browser_stack()
    home = tmp_path_factory.mktemp("lab-home")
    settings = home / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    ).write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    token = secrets.token_hex(16)
    log = home / "server.log"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={lab_root}",
        "--ServerApp.allow_root=True",
        "--LabApp.expose_app_in_browser=True",
        "--ServerApp.disable_check_xsrf=False",
        *lab_extra_args,
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=lab_root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = JupyterLab(f"http://127.0.0.1:{port}/", token, lab_root, proc, log)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited early:\n{lab.log_text()[-3000:]}")
        try:
            lab.api("api/status")
            break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"JupyterLab did not start:\n{lab.log_text()[-3000:]}")
    try:
        yield lab
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(home / "runtime", ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, never a downloaded browser (a fresh temporary profile per launch)."""
    _require_browser_stack()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """The folder a test's screenshots go to: ``$WORKBENCH_SCREENSHOTS`` when set, else its
    ``tmp_path``, so a test run never rewrites the tracked pictures in ``docs/``."""
    named = os.environ.get("WORKBENCH_SCREENSHOTS")
    folder = Path(named).resolve() if named else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def lab_page(jupyter_lab: JupyterLab, browser: object) -> Iterator[object]:
    """A page showing JupyterLab, shell ready; console errors go to ``page.console_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))  # type: ignore[attr-defined]
    page.goto(jupyter_lab.lab_url(), wait_until="domcontentloaded")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell && "
        "document.querySelector('#jp-main-dock-panel')",
        timeout=90_000,
    )
    try:
        yield page
    finally:
        context.close()


def wait_kernel_idle(page: object, timeout_ms: int = 120_000) -> None:
    """Wait until the current notebook's kernel is connected and idle (the toolbar is early)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const s = w && w.sessionContext && w.sessionContext.session;
            const k = s && s.kernel;
            return k && k.connectionStatus === 'connected' && k.status === 'idle';
        }""",
        timeout=timeout_ms,
    )
