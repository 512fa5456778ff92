"""Where calibration files live, the host fingerprint a calibration belongs to, and reading and
writing the files.

A calibration file sits beside its profile -- ``host-cpu.calibration.json`` next to
``host-cpu.yaml`` -- or, when that folder is not writable (an installed package), in the user's
data folder. A calibration is only valid for the host it was fitted on: the file records the CPU
model, ISA flags, machine, thread counts and runtime versions, and a file made elsewhere is
refused as stale (with the differences), never silently reused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench._errors import ConfigError, WorkbenchError
from workbench._files import atomic_write_text
from workbench._host import host_info
from workbench.backends import get_backend
from workbench.hw import Calibration, CalibrationEntry, HardwareProfile, load_profile

__all__ = [
    "SCHEMA_VERSION",
    "calibration_candidates",
    "calibration_status",
    "find_calibration",
    "host_fingerprint",
    "load_calibration",
    "save_calibration",
    "user_calibration_dir",
]

#: the calibration file's schema: 2: kernel-level terms; 3: coverage-chosen models, int8
#: tail-pool terms, size exponent; 4: activations apart, float channel blocking, no common scale;
#: 5: reduction-octave steps in the shape correction; 6: the profiler slowdown taken out as a
#: blend of the per-node and proportional readings, a head's weights from memory beyond the
#: cache, im2col rows of a convolution over few input channels (older files are refused:
#: recalibrate)
SCHEMA_VERSION = 6


def user_calibration_dir() -> Path:
    """``$WORKBENCH_CALIBRATION_DIR``, else ``$XDG_DATA_HOME/workbench/calibrations``."""
    env = os.environ.get("WORKBENCH_CALIBRATION_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "workbench" / "calibrations"


def calibration_candidates(profile: HardwareProfile) -> list[Path]:
    """Where ``profile``'s calibration file may be, in order: beside the profile, user folder."""
    name = f"{profile.name}.calibration.json"
    out = []
    if profile.path:
        out.append(Path(profile.path).resolve().with_name(name))
    out.append(user_calibration_dir() / name)
    return out


