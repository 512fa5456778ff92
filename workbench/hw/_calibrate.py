"""Calibrating the latency predictor on a measured profile, and measuring how far to trust it.

``calibrate_profile`` times a seeded population of realistic architectures (40 by default:
:data:`DEFAULT_CALIBRATION_MODELS`) on this host, deployment by deployment. For ONNX Runtime it
also runs every model under the runtime's profiler and fits the kernel-level model to the per-kernel times
(:mod:`workbench.hw._kernels`: per unit kind, non-negative physical terms fitted in log space),
with the runtime's per-call and per-kernel time fitted to the end-to-end timings. The
roofline's efficiency factors and overheads are fitted to the end-to-end timings as well (least
squares on log latency, pulled gently towards the profile's priors): they cost what the kernel
level does not cover, and everything for a runtime without a profiler. The result is a
calibration file beside the profile — ``host-cpu.calibration.json``
next to ``host-cpu.yaml`` — or, when that folder is not writable (an installed package), in
the user's data folder; either way the path is reported.

A calibration is only valid for the host it was fitted on: the file records the CPU model,
ISA flags, machine, thread counts and runtime versions, and a file made elsewhere is refused
as stale (with the differences), never silently reused.

``validate_profile`` measures, on a held-out population never used for fitting, the share of
predictions within ±10% of measurement, the median absolute error and the rank correlation
(Spearman), as nn-Meter reports them, next to the noise floor of the measurements themselves.
The figures are stored in the calibration file and travel with every prediction made with it.

Populations are exported with the TorchScript ONNX exporter by default (several times faster
to export than ``torch.export``); after ONNX Runtime's graph optimisations both exporters'
graphs run the same kernels, and side-by-side timings of the two agree.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench._errors import ConfigError, WorkbenchError
from workbench._files import atomic_write_text
from workbench.arch import ArchSpec
from workbench.hw._predict import (
    COMPUTE_KINDS,
    OpRecord,
    PredictorParams,
    bytes_per_element,
    default_params,
    ops_from_spec,
    predict_ops,
)
from workbench.hw._profile import HardwareProfile, load_profile

__all__ = [
    "AccuracyReport",
    "Calibration",
    "CalibrationEntry",
    "calibrate_profile",
    "calibration_candidates",
    "calibration_status",
    "find_calibration",
    "fit_params",
    "user_calibration_dir",
    "validate_profile",
]

SCHEMA_VERSION = 6  # 2: kernel-level terms; 3: coverage-chosen models, int8 tail-pool terms, size exponent; 4: activations apart, float channel blocking, no common scale; 5: reduction-octave steps in the shape correction; 6: the profiler slowdown taken out as a blend of the per-node and proportional readings, a head's weights from memory beyond the cache, im2col rows of a convolution over few input channels (older files are refused: recalibrate)
_FIT_KINDS = (*COMPUTE_KINDS, "pool", "eltwise")
#: how strongly fitted terms are pulled towards the profile's priors (log space); small, so the
#: measurements decide, but enough to keep terms the population barely exercises sensible
_PRIOR_WEIGHT = 0.1
#: calibration architectures by default, for about twice the calibration time of twenty, once per
#: machine: on a quiet machine twenty predict as well (97% of 30 held-out models within ±10% with
#: either, int8 and fp32, ``benchmarks/bench_predictor.py --part interleaved``), forty are the margin
#: for one whose timings are noisier
DEFAULT_CALIBRATION_MODELS = 40
_ANCHORS = 5  # calibration models re-timed by validate_profile to measure drift since calibration


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- where calibration files live ------------------------------------------------------------------


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
    """Where ``profile``'s calibration file may be, in order: beside the profile, the user folder."""
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
    from workbench._host import host_info

    info = host_info()
    return {"cpu_model": info.cpu_model, "machine": info.machine, "isa_flags": list(info.isa_flags)}


def _runtime_version(backend: str) -> str:
    from workbench.backends import get_backend

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


