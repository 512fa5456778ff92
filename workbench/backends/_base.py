"""Backend, Deployment, ModelSource and Artifact: how a model becomes something that runs.

A :class:`Deployment` names a (backend, precision) pair such as ``onnxruntime-int8-static``.
A :class:`Backend` turns a :class:`ModelSource` (a PyTorch module, a Keras model or an ONNX
file, with its exports cached) into an :class:`Artifact` on disk, and loads an artifact into a
:class:`Runner` with a given number of threads.
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from workbench._errors import ConfigError

LAYOUTS = ("channels_first", "channels_last")

__all__ = [
    "Artifact",
    "Backend",
    "CompileContext",
    "Deployment",
    "ModelSource",
    "Runner",
    "Threads",
    "accuracy_of",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Threads:
    """Thread settings a runner is created with."""

    intra_op: int = 1
    inter_op: int = 1

    def to_dict(self) -> dict[str, int]:
        return {"intra_op": self.intra_op, "inter_op": self.inter_op}


@dataclass(frozen=True)
class Deployment:
    """A backend and precision, with backend options (e.g. ``{"per_channel": false}``)."""

    backend: str
    precision: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.precision}"

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"backend": self.backend, "precision": self.precision}
        if self.options:
            d["options"] = dict(self.options)
        return d

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | Deployment) -> Deployment:
        """``"onnxruntime-int8-static"``, or the mapping
        ``{backend: onnxruntime, precision: int8-static, options: {...}}``."""
        from workbench.backends._registry import backend_names

        if isinstance(value, Deployment):
            return value
        if isinstance(value, str):
            for backend in sorted(backend_names(), key=len, reverse=True):
                if value.startswith(backend + "-"):
                    return cls(backend, value[len(backend) + 1 :])
            raise ConfigError(
                "expected <backend>-<precision> with a known backend "
                f"({', '.join(backend_names())}), got {value!r}"
            )
        if isinstance(value, Mapping):
            extra = set(value) - {"backend", "precision", "options"}
            if extra:
                raise ConfigError(
                    f"unknown key {sorted(extra)[0]!r}; expected backend, precision, options"
                )
            if "backend" not in value or "precision" not in value:
                raise ConfigError("a deployment needs 'backend' and 'precision'")
            options = value.get("options") or {}
            if not isinstance(options, Mapping):
                raise ConfigError(f"options must be a mapping, got {options!r}")
            return cls(
                str(value["backend"]), str(value["precision"]), tuple(sorted(options.items()))
            )
        raise ConfigError(f"expected a deployment name or mapping, got {value!r}")


class Runner(abc.ABC):
    """A loaded artifact: call with a batch, get logits.

    A runner may set ``meta`` (a dict) to facts only known once loaded (threads in effect, a
    compiler fallback); they are added to its measurement's metadata.
    """

    meta: dict[str, Any]

    @abc.abstractmethod
    def __call__(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the runtime's resources."""


