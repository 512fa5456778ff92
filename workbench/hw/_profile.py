"""Hardware profiles: validated YAML describing where a model runs.

``kind: measured`` profiles are run for real (this host); ``kind: simulated`` ones describe a
device whose figures are predicted from its specifications. Every number may carry its source::

    memory_bandwidth_gbs: {value: 4.0, source: "Raspberry Pi 4 datasheet, LPDDR4-3200 x32"}

Profiles are found by name in, in order: directories of ``$WORKBENCH_PROFILE_PATH``,
``./hwprofiles`` of the working directory, and the profiles shipped with the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError, UnknownNameError
from workbench._host import available_cpus
from workbench._resources import builtin_dir
from workbench._schema import Check, Choice, Func, Int, ListOf, Optional, Reader, Str, load_yaml

__all__ = [
    "DEVICE_BACKENDS",
    "EFFICIENCY_KEYS",
    "PRECISIONS",
    "DeployRecipe",
    "HardwareProfile",
    "PredictorTerms",
    "Sourced",
    "find_profile",
    "list_profiles",
    "load_profile",
    "profile_dirs",
    "profile_files",
]

SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "fp16", "bf16", "int8-dynamic", "int8-static", "int8")
DEVICES = ("cpu", "gpu", "npu", "tpu", "mcu")
#: runtimes a *simulated* device may name although no backend of that name is registered in
#: this installation yet (its file is produced once one is); measured profiles need a registered one
DEVICE_BACKENDS = {
    "litert": (
        "LiteRT (TensorFlow Lite): XNNPACK on Arm CPUs, full-integer for Edge TPUs and "
        "microcontrollers"
    )
}
#: per-op-type efficiency factors of the roofline predictor, and ``memory`` for bandwidth
EFFICIENCY_KEYS = ("conv", "pwconv", "dwconv", "linear", "pool", "eltwise", "memory")


@dataclass(frozen=True)
class Sourced:
    """A number and where it comes from (datasheet, measurement, estimate)."""

    value: float
    source: str = "unspecified"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


def _sourced(positive: bool = True) -> Check:
    def convert(v: object) -> Sourced:
        if isinstance(v, dict):
            extra = set(v) - {"value", "source"}
            if extra or "value" not in v:
                raise ValueError("a mapping needs exactly 'value' and optionally 'source'")
            value, source = v["value"], v.get("source", "unspecified")
            if not isinstance(source, str) or not source.strip():
                raise ValueError("source must be a non-empty string")
        else:
            value, source = v, "unspecified"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("value must be a number")
        if positive and value <= 0:
            raise ValueError("value must be positive")
        return Sourced(float(value), source)

    return Func(convert, expected="a positive number or {value: number, source: text}")


@dataclass(frozen=True)
class DeployRecipe:
    """What file a study produces for this target: backend, precision and file format."""

    backend: str
    precision: str
    format: str

    def to_dict(self) -> dict[str, str]:
        return {"backend": self.backend, "precision": self.precision, "format": self.format}


@dataclass(frozen=True)
class PredictorTerms:
    """Roofline terms of a simulated device (estimates, each with its basis).

    A measured profile's terms are fitted instead and kept in its calibration file.
    """

    call_overhead_us: Sourced | None = None
    layer_overhead_us: Sourced | None = None
    runtime_ram_mb: Sourced | None = None
    runtime_flash_kb: Sourced | None = None
    efficiency: dict[str, Sourced] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in ("call_overhead_us", "layer_overhead_us", "runtime_ram_mb", "runtime_flash_kb"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v.to_dict()
        if self.efficiency:
            d["efficiency"] = {k: v.to_dict() for k, v in self.efficiency.items()}
        return d


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    kind: str  # measured | simulated
    description: str = ""
    device: str = "cpu"
    threads: int | str = "auto"  # int or "auto" (all CPUs available to the process)
    inter_op_threads: int = 1
    backends: tuple[str, ...] = ("torch", "onnxruntime")
    precisions: tuple[str, ...] = ("fp32", "int8-dynamic", "int8-static")
    cores: Sourced | None = None
    clock_ghz: Sourced | None = None
    simd_bits: Sourced | None = None
    peak_gops: dict[str, Sourced] = field(default_factory=dict)
    memory_bandwidth_gbs: Sourced | None = None
    ram_mb: Sourced | None = None
    sram_kb: Sourced | None = None
    flash_kb: Sourced | None = None
    deploy: DeployRecipe | None = None
    predictor: PredictorTerms = field(default_factory=PredictorTerms)
    isa_flags: tuple[
        str, ...
    ] = ()  # simulated CPUs: ISA flags (/proc/cpuinfo spelling) that choose int8 kernels
    path: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def measured(self) -> bool:
        return self.kind == "measured"

    def resolved_threads(self) -> int:
        """Intra-op threads to use: the profile's number, or every CPU available when ``auto``."""
        if self.threads == "auto":
            return available_cpus()
        return int(self.threads)

    def peak(self, precision: str) -> Sourced | None:
        """Peak rate (GOPS) for ``precision``; ``int8`` serves both int8 precisions."""
        return _peak_for(self, precision)

    def supports(self, backend: str, precision: str) -> bool:
        return backend in self.backends and precision in self.precisions

    def sources(self) -> dict[str, str]:
        """Each numeric field and its source, for display and audits."""
        out: dict[str, str] = {}
        for name in (
            "cores",
            "clock_ghz",
            "simd_bits",
            "memory_bandwidth_gbs",
            "ram_mb",
            "sram_kb",
            "flash_kb",
        ):
            v = getattr(self, name)
            if v is not None:
                out[name] = v.source
        for prec, v in self.peak_gops.items():
            out[f"peak_gops.{prec}"] = v.source
        for name in ("call_overhead_us", "layer_overhead_us", "runtime_ram_mb", "runtime_flash_kb"):
            v = getattr(self.predictor, name)
            if v is not None:
                out[f"predictor.{name}"] = v.source
        for op, v in self.predictor.efficiency.items():
            out[f"predictor.efficiency.{op}"] = v.source
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": self.schema,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "device": self.device,
            "threads": self.threads,
            "inter_op_threads": self.inter_op_threads,
            "backends": list(self.backends),
            "precisions": list(self.precisions),
        }
        for name in (
            "cores",
            "clock_ghz",
            "simd_bits",
            "memory_bandwidth_gbs",
            "ram_mb",
            "sram_kb",
            "flash_kb",
        ):
            v = getattr(self, name)
            if v is not None:
                d[name] = v.to_dict()
        if self.peak_gops:
            d["peak_gops"] = {k: v.to_dict() for k, v in self.peak_gops.items()}
        if self.deploy is not None:
            d["deploy"] = self.deploy.to_dict()
        predictor = self.predictor.to_dict()
        if predictor:
            d["predictor"] = predictor
        if self.isa_flags:
            d["isa_flags"] = list(self.isa_flags)
        return d

    @classmethod
    def from_dict(
        cls, data: object, *, location: str | None = None, path: str | None = None
    ) -> HardwareProfile:
        from workbench._schema import SourceMap

        return _read_profile(Reader(data, source=SourceMap(location)), default_name=None, path=path)


