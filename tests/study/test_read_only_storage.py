"""open_storage(read_only=True) on real SQLite files: reads, and never creates or changes one."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from workbench._errors import StorageError
from workbench.study import make_synthetic_study, open_storage


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_read_only_storages_read_and_never_write(tmp_path):
    import optuna

    db = tmp_path / "s.db"
    make_synthetic_study(f"sqlite:///{db}", "s", 5, seed=0)
    before = _digest(db)
    st = open_storage(f"sqlite:///{db}", heartbeat=False, read_only=True)
    assert [s.study_name for s in st.get_all_studies()] == ["s"]
    assert len(optuna.load_study(study_name="s", storage=st).trials) == 5
    with pytest.raises(optuna.exceptions.StorageInternalError):  # SQLite: readonly
        st.create_new_study([optuna.study.StudyDirection.MINIMIZE], "new")
    st.engine.dispose()
    assert _digest(db) == before

    missing = tmp_path / "sub" / "missing.db"
    with pytest.raises(StorageError, match="cannot open storage"):
        open_storage(f"sqlite:///{missing}", read_only=True)
    assert not missing.parent.exists()

    notes = tmp_path / "notes.db"
    con = sqlite3.connect(notes)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.commit()
    con.close()
    before = _digest(notes)
    with pytest.raises(StorageError, match="cannot open storage"):
        open_storage(f"sqlite:///{notes}", read_only=True)
    assert _digest(notes) == before
