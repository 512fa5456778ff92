"""Export points of a study: their table as CSV, and their deployable artifacts with a manifest
(written by :func:`workbench.study._export.export_artifacts`, the one exporter)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench._errors import StorageError
from workbench._json import dumps
from workbench.study._export import (
    MANIFEST_SCHEMA,
    artifact_name,
    download_artifact,
    export_artifacts,
    manifest_entry,
    read_points,
    stored_as_folder,
    why_missing,
)
from workbench.widgets._source import StudyRef, TrialDetail

__all__ = ["ExportResult", "artifact_name", "export_artifact", "export_points", "measurement_dicts"]


@dataclass
class ExportResult:
    folder: Path
    csv: Path | None = None
    manifest: Path | None = None
    files: list[Path] = field(default_factory=list)
    # one line per point without a file, saying why
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.files)} artifact file(s)"]
        if self.csv is not None:
            parts.insert(0, f"table {self.csv.name}")
        if self.missing:
            parts.append(f"{len(self.missing)} without a file")
        return f"exported to {self.folder}: " + ", ".join(parts)


def measurement_dicts(
    ref: StudyRef, points: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The stored measurement dicts of ``(trial number, key)`` points."""
    return read_points(ref.storage, ref.study_id, points).measurements


def export_points(
    ref: StudyRef,
    records: Sequence[dict[str, Any]],
    folder: str | Path,
    *,
    name: str = "selection",
    artifacts: bool = True,
) -> ExportResult:
    """Write ``records`` (rows with at least ``trial`` and ``key``) to ``folder/name.csv`` and,
    with ``artifacts``, each point's artifact file plus ``folder/name-manifest.json``."""
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    res = ExportResult(dest)
    res.csv = dest / f"{name}.csv"
    cols: dict[str, None] = {}
    for r in records:
        cols.update(dict.fromkeys(r))
    with open(res.csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols) or ["trial", "key"])
        w.writeheader()
        for r in records:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    if not artifacts:
        return res
    points = [(int(r["trial"]), str(r["key"])) for r in records]
    stored = read_points(ref.storage, ref.study_id, points)
    done = export_artifacts(
        ref.name,
        points,
        stored.measurements,
        ref.artifact_store(),
        dest,
        specs=stored.specs,
        manifest_name=f"{name}-manifest.json",
    )
    res.manifest, res.files, res.missing = done.manifest, done.files, done.missing
    return res


def export_artifact(ref: StudyRef, trial: TrialDetail, key: str, folder: str | Path) -> Path:
    """Copy the artifact of ``trial``'s measurement ``key`` to ``folder`` with a JSON sidecar
    (spec, measurement with its receipt); returns the artifact's path."""
    m = trial.user_attrs.get(f"measure:{key}")
    art = (m or {}).get("meta", {}).get("artifact_id") if m else None
    if not art:
        raise StorageError(f"trial {trial.number} {key}: {why_missing(m)}")
    store = ref.artifact_store()
    if store is None:
        raise StorageError(
            f"the artifact store of study {ref.name!r} is not on this disk "
            f"({ref.user_attrs().get('artifact_store')})"
        )
    dest = Path(folder)
    path = download_artifact(
        store,
        art,
        dest / artifact_name(trial.number, key, m or {}),
        folder=stored_as_folder(m),
    )
    sidecar = path.with_name(path.name + ".json")
    entry = manifest_entry(trial.number, key, m, spec=trial.user_attrs.get("spec"), file=path.name)
    entry.update(
        arch=trial.user_attrs.get("arch"), float_accuracy=trial.user_attrs.get("float_accuracy")
    )
    sidecar.write_text(
        dumps({"schema": MANIFEST_SCHEMA, "study": ref.name, **entry}), encoding="utf-8"
    )
    return path
