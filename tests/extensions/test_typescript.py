"""The panel's TypeScript unit tests (Jest, in jsdom), run from pytest so one command covers
every layer: server endpoints, TypeScript units, and the real browser."""

from __future__ import annotations

import subprocess

from tests.extensions.build import EXT, ensure_node_modules, env, jlpm


def test_typescript_compiles_strictly():
    ensure_node_modules()
    proc = subprocess.run(
        [jlpm(), "tsc", "--noEmit"], cwd=EXT, env=env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_jest_unit_tests_pass():
    ensure_node_modules()
    proc = subprocess.run(
        [jlpm(), "jest", "--ci"], cwd=EXT, env=env(), capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Tests:" in out and " failed" not in out.split("Tests:")[1].splitlines()[0]
