"""Export points of a study: their table as CSV, and their deployable artifacts with a manifest."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench._errors import StorageError
from workbench._json import dumps
from workbench.widgets._source import StudyRef, TrialDetail, download

__all__ = ["ExportResult", "artifact_name", "export_artifact", "export_points", "measurement_dicts"]

_EXT = {"onnxruntime": ".onnx", "torch": ".pt2", "litert": ".tflite", "keras": ".keras"}


@dataclass
class ExportResult:
    folder: Path
    csv: Path | None = None
    manifest: Path | None = None
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(
        default_factory=list
    )  # one line per point without a file, saying why

    def summary(self) -> str:
        parts = [f"{len(self.files)} artifact file(s)"]
        if self.csv is not None:
            parts.insert(0, f"table {self.csv.name}")
        if self.missing:
            parts.append(f"{len(self.missing)} without a file")
        return f"exported to {self.folder}: " + ", ".join(parts)


def artifact_name(trial: int, key: str, measurement: dict[str, Any]) -> str:
    backend = str(measurement.get("backend", ""))
    fmt = str((measurement.get("meta") or {}).get("format", ""))
    ext = ".pt" if backend == "torch" and "pickled" in fmt else _EXT.get(backend, ".bin")
    return f"trial{trial}-{key.replace('/', '-')}{ext}"


def _why_missing(m: dict[str, Any] | None) -> str:
    if m is None:
        return "no such measurement"
    meta = m.get("meta") or {}
    if meta.get("synthetic"):
        return "generated (synthetic) point: no artifact exists"
    if m.get("status") != "ok":
        return f"the deployment failed at {m.get('stage')}: {m.get('error')}"
    if m.get("source") == "predicted":
        return "predicted point: no artifact was built on this host"
    return "no artifact was stored for it"


def measurement_dicts(
    ref: StudyRef, points: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The stored measurement dicts of ``(trial number, key)`` points, read in a few queries."""
    wanted = {(int(n), k) for n, k in points}
    out: dict[tuple[int, str], dict[str, Any]] = {}
    if not wanted:
        return out
    engine = getattr(ref.storage, "engine", None)
    if engine is None:
        for n in sorted({n for n, _ in wanted}):
            t = ref.trial(n)
            for n2, k in wanted:
                if n2 == n and f"measure:{k}" in t.user_attrs:
                    out[(n, k)] = t.user_attrs[f"measure:{k}"]
        return out
    from sqlalchemy import text

    numbers = sorted({n for n, _ in wanted})
    keys = sorted({f"measure:{k}" for _, k in wanted})
    key_ph = ", ".join(f":k{i}" for i in range(len(keys)))
    with engine.connect() as conn:
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            num_ph = ", ".join(f":n{i}" for i in range(len(chunk)))
            q = text(
                "SELECT t.number, a.key, a.value_json FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
                f"WHERE t.study_id = :sid AND t.number IN ({num_ph}) AND a.key IN ({key_ph})"
            )
            params: dict[str, Any] = {"sid": ref.study_id}
            params.update({f"n{i}": n for i, n in enumerate(chunk)})
            params.update({f"k{i}": k for i, k in enumerate(keys)})
            for number, key, value in conn.execute(q, params):
                point = (int(number), key[len("measure:") :])
                if point in wanted:
                    out[point] = json.loads(value)
    return out


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
    ms = measurement_dicts(ref, points)
    store = ref.artifact_store()
    manifest = []
    for n, key in dict.fromkeys(points):
        m = ms.get((n, key))
        art = (m or {}).get("meta", {}).get("artifact_id") if m else None
        entry: dict[str, Any] = {"trial": n, "key": key}
        if m is not None:
            lat = m.get("latency") or {}
            entry.update(
                {
                    "source": m.get("source"),
                    "accuracy": m.get("accuracy"),
                    "latency_p50_ms": lat.get("p50_ms"),
                    "latency_p90_ms": lat.get("p90_ms"),
                    "size_bytes": m.get("size_bytes"),
                    "int8_scheme": ((m.get("meta") or {}).get("int8_scheme") or {}).get("label"),
                }
            )
        if not art or store is None:
            why = _why_missing(m) if not art else "the study's artifact store is not on this disk"
            entry["error"] = why
            res.missing.append(f"trial {n} {key}: {why}")
        else:
            fname = artifact_name(n, key, m or {})
            try:
                res.files.append(download(store, art, dest / fname))
                entry["file"] = fname
            except StorageError as err:
                entry["error"] = str(err)
                res.missing.append(f"trial {n} {key}: {err}")
        manifest.append(entry)
    res.manifest = dest / f"{name}-manifest.json"
    res.manifest.write_text(dumps({"study": ref.name, "points": manifest}), encoding="utf-8")
    return res


def export_artifact(ref: StudyRef, trial: TrialDetail, key: str, folder: str | Path) -> Path:
    """Copy the artifact of ``trial``'s measurement ``key`` to ``folder`` with a JSON sidecar
    (spec, measurement with its receipt); returns the artifact's path."""
    m = trial.user_attrs.get(f"measure:{key}")
    art = (m or {}).get("meta", {}).get("artifact_id") if m else None
    if not art:
        raise StorageError(f"trial {trial.number} {key}: {_why_missing(m)}")
    store = ref.artifact_store()
    if store is None:
        raise StorageError(
            f"the artifact store of study {ref.name!r} is not on this disk ({ref.user_attrs().get('artifact_store')})"
        )
    dest = Path(folder)
    path = download(store, art, dest / artifact_name(trial.number, key, m or {}))
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(
        dumps(
            {
                "study": ref.name,
                "trial": trial.number,
                "key": key,
                "spec": trial.user_attrs.get("spec"),
                "arch": trial.user_attrs.get("arch"),
                "float_accuracy": trial.user_attrs.get("float_accuracy"),
                "measurement": m,
            }
        ),
        encoding="utf-8",
    )
    return path