# -- calibration files -----------------------------------------------------------------------------


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
                f"not yet validated on held-out models: run `workbench profiles accuracy {self.profile}`"
            )
        return t

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "profile": self.profile,
            "host": self.host,
            "entries": [e.to_dict() for e in self.entries],
            "about": (
                "Fitted roofline terms of the workbench latency predictor for this profile on this host "
                "(workbench profiles calibrate); trust figures from held-out models (workbench profiles accuracy)."
            ),
        }

    def save(self, path: Path | None = None) -> Path:
        p = Path(path or self.path or "")
        atomic_write_text(p, json.dumps(self.to_dict(), indent=1, sort_keys=False, default=float))
        self.path = p
        return p

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"unreadable calibration file ({err})", location=str(path)) from None
        schema = data.get("schema") if isinstance(data, dict) else "?"
        if isinstance(schema, int) and schema < SCHEMA_VERSION:
            name = data.get("profile", "PROFILE")
            raise ConfigError(
                f"calibration file schema {schema} predates this predictor (schema {SCHEMA_VERSION}); "
                f"recalibrate with: workbench profiles calibrate {name}",
                location=str(path),
            )
        if schema != SCHEMA_VERSION:
            raise ConfigError(f"unsupported calibration file schema {schema}", location=str(path))
        try:
            entries = [CalibrationEntry.from_dict(e) for e in data.get("entries", [])]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(
                f"malformed calibration entry ({type(err).__name__}: {err})", location=str(path)
            ) from None
        return cls(
            profile=data["profile"], host=dict(data["host"]), entries=entries, path=Path(path)
        )


def _old_schema(path: Path) -> int | None:
    """The schema of the calibration file at ``path`` when it is older than this version's, else None."""
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
                f"{path} has calibration schema {old}, older than this predictor's ({SCHEMA_VERSION})"
            )
            continue
        cal = Calibration.load(path)
        diffs = _diff(cal.host, host_fingerprint())
        if diffs:
            stale_notes.append(f"{path} was fitted on another host ({'; '.join(diffs)})")
            continue
        fresh: list[Any] = []
        stale: list[Any] = []
        for e in cal.entries:
            now = _runtime_version(e.backend)
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
    """The fresh calibration of ``profile`` for this host, or None (see :func:`calibration_status`)."""
    cal, _note = calibration_status(profile)
    return cal


