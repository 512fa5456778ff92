"""A check's result saved beside the candidate study's outputs, and read back by the report and
the notebook explorer.

The file is ``<study outputs>/check.json`` (``runs/<study>/check.json`` for a study run with
``--out runs``): the folder holding the study's artifact store, which ``run`` records in the
study. One file per candidate study, the latest check's, written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError
from workbench.check._result import CheckResult

__all__ = ["CHECK_FILE", "check_path", "find_check", "load_check", "save_check", "study_outputs"]

CHECK_FILE = "check.json"


def study_outputs(study_attrs: Mapping[str, Any]) -> Path | None:
    """The folder of a study's outputs (report, results, artifacts), from the artifact store
    ``run`` records in the study's attributes; None for a study without one."""
    store = study_attrs.get("artifact_store")
    return Path(str(store)).parent if store else None


def check_path(outputs: str | os.PathLike[str]) -> Path:
    """Where the check result of the study whose outputs are in ``outputs`` is saved."""
    return Path(outputs) / CHECK_FILE


def save_check(result: CheckResult, outputs: str | os.PathLike[str]) -> Path:
    """Write ``result`` as JSON to :func:`check_path` of ``outputs`` (atomically); set and
    return ``result.path``."""
    from workbench._files import atomic_write_text
    from workbench._json import dumps

    result.path = atomic_write_text(check_path(outputs), dumps(result.to_dict(), indent=1) + "\n")
    return result.path


def load_check(path: str | os.PathLike[str]) -> CheckResult:
    """The result saved at ``path`` (the file, or the outputs folder holding it); a ConfigError
    of one line naming the file when it is missing or not a check result."""
    p = Path(path)
    if p.is_dir():
        p = check_path(p)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no check result here (run `workbench check`)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read the check result: {err}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{p}: the check result is not JSON ({err.msg}, line {err.lineno})"
        ) from None
    result = CheckResult.from_dict(data, source=str(p))
    result.path = p
    return result


def find_check(study_name: str, study_attrs: Mapping[str, Any]) -> CheckResult | None:
    """The saved check of study ``study_name`` (None when it has none); a ConfigError of one line
    when the saved file is malformed. A file left by a check of another study is not its."""
    outputs = study_outputs(study_attrs)
    if outputs is None or not check_path(outputs).is_file():
        return None
    result = load_check(check_path(outputs))
    return result if result.candidate_study == study_name else None