def correct_of(runner: Runner, x: np.ndarray, y: np.ndarray, batch: int = 256) -> np.ndarray:
    """Per-sample top-1 correctness (booleans) of a loaded artifact on ``(x, y)``."""
    parts = [
        np.asarray(runner(x[i : i + batch])).argmax(axis=1) == y[i : i + batch]
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def accuracy_of(runner: Runner, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy of a loaded artifact on ``(x, y)``."""
    return int(correct_of(runner, x, y, batch).sum()) / max(1, len(x))


@dataclass
class Artifact:
    """A compiled model on disk (``path``), plus the in-process object when there is one."""

    deployment: Deployment
    framework: str
    path: Path | None
    input_shape: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    live: Any = None  # e.g. the nn.Module itself, so eager runs need no reload

    @property
    def size_bytes(self) -> int | None:
        if self.path is None or not self.path.exists():
            return None
        if self.path.is_dir():
            return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        size = self.path.stat().st_size
        data = self.path.with_name(self.path.name + ".data")  # ONNX external weights
        return size + (data.stat().st_size if data.exists() else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.to_dict(),
            "framework": self.framework,
            "path": str(self.path) if self.path else None,
            "input_shape": list(self.input_shape),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Artifact:
        dep = d["deployment"]
        return cls(
            deployment=Deployment(
                dep["backend"], dep["precision"], tuple(sorted((dep.get("options") or {}).items()))
            ),
            framework=d["framework"],
            path=Path(d["path"]) if d.get("path") else None,
            input_shape=tuple(d["input_shape"]),
            meta=dict(d.get("meta") or {}),
        )


class ModelSource:
    """A trained model to deploy, from one framework, with its intermediate exports cached.

    ``framework`` is ``torch``, ``keras`` or ``onnx``; ``model`` is the module, the Keras
    model, or the path of an ONNX file. Exports (the ONNX graph, a ``torch.export`` program)
    are produced once and shared by every backend that needs them.

    ``input_shape`` is what the model is fed (without batch). Data holds images channels first
    (:mod:`workbench.data`); ``layout="channels_last"`` says the model takes them ``(H, W, C)``
    (Keras on CPU), and :meth:`feed` converts a batch of data into the model's layout.
    """

    def __init__(
        self,
        framework: str,
        model: Any,
        input_shape: Sequence[int],
        workdir: str | os.PathLike[str],
        *,
        name: str = "model",
        onnx_exporter: str = "dynamo",
        layout: str = "channels_first",
    ) -> None:
        if framework not in ("torch", "keras", "onnx"):
            raise ConfigError(f"framework must be torch, keras or onnx, got {framework!r}")
        if layout not in LAYOUTS:
            raise ConfigError(f"layout must be {' or '.join(LAYOUTS)}, got {layout!r}")
        self.layout = layout
        self.framework = framework
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.onnx_exporter = onnx_exporter
        self._cache: dict[str, Any] = {}
        self.export_meta: dict[str, Any] = {}

    def cached(self, key: str, make: Callable[[], _T]) -> _T:
        """Compute ``make()`` once per source; exceptions are cached too, so a failed export
        fails every deployment that needs it with the same reason, without retrying."""
        if key not in self._cache:
            try:
                self._cache[key] = ("ok", make())
            except Exception as err:  # noqa: BLE001 - re-raised to each caller
                self._cache[key] = ("err", err)
        status, value = self._cache[key]
        if status == "err":
            raise value
        return value

    def onnx_path(self) -> Path:
        """The float ONNX graph of this model (dynamic batch axis), exported on first use."""
        from workbench.backends._export import export_onnx

        return self.cached("onnx", lambda: export_onnx(self))

    @property
    def input_layout(self) -> str:
        """``NCHW``/``NHWC`` for images, ``NC`` for vectors: how the fed batch is laid out."""
        if len(self.input_shape) != 3:
            return "NC"
        return "NHWC" if self.layout == "channels_last" else "NCHW"

    def feed(self, x: np.ndarray) -> np.ndarray:
        """A batch of data (images channels first) in the layout this model takes."""
        if self.layout == "channels_last" and x.ndim == 4:
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        return x

    def example_input(self, batch: int = 1, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.standard_normal((batch, *self.input_shape)).astype(np.float32)


@dataclass
class CompileContext:
    """What compiling may use besides the model: calibration and validation data, the host."""

    calibration: list[np.ndarray] = field(default_factory=list)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    reference_accuracy: float | None = None  # float model's validation accuracy
    max_accuracy_drop: float = (
        0.01  # fraction (0.01 = 1 point) tolerated when choosing int8 settings
    )
    threads: Threads = field(default_factory=Threads)
    isa_flags: tuple[str, ...] = ()

    def calibration_for(self, deployment: Deployment) -> list[np.ndarray]:
        """The calibration batches, cut to the deployment's ``calibration_samples`` if it is set."""
        n = int(deployment.opts.get("calibration_samples", 0) or 0)
        if not n:
            return self.calibration
        out: list[np.ndarray] = []
        total = 0
        for b in self.calibration:
            if total >= n:
                break
            out.append(b[: n - total])
            total += len(out[-1])
        return out


class Backend(abc.ABC):
    """A way to run models: exports, quantizes and compiles, then loads runners.

    Subclasses declare what they accept; :meth:`check` refuses anything else by name, so bad
    deployments are caught when a config is validated rather than mid-study.
    """

    name: ClassVar[str]
    frameworks: ClassVar[tuple[str, ...]]
    precisions: ClassVar[tuple[str, ...]]
    options: ClassVar[tuple[str, ...]] = ()
    #: options whose value a compile records in the artifact's meta when it chose it itself
    #: (e.g. by timing candidates): a rebuild passes the recorded value to build the same file
    recorded_options: ClassVar[tuple[str, ...]] = ()
    #: modules that must import for this backend to work, and the extra that installs them
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    #: distributions whose installed size is this backend's runtime footprint
    runtime_packages: ClassVar[tuple[str, ...]] = ()
    file_format: ClassVar[str] = ""

    def check(self, deployment: Deployment, framework: str | None = None) -> None:
        """Raise ConfigError when this backend cannot serve ``deployment`` (from ``framework``)."""
        if deployment.precision not in self.precisions:
            raise ConfigError(
                f"backend {self.name!r} does not support precision {deployment.precision!r}; it "
                f"supports: {', '.join(self.precisions)}"
            )
        if framework is not None and framework not in self.frameworks:
            raise ConfigError(
                f"backend {self.name!r} cannot deploy {framework} models; it accepts: "
                f"{', '.join(self.frameworks)}"
            )
        unknown = [k for k, _ in deployment.options if k not in self.options]
        if unknown:
            known = ", ".join(self.options) or "(none)"
            raise ConfigError(
                f"backend {self.name!r} has no option {unknown[0]!r}; options: {known}"
            )

    def available(self) -> bool:
        from workbench._imports import is_available

        return all(is_available(m) for m in self.requires)

    def version(self) -> str:
        from importlib import metadata

        for dist in self.runtime_packages:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return "unknown"

    @abc.abstractmethod
    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        """Export, quantize and compile ``source`` for ``deployment``; write the artifact file."""

    @abc.abstractmethod
    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        """Load ``artifact`` ready to run with ``threads``."""


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