# -- fitting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    """One model's layers reduced to arrays: kind index, operations (with lane padding), bytes,
    reduction length (0 where the K/(K+K_half) factor does not apply)."""

    kind: np.ndarray
    ops: np.ndarray
    bytes: np.ndarray
    reduction: np.ndarray


def _design(ops: Sequence[OpRecord], base: PredictorParams, precision: str) -> _Design:
    act_b, w_b = bytes_per_element(precision)
    kinds, work, moved, red = [], [], [], []
    for op in ops:
        if op.kind == "free" or (op.fusable and base.fuses):
            continue
        k = _FIT_KINDS.index(op.kind)
        pad = 1.0
        if op.kind in COMPUTE_KINDS:
            lanes = max(1, base.lanes)
            pad = math.ceil(op.out_channels / lanes) * lanes / max(1, op.out_channels)
        kinds.append(k)
        work.append(2.0 * op.macs * pad)
        moved.append(op.input_elems * act_b + op.output_elems * act_b + op.params * w_b)
        red.append(op.reduction if op.kind in ("conv", "pwconv", "linear") else 0)
    return _Design(
        np.asarray(kinds, dtype=int),
        np.asarray(work, dtype=float),
        np.asarray(moved, dtype=float),
        np.asarray(red, dtype=float),
    )


def _theta_from(p: PredictorParams) -> np.ndarray:
    eff = [p.efficiency[k] for k in (*_FIT_KINDS, "memory")]
    ovh = [max(p.overhead_us[k], 1e-3) for k in _FIT_KINDS]
    return np.log(np.asarray([*eff, *ovh, max(p.call_us, 1e-2), max(p.k_half, 1e-2)], dtype=float))


def _params_from(theta: np.ndarray, base: PredictorParams, basis: str) -> PredictorParams:
    v = np.exp(theta)
    n = len(_FIT_KINDS)
    eff = {k: float(v[i]) for i, k in enumerate(_FIT_KINDS)}
    eff["memory"] = float(v[n])
    ovh = {k: float(v[n + 1 + i]) for i, k in enumerate(_FIT_KINDS)}
    return PredictorParams(
        peak_gops=base.peak_gops,
        bandwidth_gbs=base.bandwidth_gbs,
        lanes=base.lanes,
        efficiency=eff,
        overhead_us=ovh,
        call_us=float(v[2 * n + 1]),
        fuses=base.fuses,
        k_half=float(v[2 * n + 2]),
        basis=basis,
    )


def _predict_designs(
    theta: np.ndarray, designs: Sequence[_Design], base: PredictorParams
) -> np.ndarray:
    v = np.exp(theta)
    n = len(_FIT_KINDS)
    eff = v[:n]
    eff_mem = v[n]
    ovh = v[n + 1 : 2 * n + 1] * 1e-6
    call = v[2 * n + 1] * 1e-6
    k_half = v[2 * n + 2]
    peak = base.peak_gops * 1e9
    bw = base.bandwidth_gbs * 1e9
    n_compute = len(COMPUTE_KINDS)
    out = np.empty(len(designs))
    for i, d in enumerate(designs):
        if d.kind.size == 0:
            out[i] = call
            continue
        t = ovh[d.kind].copy()
        comp = d.kind < n_compute
        r = d.reduction[comp]
        factor = np.where(r > 0, r / (r + k_half), 1.0)
        t[comp] += np.maximum(
            d.ops[comp] / (peak * eff[d.kind[comp]] * factor), d.bytes[comp] / (bw * eff_mem)
        )
        mem = ~comp
        t[mem] += d.bytes[mem] / (bw * eff[d.kind[mem]])
        out[i] = t.sum() + call
    return out


def fit_params(
    samples: Sequence[tuple[Sequence[OpRecord], float]],
    base: PredictorParams,
    precision: str,
    *,
    prior_weight: float = _PRIOR_WEIGHT,
    basis: str = "",
) -> tuple[PredictorParams, dict[str, Any]]:
    """Fit efficiency factors and overheads to ``(ops, measured ms)`` samples.

    Minimises the squared log ratio of predicted to measured latency (relative error is what
    matters, from 0.3 ms to 50 ms alike), plus ``prior_weight`` times the squared log distance
    of each term from ``base`` (the uncalibrated terms).
    """
    from scipy.optimize import least_squares

    if not samples:
        raise ValueError("no samples to fit")
    designs = [_design(ops, base, precision) for ops, _ in samples]
    y = np.asarray([ms for _, ms in samples], dtype=float) * 1e-3
    theta0 = _theta_from(base)
    n = len(_FIT_KINDS)
    lo = np.log(np.asarray([1e-5] * (n + 1) + [1e-3] * n + [1e-2, 1e-2]))
    hi = np.log(np.asarray([1e3] * (n + 1) + [1e5] * n + [1e6, 1e5]))
    theta0 = np.clip(theta0, lo + 1e-9, hi - 1e-9)

    def residuals(theta: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [np.log(_predict_designs(theta, designs, base) / y), prior_weight * (theta - theta0)]
        )

    res = least_squares(residuals, theta0, bounds=(lo, hi), x_scale=1.0, max_nfev=4000)
    params = _params_from(res.x, base, basis)
    rel = _predict_designs(res.x, designs, base) / y - 1.0
    report = {
        "models": len(samples),
        "rms_log_error": float(np.sqrt(np.mean(np.log1p(rel) ** 2))),
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "median_abs_error": float(np.median(np.abs(rel))),
        "method": "least squares on log(predicted/measured), terms pulled towards the profile priors (weight "
        f"{prior_weight:g} in log space)",
    }
    return params, report


# -- measuring populations -------------------------------------------------------------------------


@dataclass
class _Compiled:
    spec: ArchSpec
    deployment: str
    fn: Callable[[], Any]
    path: Path | None = None  # the deployed file (ONNX for ONNX Runtime), for kernel profiling


def _compile_population(
    specs: Sequence[ArchSpec],
    deployments: Sequence[Any],
    threads: Any,
    workdir: Path,
    *,
    exporter: str,
    on_progress: Callable[[str], None],
) -> tuple[dict[str, _Compiled], list[Any]]:
    """Export, quantize and load every spec for every deployment (untrained weights: latency does
    not depend on them; static int8 is calibrated on random inputs for the same reason)."""
    from workbench._host import host_info
    from workbench.arch import build_torch
    from workbench.backends import CompileContext, Deployment, ModelSource, get_backend

    rng = np.random.default_rng(0)
    compiled: dict[str, _Compiled] = {}
    runners = []
    for i, spec in enumerate(specs):
        on_progress(f"compile {i + 1}/{len(specs)}: {spec.name}")
        model = build_torch(spec, seed=i)
        source = ModelSource(
            "torch",
            model,
            spec.input_shape,
            workdir / f"m{i}",
            name="model",
            onnx_exporter=exporter,
        )
        calib = [rng.standard_normal((1, *spec.input_shape)).astype(np.float32) for _ in range(4)]
        ctx = CompileContext(calibration=calib, threads=threads, isa_flags=host_info().isa_flags)
        x = rng.standard_normal((1, *spec.input_shape)).astype(np.float32)
        for dep in deployments:
            d = Deployment.parse(dep)
            backend = get_backend(d.backend)
            artifact = backend.compile(source, d, ctx)
            runner = backend.load(artifact, threads)
            runners.append(runner)
            compiled[f"{spec.hash}|{d.name}"] = _Compiled(
                spec, d.name, functools.partial(runner, x), artifact.path
            )
    return compiled, runners


def _time(
    compiled: Mapping[str, _Compiled],
    threads: Any,
    *,
    max_time_s: float,
    target_rel_ci: float,
    on_progress: Callable[[str], None],
    profile: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stable medians of every model of ``compiled``, and the kernel profiles of those of
    ``profile`` that run on ONNX Runtime (others are left out), taken in the same rounds: each
    profiled model runs under the profiler right after its timed calls, so its kernel times and
    its end-to-end median see the machine at the same speed."""
    from workbench.hw._kernels import KernelNode, KernelProfile
    from workbench.hw._ort_profiler import ProfiledRuns
    from workbench.hw._timing import clock_for, time_rounds

    wanted = set(profile)
    companions = {
        k: ProfiledRuns(c.path, c.spec.input_shape, threads=threads.intra_op)
        for k, c in compiled.items()
        if k in wanted
        and c.deployment.startswith("onnxruntime-")
        and c.path is not None
        and str(c.path).endswith(".onnx")
    }
    what = "timing and kernel profiles" if companions else "timing"
    try:
        timings = time_rounds(
            {k: c.fn for k, c in compiled.items()},
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            clock=clock_for(threads.intra_op, threads.inter_op),
            companions=companions,
            on_round=lambda r, u: on_progress(
                f"{what}: round {r}, {u} of {len(compiled)} medians not yet stable"
            ),
        )
        kernels = {}
        for k, comp in companions.items():
            t = comp.trace()
            nodes = [
                KernelNode(n, op, us)
                for n, op, us in zip(t.names, t.op_types, t.median_us, strict=True)
            ]
            kernels[k] = KernelProfile(nodes, timings[k].p50_ms)
    finally:
        for comp in companions.values():
            comp.close()
    return timings, kernels


