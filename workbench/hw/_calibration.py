"""A profile's calibration on one host as the predictor uses it: fitted terms per deployment and
thread setting, and the trust figures that travel with each prediction made with them.

Fitting, running the measurements and storing calibration files is :mod:`workbench.calibrate`'s
job; :func:`workbench.hw.predict_latency` is given a :class:`Calibration` and looks none up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.hw._predict import PredictorParams

__all__ = ["Calibration", "CalibrationEntry"]


@dataclass
class CalibrationEntry:
    """Fitted terms of one deployment at one thread setting, with their fit and trust figures."""

    deployment: str  # backend-precision
    backend: str
    precision: str
    intra_op: int
    inter_op: int
    runtime_version: str
    params: PredictorParams
    fit: dict[str, Any]
    models: list[dict[str, Any]]
    created: str
    accuracy: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        body = json.dumps(self.params.to_dict(), sort_keys=True) + self.created
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "backend": self.backend,
            "precision": self.precision,
            "threads": {"intra_op": self.intra_op, "inter_op": self.inter_op},
            "runtime_version": self.runtime_version,
            "created": self.created,
            "id": self.id,
            "params": self.params.to_dict(),
            "fit": self.fit,
            "models": self.models,
            "accuracy": self.accuracy,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationEntry:
        th = d["threads"]
        return cls(
            deployment=d["deployment"],
            backend=d["backend"],
            precision=d["precision"],
            intra_op=int(th["intra_op"]),
            inter_op=int(th["inter_op"]),
            runtime_version=str(d["runtime_version"]),
            params=PredictorParams.from_dict(d["params"]),
            fit=dict(d.get("fit") or {}),
            models=list(d.get("models") or []),
            created=str(d["created"]),
            accuracy=d.get("accuracy"),
        )


@dataclass
class Calibration:
    """A profile's calibration on one host: the fingerprint and one entry per deployment/threads."""

    profile: str
    host: dict[str, Any]
    entries: list[CalibrationEntry] = field(default_factory=list)
    path: Path | None = None
    stale_entries: list[str] = field(default_factory=list)  # entries refused: runtime changed

    def entry(
        self, backend: str, precision: str, threads: int | None = None, inter_op: int | None = None
    ) -> CalibrationEntry | None:
        for e in self.entries:
            if (
                e.backend == backend
                and e.precision == precision
                and (threads is None or e.intra_op == threads)
                and (inter_op is None or e.inter_op == inter_op)
            ):
                return e
        return None

    def has(self, backend: str, precision: str, threads: int | None = None) -> bool:
        return self.entry(backend, precision, threads) is not None

    def params_for(
        self, backend: str, precision: str, threads: int | None = None
    ) -> PredictorParams:
        e = self.entry(backend, precision, threads)
        if e is None:
            raise KeyError(f"{backend}-{precision}")
        return e.params

    def trust_for(self, backend: str, precision: str, threads: int | None = None) -> dict[str, Any]:
        """Trust figures to show beside a prediction made with this calibration."""
        e = self.entry(backend, precision, threads)
        if e is None:
            return {}
        t: dict[str, Any] = {
            "calibrated": True,
            "calibration_file": str(self.path) if self.path else None,
            "calibrated_at": e.created,
            "calibration_id": e.id,
            "calibration_models": e.fit.get("models"),
            "threads": e.intra_op,
            "validated_on_device": False,
        }
        acc = e.accuracy
        if acc and acc.get("calibration_id") == e.id:
            t.update(
                validated_on_device=True,
                within_10pct=acc["within_10pct"],
                median_abs_error=acc["median_abs_error"],
                spearman=acc["spearman"],
                heldout_models=acc["models"],
                noise_floor=acc["noise_floor"]["median_rel_diff"],
                noise_within_10pct=acc["noise_floor"]["within_10pct"],
                validated_at=acc["measured_at"],
            )
        else:
            t["note"] = (
                "not yet validated on held-out models: run `workbench profiles accuracy "
                f"{self.profile}`"
            )
        return t

    def to_dict(self) -> dict[str, Any]:
        """The file's body: profile, host fingerprint and entries (the store adds the schema)."""
        return {
            "profile": self.profile,
            "host": self.host,
            "entries": [e.to_dict() for e in self.entries],
            "about": (
                "Fitted roofline terms of the workbench latency predictor for this profile on "
                "this host (workbench profiles calibrate); trust figures from held-out models "
                "(workbench profiles accuracy)."
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> Calibration:
        """The calibration of a file's body; KeyError, TypeError or ValueError if malformed."""
        entries = [CalibrationEntry.from_dict(e) for e in data.get("entries", [])]
        return cls(
            profile=data["profile"],
            host=dict(data["host"]),
            entries=entries,
            path=Path(path) if path is not None else None,
        )
