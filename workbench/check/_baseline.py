"""Baselines: a study's Pareto set frozen into a folder small enough to commit.

The folder holds the Pareto set's artifacts and ONE manifest, the one the study's artifact export
writes (:func:`workbench.study._run.export_pareto`), with a ``baseline`` section added: its own
schema version, the study config, the fingerprint of the test split that config builds, the host
and version it came from and each front; each point gains its architecture hash and seed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._errors import ConfigError, StorageError
from workbench._files import atomic_write_text
from workbench._json import dumps
from workbench._version import __version__
from workbench.bench import Measurement, MeasurementKey

if TYPE_CHECKING:
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.storages import BaseStorage

    from workbench.data import Dataset
    from workbench.study import StudyConfig, StudyResults

__all__ = [
    "BASELINE_SCHEMA",
    "MANIFEST_NAME",
    "Baseline",
    "BaselinePoint",
    "load_baseline",
    "save_baseline",
    "split_fingerprint",
    "study_artifact_store",
]

BASELINE_SCHEMA = 1
MANIFEST_NAME = "manifest.json"


def split_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of a labelled split (shapes, dtypes and bytes): two equal splits, one hash."""
    from workbench.data import arrays_fingerprint

    return arrays_fingerprint(x, y)


def config_of(results: StudyResults) -> StudyConfig:
    """The study config a stored study was run with (from its ``config`` attribute)."""
    from workbench.study import load_config

    raw = results.study_attrs.get("config")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"study {results.study_name!r} stores no config; it was not run by run")
    return load_config(raw)


def test_split(cfg: StudyConfig) -> Dataset:
    """The dataset a config builds (its test split is what accuracy is measured on)."""
    from workbench.data import load_data

    return load_data(cfg.data)


def study_artifact_store(results: StudyResults) -> FileSystemArtifactStore:
    """The study's artifact store on this disk, or a StorageError saying where it should be."""
    path = results.study_attrs.get("artifact_store")
    if not path or not Path(str(path)).is_dir():
        raise StorageError(
            f"the artifact store of study {results.study_name!r} is not on this disk ({path})"
        )
    from optuna.artifacts import FileSystemArtifactStore

    return FileSystemArtifactStore(str(path))


def load_study_results(storage: str | BaseStorage, study: str) -> StudyResults:
    from workbench.study import load_results, open_study

    return load_results(open_study(study, storage))


@dataclass(frozen=True)
class BaselinePoint:
    """One point of a baseline: a trial's deployment, its artifact file and what it measured."""

    trial: int
    key: str
    file: Path
    measurement: Measurement
    spec: dict[str, Any] | None = None
    arch_hash: str | None = None
    seed: int | None = None

    @property
    def parts(self) -> MeasurementKey:
        return MeasurementKey.parse(self.key)


@dataclass(frozen=True)
class Baseline:
    """A loaded, validated baseline folder."""

    folder: Path
    study: str
    config: dict[str, Any]
    data_fingerprint: str
    points: list[BaselinePoint]
    missing: list[str] = field(default_factory=list)  # points saved without a file, one line each
    host: dict[str, Any] = field(default_factory=dict)
    workbench_version: str = ""
    fronts: dict[str, Any] = field(default_factory=dict)

    def point_keys(self) -> list[str]:
        """The measurement keys of the points, in order."""
        return list(dict.fromkeys(p.key for p in self.points))

    def study_config(self) -> StudyConfig:
        from workbench.study import load_config

        return load_config(self.config)


