"""Measurement: what one deployment of one model did on one hardware profile, with a receipt."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from workbench._errors import ConfigError
from workbench.bench._latency import LatencyStats

__all__ = ["Measurement", "MeasurementKey", "measurement_key"]


class MeasurementKey(NamedTuple):
    """Which measurement: ``profile/framework/deployment``, the text stored studies use.

    The profile and the framework hold no slash; the deployment is the rest of the text.
    ``framework/deployment`` (the key without its profile) is the *variant*.
    """

    profile: str
    framework: str
    deployment: str

    @classmethod
    def parse(cls, text: str) -> MeasurementKey:
        parts = text.split("/", 2) if isinstance(text, str) else []
        if len(parts) != 3 or not all(parts):
            raise ConfigError(f"measurement key must be profile/framework/deployment, got {text!r}")
        return cls(*parts)

    @staticmethod
    def parse_variant(text: str) -> tuple[str, str]:
        """``(framework, deployment)`` of a ``framework/deployment`` label."""
        parts = text.split("/", 1) if isinstance(text, str) else []
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"deployment label must be framework/deployment, got {text!r}")
        return parts[0], parts[1]

    @property
    def variant(self) -> str:
        return f"{self.framework}/{self.deployment}"

    def __str__(self) -> str:
        return f"{self.profile}/{self.framework}/{self.deployment}"


def measurement_key(profile: str, framework: str, deployment: str) -> str:
    """The text of :class:`MeasurementKey`; equal to ``str(MeasurementKey(...))``."""
    return str(MeasurementKey(profile, framework, deployment))


@dataclass
class Measurement:
    """Latency statistics, the accuracy of this very artifact, its size and memory, and a receipt.

    ``source`` is ``measured`` (run on this host) or ``predicted`` (from a model of the device);
    ``status`` is ``ok`` or ``failed``, with ``stage`` and ``error`` saying where and why.
    """

    profile: str
    framework: str
    backend: str
    precision: str
    source: str = "measured"
    status: str = "ok"
    latency: LatencyStats | None = None
    accuracy: float | None = None  # top-1 of this artifact on the test split
    size_bytes: int | None = None
    peak_memory_bytes: int | None = None
    memory_note: str | None = None
    error: str | None = None
    stage: str | None = None
    artifact_path: str | None = None
    receipt: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def deployment(self) -> str:
        return f"{self.backend}-{self.precision}"

    @property
    def key(self) -> str:
        return measurement_key(self.profile, self.framework, self.deployment)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def latency_ms(self) -> float | None:
        return self.latency.p50_ms if self.latency is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "framework": self.framework,
            "deployment": self.deployment,
            "backend": self.backend,
            "precision": self.precision,
            "source": self.source,
            "status": self.status,
            "latency": self.latency.to_dict() if self.latency else None,
            "accuracy": self.accuracy,
            "size_bytes": self.size_bytes,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_note": self.memory_note,
            "error": self.error,
            "stage": self.stage,
            "artifact_path": self.artifact_path,
            "receipt": self.receipt,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Measurement:
        lat = d.get("latency")
        return cls(
            profile=d["profile"],
            framework=d["framework"],
            backend=d["backend"],
            precision=d["precision"],
            source=d.get("source", "measured"),
            status=d.get("status", "ok"),
            latency=LatencyStats.from_dict(lat) if lat else None,
            accuracy=d.get("accuracy"),
            size_bytes=d.get("size_bytes"),
            peak_memory_bytes=d.get("peak_memory_bytes"),
            memory_note=d.get("memory_note"),
            error=d.get("error"),
            stage=d.get("stage"),
            artifact_path=d.get("artifact_path"),
            receipt=dict(d.get("receipt") or {}),
            meta=dict(d.get("meta") or {}),
        )

    def summary(self) -> str:
        if not self.ok:
            return f"{self.key}: FAILED at {self.stage}: {self.error}"
        lat = self.latency
        acc = f"acc {self.accuracy:.4f}" if self.accuracy is not None else "acc n/a"
        if lat is None:
            return f"{self.key}: {acc}"
        return (
            f"{self.key}: p50 {lat.p50_ms:.3f} ms "
            f"({self.source}; p90 {lat.p90_ms:.3f}, cv {lat.cv:.2f}, n={lat.n}), "
            f"{acc}, {self.size_bytes or 0:,} B"
        )


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