def _fit_kernels(
    params: PredictorParams, models: Sequence[tuple[ArchSpec, Any, float]], precision: str
) -> tuple[PredictorParams, dict[str, Any]]:
    """Add a kernel-level model fitted to ``(spec, kernel profile, end-to-end ms)`` to ``params``."""
    import dataclasses

    from workbench.hw._kernels import activations_apart, attribute_nodes, fit_kernel_model
    from workbench.hw._predict import kernel_units, split_activations

    all_units = [kernel_units(ops_from_spec(spec)) for spec, _prof, _ms in models]
    apart = activations_apart(
        [
            (split_activations(units), prof.nodes)
            for units, (_s, prof, _ms) in zip(all_units, models, strict=True)
        ]
    )
    samples = []
    unnamed = 0
    named_share = []
    for (_spec, prof, ms), whole in zip(models, all_units, strict=True):
        units = split_activations(whole, apart)
        times, info = attribute_nodes(units, prof.nodes)
        unnamed += len(info["unnamed_units"])
        named_share.append(info["named_share"])
        samples.append((units, times, ms, info["nodes"], prof.plain_ms))
    km, report = fit_kernel_model(samples, precision, params.lanes, split_activations=apart)
    report["units"] = sum(len(s[0]) for s in samples)
    report["units_without_a_node"] = unnamed
    report["time_attributed_by_name"] = float(np.mean(named_share)) if named_share else 0.0
    basis = params.basis + "; kernel-level terms fitted to the runtime profiler's per-kernel times"
    return dataclasses.replace(params, kernels=km, basis=basis), report


