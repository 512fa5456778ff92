"""Under ``CI=true`` a test that would skip fails instead: CI installs every component the suite
uses (Chromium, PostgreSQL, Node, the optional Python packages), so a skip there means a test
that did not run while the run looks green.

A skip that is right on some machines whatever is installed (a code path for a CPU feature this
host lacks) says so with a reason starting ``not applicable:`` and stays a skip.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ALLOWED_PREFIX = "not applicable:"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _to_failure(report: Any, what: str) -> None:
    reason = _reason(report.longrepr).removeprefix("Skipped: ")
    if reason.startswith(ALLOWED_PREFIX):
        return
    report.outcome = "failed"
    report.longrepr = f"{what} skipped under CI=true (CI must run it): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _to_failure(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator:
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped:
        _to_failure(report, collector.nodeid)