def _threads_check() -> Check:
    def convert(v: object) -> int | str:
        if v == "auto":
            return "auto"
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
            raise ValueError("")
        return v

    return Func(convert, expected="'auto' or an integer in [1, 1024]")


def _read_profile(r: Reader, *, default_name: str | None, path: str | None) -> HardwareProfile:
    from workbench.backends import backend_names

    schema = r.get("schema", Int(min=1), SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise r.error(f"unsupported schema {schema}; this version reads {SCHEMA_VERSION}", "schema")
    name = r.get("name", Str(), default_name) if default_name else r.get("name", Str())
    kind = r.get("kind", Choice(("measured", "simulated")))
    registered = tuple(backend_names())
    # a simulated device may name a runtime whose backend this installation does not have yet
    known_backends = (
        registered if kind == "measured" else tuple(dict.fromkeys((*registered, *DEVICE_BACKENDS)))
    )
    backends = r.get(
        "backends",
        ListOf(
            Func(
                lambda v: _known(v, known_backends),
                expected="a backend name (" + ", ".join(known_backends) + ")",
            ),
            1,
        ),
        ("torch", "onnxruntime"),
    )
    peak = r.section("peak_gops")
    peak_gops = {}
    for prec in list(peak.data):
        if prec not in PRECISIONS and prec != "int4":
            raise peak.error(
                f"unknown precision; expected one of: {', '.join((*PRECISIONS, 'int4'))}",
                prec,
            )
        peak_gops[prec] = peak.get(prec, _sourced())
    deploy = None
    if r.has("deploy"):
        d = r.section("deploy")
        deploy = DeployRecipe(
            backend=d.get(
                "backend", Func(lambda v: _known(v, known_backends), expected="a backend name")
            ),
            precision=d.get("precision", Choice(PRECISIONS)),
            format=d.get("format", Str()),
        )
        d.finish()
    predictor = _read_predictor(r.section("predictor"))
    profile = HardwareProfile(
        name=name,
        kind=kind,
        description=r.get("description", Str(nonempty=False), ""),
        device=r.get("device", Choice(DEVICES), "cpu"),
        threads=r.get("threads", _threads_check(), "auto"),
        inter_op_threads=r.get("inter_op_threads", Int(min=1, max=64), 1),
        backends=backends,
        precisions=r.get(
            "precisions", ListOf(Choice(PRECISIONS), 1), ("fp32", "int8-dynamic", "int8-static")
        ),
        cores=r.get("cores", Optional(_sourced()), None),
        clock_ghz=r.get("clock_ghz", Optional(_sourced()), None),
        simd_bits=r.get("simd_bits", Optional(_sourced()), None),
        peak_gops=peak_gops,
        memory_bandwidth_gbs=r.get("memory_bandwidth_gbs", Optional(_sourced()), None),
        ram_mb=r.get("ram_mb", Optional(_sourced()), None),
        sram_kb=r.get("sram_kb", Optional(_sourced()), None),
        flash_kb=r.get("flash_kb", Optional(_sourced()), None),
        deploy=deploy,
        predictor=predictor,
        isa_flags=r.get("isa_flags", ListOf(Str()), ()),
        path=path,
    )
    r.finish()
    if profile.deploy is not None and profile.deploy.backend not in profile.backends:
        raise r.error(
            f"backend {profile.deploy.backend!r} is not in this profile's backends", "deploy"
        )
    if profile.deploy is not None and profile.deploy.precision not in profile.precisions:
        raise r.error(
            f"precision {profile.deploy.precision!r} is not in this profile's precisions", "deploy"
        )
    if not profile.measured:
        # a simulated device is predicted from its numbers: they must be there
        for prec in profile.precisions:
            if _peak_for(profile, prec) is None:
                raise r.error(
                    "a simulated profile needs the peak rate of each precision it lists; add "
                    f"peak_gops.{prec}",
                    "peak_gops",
                )
        if profile.memory_bandwidth_gbs is None:
            raise r.error(
                "missing; a simulated profile needs it for the roofline model",
                "memory_bandwidth_gbs",
            )
    return profile


def _peak_for(profile: HardwareProfile, precision: str) -> Sourced | None:
    """The peak rate for ``precision``: its own entry, or ``int8`` for both int8 precisions."""
    if precision in profile.peak_gops:
        return profile.peak_gops[precision]
    if precision.startswith("int8") and "int8" in profile.peak_gops:
        return profile.peak_gops["int8"]
    return None


def _read_predictor(r: Reader) -> PredictorTerms:
    eff_r = r.section("efficiency")
    efficiency = {}
    for key in list(eff_r.data):
        if key not in EFFICIENCY_KEYS:
            raise eff_r.error(
                f"unknown op type; expected one of: {', '.join(EFFICIENCY_KEYS)}", key
            )
        value = eff_r.get(key, _sourced())
        if value.value > 1.0:
            raise eff_r.error(f"expected a fraction of peak in (0, 1], got {value.value:g}", key)
        efficiency[key] = value
    terms = PredictorTerms(
        call_overhead_us=r.get("call_overhead_us", Optional(_sourced()), None),
        layer_overhead_us=r.get("layer_overhead_us", Optional(_sourced()), None),
        runtime_ram_mb=r.get("runtime_ram_mb", Optional(_sourced()), None),
        runtime_flash_kb=r.get("runtime_flash_kb", Optional(_sourced()), None),
        efficiency=efficiency,
    )
    r.finish()
    return terms


def _known(value: object, known: Iterable[str]) -> str:
    known = tuple(known)
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"known: {', '.join(known)}")
    return value