def _clock_note(threads: Any) -> str:
    from workbench.hw._timing import clock_for

    if clock_for(threads.intra_op, threads.inter_op) == "thread-cpu":
        return (
            "per-call CPU time of the calling thread (the runtime runs on it alone): the latency on a core of its "
            "own, with time taken by other processes left out; wall-clock medians are kept beside"
        )
    return "wall-clock per call, calls preempted by another process left out (all calls when nearly every one was)"


def _resolve_deployments(profile: HardwareProfile, deployments: Sequence[str] | None) -> list[Any]:
    from workbench.backends import Deployment, get_backend

    if deployments:
        deps = [Deployment.parse(d) for d in deployments]
    else:
        deps = []
        if profile.deploy is not None:
            deps.append(Deployment(profile.deploy.backend, profile.deploy.precision))
        if profile.supports("onnxruntime", "fp32") and all(
            d.name != "onnxruntime-fp32" for d in deps
        ):
            deps.append(Deployment("onnxruntime", "fp32"))
    for d in deps:
        if not profile.supports(d.backend, d.precision):
            raise ConfigError(
                f"profile {profile.name!r} does not support {d.name}; it lists backends {', '.join(profile.backends)} "
                f"and precisions {', '.join(profile.precisions)}"
            )
        get_backend(d.backend).check(d, "torch")
    return deps


def _profile_for_measuring(profile: HardwareProfile | str) -> HardwareProfile:
    prof = load_profile(profile)
    if not prof.measured:
        raise ConfigError(
            f"profile {prof.name!r} is simulated: there is no device here to measure it on; calibrate a measured profile"
        )
    return prof


@dataclass
class CalibrationReport:
    calibration: Calibration
    path: Path
    entries: list[CalibrationEntry]
    seconds: float
    notes: list[str] = field(default_factory=list)


def _fit_entry(
    prof: HardwareProfile,
    d: Any,
    th: Any,
    compiled: Mapping[str, _Compiled],
    timings: Mapping[str, Any],
    kernels: Mapping[str, Any],
    *,
    created: str,
    seed: int,
    exporter: str,
) -> CalibrationEntry:
    """The calibration entry of deployment ``d``, fitted on every model of ``compiled`` timed for it."""
    from workbench.hw._timing import noise_floor

    base = default_params(prof, d.backend, d.precision, th.intra_op)
    keys = [k for k, c in compiled.items() if c.deployment == d.name]
    samples = [(ops_from_spec(compiled[k].spec), timings[k].p50_ms) for k in keys]
    basis = (
        f"fitted on {len(samples)} architectures timed on this host ({created}); "
        f"nominal peaks: {base.basis.split(';')[0]}"
    )
    params, fit = fit_params(samples, base, d.precision, basis=basis)
    fit = {"roofline": fit, "models": fit["models"]}
    if all(k in kernels for k in keys) and base.fuses:
        params, kfit = _fit_kernels(
            params, [(compiled[k].spec, kernels[k], timings[k].p50_ms) for k in keys], d.precision
        )
        fit["kernels"] = kfit
        fit["method"] = (
            "kernel level: per-kernel times of every calibration model from the runtime's profiler, taken in the "
            "same interleaved rounds as the end-to-end timings, attributed to the predictor's kernel units by node "
            "name and brought to the model's end-to-end time (the profiler's slowdown taken out as the geometric mean "
            "of a deduction per node and one in proportion); per unit kind, non-negative terms fitted in "
            "log space on MACs, output positions and channels, output, input and weight elements, window reads, "
            "residual adds, non-folded activations (an activation the runtime runs as a kernel of its own fitted "
            "apart) and a head's weights read from memory as the model outgrows the cache, with a ridge-regularised correction over the kernel's shape and the octave of its reduction length; per-call and per-kernel runtime "
            "time and a size exponent fitted to end-to-end timings; "
            "roofline terms (fitted end to end) for unit kinds the calibration did not exercise"
        )
    else:
        fit["method"] = fit["roofline"]["method"]
    fit["noise_floor"] = noise_floor({k: timings[k] for k in keys})
    fit["seed"] = seed
    fit["exporter"] = exporter
    fit["weights"] = (
        "untrained (latency does not depend on weights); static int8 calibrated on random inputs"
    )
    fit["clock"] = _clock_note(th)
    rows = []
    for k in keys:
        c = compiled[k]
        pred = predict_ops(ops_from_spec(c.spec), params, d.precision).latency_ms
        rows.append(
            {
                "name": c.spec.name,
                "hash": c.spec.hash,
                "measured_ms": timings[k].p50_ms,
                "predicted_ms": pred,
                "timing": timings[k].to_dict(),
                "spec": c.spec.to_dict(),
            }
        )
    figs = accuracy_figures([r["predicted_ms"] for r in rows], [r["measured_ms"] for r in rows])
    fit.update(
        within_10pct=figs["within_10pct"],
        median_abs_error=figs["median_abs_error"],
        spearman=figs["spearman"],
    )
    return CalibrationEntry(
        deployment=d.name,
        backend=d.backend,
        precision=d.precision,
        intra_op=th.intra_op,
        inter_op=th.inter_op,
        runtime_version=_runtime_version(d.backend),
        params=params,
        fit=fit,
        models=rows,
        created=created,
    )