def _writable_dir(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


# -- the host fingerprint a calibration belongs to -----------------------------------------------


def host_fingerprint() -> dict[str, Any]:
    """What makes latencies of this host comparable: CPU, ISA, machine (runtimes: per entry)."""
    info = host_info()
    return {"cpu_model": info.cpu_model, "machine": info.machine, "isa_flags": list(info.isa_flags)}


def runtime_version(backend: str) -> str:
    """The installed version of ``backend``'s runtime, or ``unknown``."""
    try:
        return get_backend(backend).version()
    except WorkbenchError:
        return "unknown"


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            out.append(f"{k}: {old.get(k)!r} -> {new.get(k)!r}")
    return out


# -- reading and writing files ---------------------------------------------------------------------


def save_calibration(cal: Calibration, path: Path | None = None) -> Path:
    """Write ``cal`` to ``path`` (default: where it was read from) atomically; sets ``cal.path``."""
    p = Path(path or cal.path or "")
    body = {"schema": SCHEMA_VERSION, **cal.to_dict()}
    atomic_write_text(p, json.dumps(body, indent=1, sort_keys=False, default=float))
    cal.path = p
    return p


def load_calibration(path: Path) -> Calibration:
    """The calibration in the file at ``path``; a file of another schema is refused."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"unreadable calibration file ({err})", location=str(path)) from None
    schema = data.get("schema") if isinstance(data, dict) else "?"
    if isinstance(schema, int) and schema < SCHEMA_VERSION:
        name = data.get("profile", "PROFILE")
        raise ConfigError(
            f"calibration file schema {schema} predates this predictor (schema "
            f"{SCHEMA_VERSION}); recalibrate with: workbench profiles calibrate {name}",
            location=str(path),
        )
    if schema != SCHEMA_VERSION:
        raise ConfigError(f"unsupported calibration file schema {schema}", location=str(path))
    try:
        return Calibration.from_dict(data, Path(path))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            f"malformed calibration entry ({type(err).__name__}: {err})", location=str(path)
        ) from None


def _old_schema(path: Path) -> int | None:
    """The schema of the calibration file at ``path`` if older than this version's, else None."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # Calibration.load says what is wrong with it
    schema = data.get("schema") if isinstance(data, dict) else None
    return schema if isinstance(schema, int) and schema < SCHEMA_VERSION else None


def calibration_status(profile: HardwareProfile | str) -> tuple[Calibration | None, str]:
    """This host's calibration of ``profile`` (stale entries removed), and a sentence about it.

    A file fitted on another CPU, or entries fitted with other runtime versions, are not used;
    the sentence names the differences and the command that recalibrates.
    """
    prof = load_profile(profile)
    if not prof.measured:
        return None, f"{prof.name} is simulated: its predictor terms are the profile's estimates"
    fix = f"recalibrate with: workbench profiles calibrate {prof.name}"
    stale_notes = []
    for path in calibration_candidates(prof):
        if not path.exists():
            continue
        old = _old_schema(path)
        if old is not None:
            stale_notes.append(
                f"{path} has calibration schema {old}, older than this predictor's "
                f"({SCHEMA_VERSION})"
            )
            continue
        cal = load_calibration(path)
        diffs = _diff(cal.host, host_fingerprint())
        if diffs:
            stale_notes.append(f"{path} was fitted on another host ({'; '.join(diffs)})")
            continue
        fresh: list[CalibrationEntry] = []
        stale: list[CalibrationEntry] = []
        for e in cal.entries:
            now = runtime_version(e.backend)
            (fresh if now == e.runtime_version else stale).append(e)
            if now != e.runtime_version:
                cal.stale_entries.append(
                    f"{e.deployment}: {e.backend} {e.runtime_version} -> {now}"
                )
        cal.entries = fresh
        note = f"calibration {path} ({len(fresh)} deployment fit(s))"
        if cal.stale_entries:
            note += f"; stale, not used: {', '.join(cal.stale_entries)} ({fix})"
        return cal, note
    if stale_notes:
        return None, "stale, not used: " + "; ".join(stale_notes) + f" ({fix})"
    return None, f"not calibrated on this host ({fix.replace('recalibrate', 'calibrate')})"


def find_calibration(
    profile: HardwareProfile | str, *, threads: int | None = None
) -> Calibration | None:
    """The fresh calibration of ``profile`` on this host, or None (:func:`calibration_status`)."""
    cal, _note = calibration_status(profile)
    return cal


def merge_and_save(
    prof: HardwareProfile, entries: list[CalibrationEntry]
) -> tuple[Calibration, Path, list[str]]:
    notes = []
    candidates = calibration_candidates(prof)
    target = None
    for p in candidates:
        if _writable_dir(p.parent):
            target = p
            break
        notes.append(f"{p.parent} is not writable")
    if target is None:  # pragma: no cover - no writable folder at all
        raise ConfigError(
            "no writable folder for the calibration file (tried "
            f"{', '.join(str(p.parent) for p in candidates)}); set WORKBENCH_CALIBRATION_DIR"
        )
    if target != candidates[0]:
        notes.append(f"the calibration is stored in the user folder {target.parent} instead")
    host = host_fingerprint()
    cal = Calibration(prof.name, host, [], target)
    if target.exists():
        try:
            old = load_calibration(target)
            if not _diff(old.host, host):
                cal.entries = list(old.entries)
            else:
                notes.append(
                    "replaced a calibration fitted on another host "
                    f"({'; '.join(_diff(old.host, host))})"
                )
        except ConfigError as err:
            notes.append(f"replaced an unreadable calibration file ({err})")
    for e in entries:
        cal.entries = [
            x
            for x in cal.entries
            if not (
                x.deployment == e.deployment
                and x.intra_op == e.intra_op
                and x.inter_op == e.inter_op
            )
        ]
        cal.entries.append(e)
    return cal, save_calibration(cal, target), notes
