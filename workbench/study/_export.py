"""Artifact export: copy points' deployable files out of a study's artifact store, with one
manifest shape, whether ``run_study`` exports its Pareto set or a user exports a selection.

A point is ``(trial number, measurement key)``. The manifest is
``{"schema": 1, "study": name, "points": [...]}``; each point carries its trial number, key,
file (or the reason it has none), headline figures, the architecture spec, the receipt and the
full stored measurement.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench._errors import StorageError
from workbench._json import dumps
from workbench.bench import Measurement, MeasurementKey

__all__ = [
    "ARTIFACT_EXTENSIONS",
    "FOLDER_LAYOUT",
    "MANIFEST_SCHEMA",
    "ArtifactExport",
    "PointRecords",
    "artifact_extension",
    "artifact_name",
    "download_artifact",
    "export_artifacts",
    "manifest_entry",
    "pack_folder",
    "read_points",
    "stored_as_folder",
    "why_missing",
]

MANIFEST_SCHEMA = 1
#: file extension of a compiled artifact, per backend; ``.bin`` only for a backend not listed
ARTIFACT_EXTENSIONS: dict[str, str] = {
    "onnxruntime": ".onnx",
    "torch": ".pt2",
    "litert": ".tflite",
    "keras": ".keras",
    "keras-xla": ".keras",
    "openvino": ".openvino",  # a folder: model.xml and model.bin
}
#: ``meta.artifact_layout`` of an artifact that is a folder, stored as one zip of its files
FOLDER_LAYOUT = "folder-zip"
UNKNOWN_EXTENSION = ".bin"
MEASURE_PREFIX = "measure:"

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore
    from optuna.storages import BaseStorage

MeasurementLike = Measurement | Mapping[str, Any]


def _as_dict(m: MeasurementLike) -> Mapping[str, Any]:
    return m.to_dict() if isinstance(m, Measurement) else m


def artifact_extension(backend: str, fmt: str = "") -> str:
    """The file extension of an artifact of ``backend`` in format ``fmt`` (``meta.format``)."""
    if backend == "torch" and "pickled" in fmt:
        return ".pt"
    return ARTIFACT_EXTENSIONS.get(backend, UNKNOWN_EXTENSION)


def artifact_name(trial: int, key: str, measurement: MeasurementLike) -> str:
    """File name of a point's artifact: ``trial3-host-cpu-torch-onnxruntime-fp32.onnx``."""
    d = _as_dict(measurement)
    fmt = str((d.get("meta") or {}).get("format", ""))
    parts = MeasurementKey.parse(key)
    stem = f"trial{int(trial)}-{parts.profile}-{parts.framework}-{parts.deployment}"
    return stem + artifact_extension(str(d.get("backend", "")), fmt)


def why_missing(m: MeasurementLike | None) -> str:
    """Why a point has no artifact file, in one line."""
    if m is None:
        return "no such measurement"
    d = _as_dict(m)
    meta = d.get("meta") or {}
    if meta.get("synthetic"):
        return "generated (synthetic) point: no artifact exists"
    if d.get("status") != "ok":
        return f"the deployment failed at {d.get('stage')}: {d.get('error')}"
    if d.get("source") == "predicted":
        return "predicted point: no artifact was built on this host"
    return "no artifact was stored for it"


def stored_as_folder(m: MeasurementLike | None) -> bool:
    """Whether ``m``'s artifact is a folder, stored as a zip of its files."""
    return m is not None and (_as_dict(m).get("meta") or {}).get("artifact_layout") == FOLDER_LAYOUT


def pack_folder(folder: Path, dest: Path) -> Path:
    """Zip ``folder``'s files into ``dest``, names relative to it, in sorted order with a fixed
    date: the same files give the same bytes."""
    import zipfile

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for f in files:
            info = zipfile.ZipInfo(
                f.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, f.read_bytes())
    return dest


def download_artifact(
    store: ArtifactStore, artifact_id: str, dest: Path, *, folder: bool = False
) -> Path:
    """Copy artifact ``artifact_id`` out of an Optuna artifact ``store`` to ``dest``; with
    ``folder`` (see :func:`stored_as_folder`) the stored zip is unpacked into the folder
    ``dest``. Either appears whole or not at all."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + (".zip.part" if folder else ".part"))
    try:
        with store.open_reader(artifact_id) as reader, open(tmp, "wb") as writer:
            shutil.copyfileobj(reader, writer)
    except (ArtifactNotFound, FileNotFoundError):
        tmp.unlink(missing_ok=True)
        raise StorageError(
            f"artifact {artifact_id} is missing from the study's artifact store"
        ) from None
    if not folder:
        tmp.replace(dest)
        return dest
    try:
        _unpack(tmp, dest, artifact_id)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _unpack(archive: Path, dest: Path, artifact_id: str) -> None:
    import zipfile

    staging = dest.with_name(dest.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                parts = Path(name).parts
                if Path(name).is_absolute() or ".." in parts or not parts:
                    raise StorageError(f"artifact {artifact_id}: unsafe path {name!r} in its zip")
            z.extractall(staging)
    except zipfile.BadZipFile:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(f"artifact {artifact_id} is not the zip of a folder") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    staging.replace(dest)


class PointRecords(NamedTuple):
    """What an export needs of some points' trials: measurements by point, specs by trial."""

    measurements: dict[tuple[int, str], dict[str, Any]]
    specs: dict[int, dict[str, Any] | None]