def save_baseline(storage: str | BaseStorage, study: str, folder: str | Path) -> Baseline:
    """Write study ``study``'s Pareto set to ``folder`` as a baseline, and return it loaded."""
    from workbench.study._run import export_pareto

    results = load_study_results(storage, study)
    cfg = config_of(results)
    data = test_split(cfg)
    store = study_artifact_store(results)
    dest = export_pareto(results, store, Path(folder))
    manifest_path = dest / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not manifest.get("points"):
        raise StorageError(f"study {study!r} has no Pareto point with an artifact to save")
    by_trial = {t.number: t for t in results.trials}
    for entry in manifest["points"]:
        attrs = by_trial[int(entry["trial"])].user_attrs
        entry["arch_hash"] = attrs.get("arch_hash")
        entry["seed"] = cfg.train.seed
    manifest["baseline"] = {
        "schema": BASELINE_SCHEMA,
        "workbench_version": __version__,
        "config": results.study_attrs.get("config"),
        "study_seed": cfg.seed,
        "data": {
            "fingerprint": split_fingerprint(data.x_test, data.y_test),
            "split": "test",
            **data.describe(),
        },
        "host": results.study_attrs.get("host") or {},
        "fronts": {k: f.to_dict() for k, f in results.fronts().items()},
    }
    atomic_write_text(manifest_path, dumps(manifest))
    return load_baseline(dest)


def _bad(folder: Path, why: str) -> ConfigError:
    return ConfigError(f"baseline {folder}: {why}")


def load_baseline(folder: str | Path) -> Baseline:
    """Read and validate a baseline folder; a malformed or incompatible one raises a one-line
    ConfigError (wrong schema, missing manifest or artifact files)."""
    from workbench.study import MANIFEST_SCHEMA

    root = Path(folder)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise _bad(root, f"no {MANIFEST_NAME} (save one with `workbench baseline save`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _bad(root, f"{MANIFEST_NAME} is not JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        got = manifest.get("schema") if isinstance(manifest, dict) else None
        raise _bad(root, f"manifest schema {got!r}, expected {MANIFEST_SCHEMA}")
    section = manifest.get("baseline")
    if not isinstance(section, dict):
        raise _bad(
            root, "the manifest has no baseline section (an artifact export, not a baseline)"
        )
    if section.get("schema") != BASELINE_SCHEMA:
        raise _bad(root, f"baseline schema {section.get('schema')!r}, expected {BASELINE_SCHEMA}")
    config = section.get("config")
    fingerprint = (section.get("data") or {}).get("fingerprint")
    if not isinstance(config, dict) or not isinstance(fingerprint, str):
        raise _bad(root, "the baseline section lacks the study config or the data fingerprint")
    entries = manifest.get("points")
    if not isinstance(entries, list) or not entries:
        raise _bad(root, "the manifest lists no points")
    points: list[BaselinePoint] = []
    missing: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "trial" not in entry or "key" not in entry:
            raise _bad(root, f"point {i} lacks its trial or key")
        if entry.get("file") is None:
            missing.append(f"trial {entry['trial']} {entry['key']}: {entry.get('error')}")
            continue
        file = root / str(entry["file"])
        if not (file.is_file() or file.is_dir()):  # a folder: OpenVINO's model.xml + .bin
            raise _bad(root, f"artifact {entry['file']} of point {i} is missing")
        try:
            MeasurementKey.parse(str(entry["key"]))
            m = Measurement.from_dict(entry["measurement"])
        except (KeyError, TypeError, ValueError) as err:
            raise _bad(root, f"point {i} has a malformed measurement ({err})") from None
        seed = entry.get("seed")
        points.append(
            BaselinePoint(
                trial=int(entry["trial"]),
                key=str(entry["key"]),
                file=file,
                measurement=m,
                spec=entry.get("spec"),
                arch_hash=entry.get("arch_hash"),
                seed=int(seed) if seed is not None else None,
            )
        )
    if not points:
        raise _bad(root, "no point has an artifact file")
    return Baseline(
        folder=root,
        study=str(manifest.get("study", "")),
        config=config,
        data_fingerprint=fingerprint,
        points=points,
        missing=missing,
        host=dict(section.get("host") or {}),
        workbench_version=str(section.get("workbench_version", "")),
        fronts=dict(section.get("fronts") or {}),
    )