def profile_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories searched for profiles, highest priority first: ``WORKBENCH_PROFILE_PATH``,
    ``hwprofiles/`` under ``root`` (the working directory by default), the built-in ones."""
    dirs: list[Path] = []
    for entry in os.environ.get("WORKBENCH_PROFILE_PATH", "").split(os.pathsep):
        if entry:
            dirs.append(Path(entry))
    local = (Path(root) if root is not None else Path.cwd()) / "hwprofiles"
    if local.is_dir():
        dirs.append(local)
    builtin = builtin_dir("hwprofiles")
    if builtin is not None and all(builtin.resolve() != d.resolve() for d in dirs if d.exists()):
        dirs.append(builtin)
    return dirs


def profile_files(root: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Profile name -> the file that defines it (the first found in :func:`profile_dirs`)."""
    found: dict[str, Path] = {}
    for d in profile_dirs(root):
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            found.setdefault(f.stem, f)
    return found


def find_profile(name: str, *, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of the profile named ``name`` (a file path is accepted as is)."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or os.sep in name:
        if not p.exists():
            raise ConfigError("profile file not found", location=name)
        return p
    files = profile_files(root)
    if name not in files:
        raise UnknownNameError("hardware profile", name, list(files))
    return files[name]


def load_profile(name_or_path: str | os.PathLike[str] | HardwareProfile) -> HardwareProfile:
    """Load and validate a profile by name or file path."""
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    path = find_profile(os.fspath(name_or_path))
    data, source = load_yaml(path, display=_display(path))
    return _read_profile(Reader(data, source=source), default_name=path.stem, path=str(path))


def list_profiles(root: str | os.PathLike[str] | None = None) -> list[HardwareProfile]:
    """Every profile found (see :func:`profile_dirs`), validated (an invalid file raises,
    naming it)."""
    return [load_profile(p) for p in profile_files(root).values()]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