def read_points(
    storage: BaseStorage, study_id: int, points: Sequence[tuple[int, str]]
) -> PointRecords:
    """The stored measurements (and architecture specs) of ``(trial number, key)`` points: the
    attributes asked for only, in one read through the study store."""
    from workbench.study._store import trial_user_attrs

    wanted: dict[int, set[str]] = {}
    for n, k in points:
        wanted.setdefault(int(n), set()).add(str(k))
    keys = {"spec", *(MEASURE_PREFIX + k for ks in wanted.values() for k in ks)}
    attrs = trial_user_attrs(storage, study_id, wanted, keys)
    out = PointRecords({}, {})
    for n in sorted(wanted):
        if n not in attrs:
            continue
        out.specs[n] = attrs[n].get("spec")
        for k in wanted[n]:
            m = attrs[n].get(MEASURE_PREFIX + k)
            if m is not None:
                out.measurements[(n, k)] = m
    return out


def manifest_entry(
    trial: int,
    key: str,
    measurement: MeasurementLike | None,
    *,
    spec: dict[str, Any] | None = None,
    file: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One point of a manifest: trial, key, file or error, figures, spec, receipt, measurement."""
    entry: dict[str, Any] = {"trial": int(trial), "key": key}
    if file is not None:
        entry["file"] = file
    if error is not None:
        entry["error"] = error
    if measurement is None:
        return entry
    m = _as_dict(measurement)
    lat = m.get("latency") or {}
    meta = m.get("meta") or {}
    entry.update(
        {
            "source": m.get("source"),
            "accuracy": m.get("accuracy"),
            "latency_p50_ms": lat.get("p50_ms"),
            "latency_p90_ms": lat.get("p90_ms"),
            "size_bytes": m.get("size_bytes"),
            "int8_scheme": (meta.get("int8_scheme") or {}).get("label"),
            "spec": spec,
        }
    )
    if meta.get("recipe"):  # the file a simulated device would run
        entry.update(
            recipe=meta["recipe"],
            latency_source=m.get("source"),
            trust=meta.get("trust"),
            footprint=meta.get("footprint"),
            accuracy_note=meta.get("accuracy_note"),
        )
    entry["receipt"] = m.get("receipt")
    entry["measurement"] = dict(m)
    return entry


@dataclass
class ArtifactExport:
    """What an export wrote: the folder, its manifest, the files, and the points without one."""

    folder: Path
    manifest: Path
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # one line per point without a file
    artifact_ids: set[str] = field(default_factory=set)  # the artifacts exported


def export_artifacts(
    study: str,
    points: Sequence[tuple[int, str]],
    measurements: Mapping[tuple[int, str], MeasurementLike],
    store: ArtifactStore | None,
    folder: str | Path,
    *,
    specs: Mapping[int, dict[str, Any] | None] | None = None,
    manifest_name: str = "manifest.json",
    store_note: str = "the study's artifact store is not on this disk",
) -> ArtifactExport:
    """Copy each point's artifact to ``folder`` and write ``folder/manifest_name``.

    A point without a file (predicted, failed, missing from the store) is kept in the manifest
    with the reason; ``store`` None means the artifact store is not reachable (``store_note``).
    """
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    res = ArtifactExport(dest, dest / manifest_name)
    entries = []
    for n, key in dict.fromkeys((int(n), str(k)) for n, k in points):
        m = measurements.get((n, key))
        d = _as_dict(m) if m is not None else None
        art = (d.get("meta") or {}).get("artifact_id") if d is not None else None
        spec = (specs or {}).get(n)
        file = error = None
        if not art or store is None:
            error = why_missing(m) if not art else store_note
        else:
            fname = artifact_name(n, key, d or {})
            try:
                res.files.append(
                    download_artifact(store, str(art), dest / fname, folder=stored_as_folder(m))
                )
                res.artifact_ids.add(str(art))
                file = fname
            except (StorageError, OSError) as err:  # reported in the manifest, not fatal
                error = str(err)
        if error is not None:
            res.missing.append(f"trial {n} {key}: {error}")
        entries.append(manifest_entry(n, key, m, spec=spec, file=file, error=error))
    manifest = {"schema": MANIFEST_SCHEMA, "study": study, "points": entries}
    res.manifest.write_text(dumps(manifest), encoding="utf-8")
    return res
