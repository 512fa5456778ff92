#!/usr/bin/env bash
# Regenerate the screenshots in docs/ from the real-browser tests (JupyterLab + Chromium).
# Run from anywhere, with the test extras installed; extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
WORKBENCH_SCREENSHOTS="$repo/docs" python -m pytest -q -p no:cacheprovider \
    tests/browser/test_widgets.py tests/browser/test_panel.py "$@"