def calibrate_profile(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    models: int = DEFAULT_CALIBRATION_MODELS,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> CalibrationReport:
    """Fit ``profile``'s predictor terms on this host from ``models`` timed architectures."""
    from workbench.backends import Threads
    from workbench.hw._population import calibration_population

    prof = _profile_for_measuring(profile)
    if not 3 <= models <= 200:
        raise ConfigError(f"models: expected an integer in [3, 200], got {models}")
    progress = on_progress or (lambda _s: None)
    deps = _resolve_deployments(prof, deployments)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    specs = calibration_population(models, seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-calibrate-") as tmp:
        compiled, runners = _compile_population(
            specs, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        timings, kernels = _time(
            compiled,
            th,
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            on_progress=progress,
            profile=list(compiled),
        )
        for r in runners:
            r.close()
    created = _now()
    entries = [
        _fit_entry(
            prof, d, th, compiled, timings, kernels, created=created, seed=seed, exporter=exporter
        )
        for d in deps
    ]
    cal, path, notes = _merge_and_save(prof, entries)
    return CalibrationReport(cal, path, entries, time.perf_counter() - start, notes)


def _merge_and_save(
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
            f"no writable folder for the calibration file (tried {', '.join(str(p.parent) for p in candidates)}); "
            "set WORKBENCH_CALIBRATION_DIR"
        )
    if target != candidates[0]:
        notes.append(f"the calibration is stored in the user folder {target.parent} instead")
    host = host_fingerprint()
    cal = Calibration(prof.name, host, [], target)
    if target.exists():
        try:
            old = Calibration.load(target)
            if not _diff(old.host, host):
                cal.entries = list(old.entries)
            else:
                notes.append(
                    f"replaced a calibration fitted on another host ({'; '.join(_diff(old.host, host))})"
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
    return cal, cal.save(target), notes


# -- validation on held-out architectures ----------------------------------------------------------


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


@dataclass
class AccuracyReport:
    """How far the calibrated predictor can be trusted, per deployment, on held-out models."""

    profile: str
    threads: int
    results: dict[str, dict[str, Any]]  # deployment -> figures
    path: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "threads": self.threads,
            "results": self.results,
            "calibration_file": str(self.path),
            "seconds": self.seconds,
        }


def accuracy_figures(
    predicted_ms: Sequence[float], measured_ms: Sequence[float]
) -> dict[str, float]:
    """nn-Meter's figures: share within ±10%, median and mean absolute relative error, Spearman, bias."""
    p = np.asarray(predicted_ms, dtype=float)
    m = np.asarray(measured_ms, dtype=float)
    rel = p / m - 1.0
    return {
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "within_5pct": float(np.mean(np.abs(rel) <= 0.05)),
        "median_abs_error": float(np.median(np.abs(rel))),
        "mean_abs_error": float(np.mean(np.abs(rel))),
        "median_signed_error": float(np.median(rel)),
        "spearman": spearman(p, m),
    }


def _prediction_rows(
    compiled: Mapping[str, _Compiled],
    keys: Sequence[str],
    timings: Mapping[str, Any],
    params: PredictorParams,
    precision: str,
) -> list[dict[str, Any]]:
    """Predicted beside measured latency of each model of ``keys``."""
    rows = []
    for k in keys:
        c = compiled[k]
        pred = predict_ops(ops_from_spec(c.spec), params, precision).latency_ms
        rows.append(
            {
                "name": c.spec.name,
                "hash": c.spec.hash,
                "family": c.spec.family,
                "measured_ms": timings[k].p50_ms,
                "predicted_ms": pred,
                "error": pred / timings[k].p50_ms - 1.0,
                "timing": timings[k].to_dict(),
            }
        )
    return rows


def _heldout_figures(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], timings: Mapping[str, Any]
) -> dict[str, Any]:
    """nn-Meter's figures of ``rows``, their count, the noise floor of their timings and their range."""
    from workbench.hw._timing import noise_floor

    return {
        **accuracy_figures([r["predicted_ms"] for r in rows], [r["measured_ms"] for r in rows]),
        "models": len(rows),
        "noise_floor": noise_floor({k: timings[k] for k in keys}),
        "latency_range_ms": [
            min(r["measured_ms"] for r in rows),
            max(r["measured_ms"] for r in rows),
        ],
    }


def interleaved_accuracy(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    calibration: int = DEFAULT_CALIBRATION_MODELS,
    heldout: int = 30,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The predictor's accuracy with the machine's drift between sessions kept out of it.

    :func:`calibrate_profile` and :func:`validate_profile` time in two sessions, and a shared
    machine can run some percent faster or slower in the second: their figures hold that drift
    and the predictor's error together. Here the calibration and held-out models are timed
    interleaved in one session; the fit is made exactly as :func:`calibrate_profile` makes it, on
    the calibration models only (the held-out ones are neither profiled nor fitted), and then
    predicts the held-out ones. Nothing is stored. Returns per deployment the held-out figures
    (as :func:`accuracy_figures`), their noise floor, the in-sample figures and the rows.
    """
    from workbench.backends import Threads
    from workbench.hw._population import calibration_population, heldout_population

    prof = _profile_for_measuring(profile)
    if not 3 <= calibration <= 200 or not 3 <= heldout <= 500:
        raise ConfigError(
            f"calibration and heldout: expected 3-200 and 3-500 models, got {calibration} and {heldout}"
        )
    progress = on_progress or (lambda _s: None)
    deps = _resolve_deployments(prof, deployments)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    cal = calibration_population(calibration, seed=seed)
    held = heldout_population(heldout, seed=seed, calibration=cal)
    fitted = {s.hash for s in cal}
    with tempfile.TemporaryDirectory(prefix="wb-accuracy-") as tmp:
        compiled, runners = _compile_population(
            cal + held, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        cal_compiled = {k: c for k, c in compiled.items() if c.spec.hash in fitted}
        timings, kernels = _time(
            compiled,
            th,
            max_time_s=max_time_s,
            target_rel_ci=target_rel_ci,
            on_progress=progress,
            profile=list(cal_compiled),
        )
        for r in runners:
            r.close()
    created = _now()
    out: dict[str, dict[str, Any]] = {}
    for d in deps:
        e = _fit_entry(
            prof,
            d,
            th,
            cal_compiled,
            timings,
            kernels,
            created=created,
            seed=seed,
            exporter=exporter,
        )
        keys = [
            k for k, c in compiled.items() if c.deployment == d.name and c.spec.hash not in fitted
        ]
        rows = _prediction_rows(compiled, keys, timings, e.params, d.precision)
        out[d.name] = {
            **_heldout_figures(rows, keys, timings),
            "calibration_models": len(e.models),
            "in_sample": {k: e.fit[k] for k in ("within_10pct", "median_abs_error", "spearman")},
            "threads": th.intra_op,
            "method": "calibration and held-out models timed interleaved in one session; fitted on the calibration models only",
            "rows": rows,
        }
    return out


def validate_profile(
    profile: HardwareProfile | str,
    *,
    deployments: Sequence[str] | None = None,
    models: int = 30,
    seed: int = 0,
    threads: int | None = None,
    max_time_s: float = 900.0,
    target_rel_ci: float = 0.02,
    exporter: str = "torchscript",
    on_progress: Callable[[str], None] | None = None,
) -> AccuracyReport:
    """Measure the calibrated predictor on ``models`` held-out architectures; store the figures."""
    from workbench.arch import ArchSpec as _Spec
    from workbench.backends import Threads
    from workbench.hw._population import heldout_population

    prof = _profile_for_measuring(profile)
    if not 3 <= models <= 500:
        raise ConfigError(f"models: expected an integer in [3, 500], got {models}")
    progress = on_progress or (lambda _s: None)
    th = Threads(intra_op=threads or prof.resolved_threads(), inter_op=prof.inter_op_threads)
    cal, note = calibration_status(prof)
    deps = _resolve_deployments(prof, deployments)
    entries = []
    for d in deps:
        e = cal.entry(d.backend, d.precision, th.intra_op, th.inter_op) if cal else None
        if e is None:
            raise ConfigError(
                f"{prof.name} has no calibration of {d.name} at {th.intra_op} thread(s) on this host ({note}); "
                f"run: workbench profiles calibrate {prof.name}"
                + (f" --threads {th.intra_op}" if threads else "")
            )
        entries.append(e)
    assert cal is not None
    used = {
        m["hash"] for e in entries for m in e.models
    }  # never validate on a model the fit has seen
    specs = heldout_population(models, seed=seed, exclude=used)
    # a few calibration models are timed again beside the held-out ones: how much faster or slower
    # the machine is now than when it was calibrated (load on a shared machine drifts)
    anchor_rows = [m for m in entries[0].models if m.get("spec")][
        :: max(1, len(entries[0].models) // _ANCHORS)
    ][:_ANCHORS]
    anchors = [_Spec.from_dict(m["spec"]) for m in anchor_rows]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-validate-") as tmp:
        compiled, runners = _compile_population(
            specs, deps, th, Path(tmp), exporter=exporter, on_progress=progress
        )
        anchor_compiled, anchor_runners = _compile_population(
            anchors,
            [entries[0].deployment],
            th,
            Path(tmp) / "anchors",
            exporter=exporter,
            on_progress=progress,
        )
        everything = {**compiled, **{f"anchor|{k}": v for k, v in anchor_compiled.items()}}
        timings, _ = _time(
            everything, th, max_time_s=max_time_s, target_rel_ci=target_rel_ci, on_progress=progress
        )
        for r in runners + anchor_runners:
            r.close()
    then = {m["hash"]: m["measured_ms"] for m in anchor_rows}
    ratios = [
        timings[f"anchor|{k}"].p50_ms / then[c.spec.hash]
        for k, c in anchor_compiled.items()
        if c.spec.hash in then
    ]
    ratio = float(np.median(ratios)) if ratios else math.nan
    drift = {
        "models": len(ratios),
        "deployment": entries[0].deployment,
        "median_ratio_now_to_calibration": ratio,
        "about": "calibration models timed again in this run: latency now / latency when calibrated (1.0 = no drift)",
    }
    results: dict[str, dict[str, Any]] = {}
    measured_at = _now()
    for d, e in zip(deps, entries, strict=True):
        keys = [k for k, c in compiled.items() if c.deployment == d.name]
        rows = _prediction_rows(compiled, keys, timings, e.params, d.precision)
        adjusted = (
            accuracy_figures(
                [r["predicted_ms"] * ratio for r in rows], [r["measured_ms"] for r in rows]
            )
            if math.isfinite(ratio)
            else None
        )
        e.accuracy = {
            **_heldout_figures(rows, keys, timings),
            # the same predictions scaled by the drift the anchors measured: what is left of the error
            # when the machine's change of speed since calibration is taken out (a separate figure,
            # never the headline one)
            "drift_adjusted": adjusted,
            "calibration_id": e.id,
            "measured_at": measured_at,
            "seed": seed,
            "threads": th.intra_op,
            "drift_since_calibration": drift,
            "clock": _clock_note(th),
            "method": (
                "held-out architectures (disjoint from the calibration set) timed interleaved in rounds until each "
                "median's 95% CI is within the target or the time cap; noise floor = disagreement of the first- and "
                "second-half medians of the same run"
            ),
            "rows": rows,
        }
        results[d.name] = {k: v for k, v in e.accuracy.items() if k != "rows"} | {"rows": rows}
    path = cal.save()
    return AccuracyReport(prof.name, th.intra_op, results, path, time.perf_counter() - start)
