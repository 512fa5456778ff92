"""The regression gate's real tiny studies (``baseline``, ``worse_config``, ``worse_run``) live in
tests/conftest.py, shared with the report and widget tests that draw a check's result."""

from __future__ import annotations

from tests.conftest import FAST_CHECK as FAST_CHECK
