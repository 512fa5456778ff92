"""Fingerprint of the machine a measurement was taken on: CPU, ISA flags, cores, versions."""

from __future__ import annotations

import functools
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "HostInfo",
    "available_cpus",
    "host_info",
    "last_level_cache_bytes",
    "library_versions",
    "local_process_dead",
    "process_alive",
    "process_identity",
]

# Flags that change which kernels the backends pick (x86 and Arm names as /proc/cpuinfo spells them)
_ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "asimdhp",
    "sve",
    "i8mm",
    "bf16",
)

_PACKAGES = (
    "workbench-nas",
    "numpy",
    "torch",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "openvino",
    "nncf",
    "optuna",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "ai-edge-litert",
    "tf2onnx",
    "scikit-learn",
    "plotly",
)


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class HostInfo:
    cpu_model: str
    machine: str
    logical_cpus: int
    available_cpus: int
    physical_cores: int | None
    isa_flags: tuple[str, ...]
    memory_bytes: int | None
    os: str
    python: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def has_vnni(self) -> bool:
        """True when the CPU has int8 dot-product instructions that do not saturate u8 x s8."""
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(self.isa_flags))

    @property
    def isa_summary(self) -> str:
        order = [
            "avx512_vnni",
            "avx_vnni",
            "avx512f",
            "avx2",
            "fma",
            "amx_int8",
            "asimddp",
            "asimd",
            "sve",
            "i8mm",
        ]
        shown = [f for f in order if f in self.isa_flags]
        return " ".join(shown) or "baseline"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["isa_flags"] = list(self.isa_flags)
        return d


def _read_cpuinfo() -> tuple[str, set[str], int | None]:
    model: str = ""
    flags: set[str] = set()
    cores: int | None = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return platform.processor() or platform.machine(), flags, None
    physical: set[tuple[str, str]] = set()
    phys_id = core_id = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Model", "Hardware") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key == "physical id":
            phys_id = value
        elif key == "core id":
            core_id = value
            physical.add((phys_id, core_id))
    if physical:
        cores = len(physical)
    if not model:
        model = platform.processor() or platform.machine()
    return model, flags, cores


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


#: what :func:`last_level_cache_bytes` says where the system does not tell
_DEFAULT_CACHE_BYTES = 32 * 2**20


@functools.lru_cache(maxsize=4)
def last_level_cache_bytes(sysfs: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """Size of this machine's largest data cache (the last level, shared by its cores), from
    ``sysfs``; 32 MiB where the system does not say."""
    import glob

    sizes = []
    for d in glob.glob(os.path.join(sysfs, "index*")):
        try:
            with open(os.path.join(d, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(d, "size")) as f:
                text = f.read().strip().upper()
        except OSError:
            continue
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes, default=_DEFAULT_CACHE_BYTES)


def library_versions() -> dict[str, str]:
    """Installed versions of the packages whose kernels shape a measurement (no imports)."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.lru_cache(maxsize=1)
def host_info() -> HostInfo:
    """This machine's fingerprint (cached for the process)."""
    model, flags, cores = _read_cpuinfo()
    return HostInfo(
        cpu_model=model,
        machine=platform.machine(),
        logical_cpus=os.cpu_count() or 1,
        available_cpus=available_cpus(),
        physical_cores=cores,
        isa_flags=tuple(f for f in _ISA_FLAGS if f in flags),
        memory_bytes=_memory_bytes(),
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        versions=library_versions(),
    )


def _boot_id() -> str:
    """This boot of this machine (Linux), else the host name: a pid means a process only within
    one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        import socket

        return f"host:{socket.gethostname()}"


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), so a reused pid is told
    apart from the process that had it; None when there is no such process or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields follow the last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] in ("Z", "X"):  # a zombie or dead process runs no more
        return None
    try:
        return int(fields[19])  # field 22 of the whole line: starttime
    except (IndexError, ValueError):
        return None


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """Who runs a piece of work: the boot of this machine, the pid and its start time, and the
    host name (for people). :func:`process_alive` reads it back."""
    import socket

    pid = os.getpid() if pid is None else pid
    return {
        "boot": _boot_id(),
        "pid": pid,
        "start": _start_ticks(pid),
        "host": socket.gethostname(),
    }


def local_process_dead(pid: int) -> bool:
    """Whether process ``pid`` of this machine is known to be gone (a file named after the pid
    that wrote it, left by a writer that died)."""
    return process_alive({"boot": _boot_id(), "pid": pid, "start": None}) is False


def process_alive(identity: Mapping[str, Any]) -> bool | None:
    """Whether the process ``identity`` names still runs: True or False on the machine (and
    boot) that recorded it, None elsewhere (then only a heartbeat can tell)."""
    if identity.get("boot") != _boot_id():
        return None
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    start = _start_ticks(pid)
    if start is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return identity.get("start") is None  # no /proc: trust the pid alone
    return identity.get("start") in (None, start)
