"""What each endpoint returns, built from the library (blocking; run in an executor).

The points view sends only what a Pareto plot needs: per measurement key, parallel arrays of
trial numbers, x, y, predicted flags and Pareto flags (no per-point objects), the axis labels,
units and directions, and the study's objective names. Nothing on a front is ever dropped.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workbench._errors import ConfigError
from workbench.bench import MeasurementKey
from workbench.server._storage import LRU, EmptyStorage, StorageRef, Storages, file_identity
from workbench.study import METRICS, metric_for_field, target_trials

__all__ = [
    "AXES",
    "StudyViews",
    "axis_for_metric",
    "list_configs",
    "list_profiles",
]

#: axis name -> (label, unit, direction), read from the metric registry (stored units)
AXES: dict[str, tuple[str, str, str]] = {
    name: (m.label, m.unit, m.direction) for name, m in METRICS.items()
}
_LATENCY_AXES = ("latency", "latency_p90")
MAX_TRIALS_PAGE = 500


def axis_for_metric(metric_name: str) -> str | None:
    """The plot axis of a study's metric name (``latency_p50_ms`` -> ``latency``), if any."""
    m = metric_for_field(metric_name)
    return m.name if m is not None else None


def _axis(name: str) -> dict[str, Any]:
    label, unit, direction = AXES[name]
    return {"name": name, "label": label, "unit": unit, "direction": direction}


def _objectives(directions: list[str], metric_names: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, d in enumerate(directions):
        name = metric_names[i] if i < len(metric_names) else f"objective {i}"
        axis = axis_for_metric(name)
        out.append(
            {
                "name": name,
                "direction": d,
                "axis": axis,
                "label": AXES[axis][0] if axis else name,
                "unit": AXES[axis][1] if axis else "",
            }
        )
    return out


def _f(values: np.ndarray) -> list[float]:
    """Floats for JSON, six significant digits (what the study stores for plots)."""
    return [float(f"{v:.6g}") for v in values.tolist()]


class StudyViews:
    """Studies, trials and Pareto points of the storages a server reads."""

    def __init__(
        self,
        root: Path,
        default_storage: str | None = None,
        loader: Callable[[str, str, bool], Any] | None = None,
        *,
        outside_root: bool = False,
    ) -> None:
        self.root = root.resolve()
        self.default_storage = default_storage
        self.outside_root = outside_root
        self.storages = Storages(loader=loader)
        self._points: LRU[tuple[Any, ...], bytes] = LRU(32)

    def ref(self, url: str | None, *, confine: bool = True) -> StorageRef:
        """``url`` resolved; a requested SQLite file outside the root is refused unless the
        server allows it (the configured default storage, and ``confine=False``, never are)."""
        from workbench.server._storage import resolve_storage

        asked = bool((url or "").strip())
        return resolve_storage(
            url,
            self.root,
            self.default_storage,
            confine=confine and asked and not self.outside_root,
        )

    # -- studies -----------------------------------------------------------------------------
    def studies(self, url: str | None, running: dict[str, str] | None = None) -> dict[str, Any]:
        """Every study in the storage with its counts, best figures and status."""
        ref = self.ref(url)
        out: dict[str, Any] = {"storage": ref.to_dict(self.root), "studies": []}
        if not ref.exists:
            out["note"] = (
                f"no study database at {ref.display} yet: launch a run, or pick another storage in "
                "the settings"
            )
            return out
        running = running or {}
        try:
            summaries = self.storages.studies(ref, running={n for n, j in running.items() if j})
        except EmptyStorage as err:
            out["note"] = str(err)
            return out
        for summary in summaries:
            item = summary.to_dict()
            for b in item["best"]:
                axis = axis_for_metric(b["name"])
                b["axis"], b["unit"] = axis, AXES[axis][1] if axis else ""
                if axis not in _LATENCY_AXES:
                    b["source"] = None  # only latencies are measured or predicted
            item["job"] = running.get(summary.name)
            item["objectives"] = _objectives(summary.directions, summary.metric_names)
            out["studies"].append(item)
        return out

    def study(self, url: str | None, name: str) -> dict[str, Any]:
        """One study: counts, objectives, measurement keys with their source, attributes."""
        ref = self.ref(url)
        row = self.storages.study_row(ref, name)
        index, _ = self.storages.index(ref, name, lean=True)
        counts = Counter(index.states.tolist())
        keys = []
        for key in index.tables:
            table = index.tables[key]
            have = table["ok"] > 0
            pred = table["predicted"][have] > 0
            keys.append(
                {
                    "key": key,
                    **_split(key),
                    "n_ok": int(have.sum()),
                    "source": _source(pred),
                }
            )
        attrs = row.user_attrs
        config = attrs.get("config") or {}
        return {
            "name": name,
            "storage": ref.to_dict(self.root),
            "n_trials": len(index),
            "states": dict(counts),
            "target_trials": target_trials(attrs),
            "objectives": _objectives(row.directions, row.metric_names),
            "keys": keys,
            "profiles": index.profiles(),
            "deployments": index.deployments(),
            "frameworks": index.frameworks(),
            "objective_deployment": attrs.get("objective_deployment"),
            "objective_profile": attrs.get("objective_profile"),
            "host": attrs.get("host"),
            "synthetic": bool(attrs.get("synthetic")),
            "artifact_store": attrs.get("artifact_store"),
            "workbench_version": attrs.get("workbench_version"),
            "space_family": (config.get("space") or {}).get("family")
            if isinstance(config, dict)
            else None,
        }

    # -- trials ------------------------------------------------------------------------------
    def trials(
        self,
        url: str | None,
        name: str,
        *,
        offset: int = 0,
        limit: int = 50,
        sort: str = "number",
        order: str = "desc",
        state: str | None = None,
    ) -> dict[str, Any]:
        """A page of the trial table (number, state, objective values, architecture, cost)."""
        ref = self.ref(url)
        index, _ = self.storages.index(ref, name)
        if not 1 <= limit <= MAX_TRIALS_PAGE:
            raise ConfigError(f"limit must be an integer in [1, {MAX_TRIALS_PAGE}], got {limit}")
        if offset < 0:
            raise ConfigError(f"offset must be >= 0, got {offset}")
        if order not in ("asc", "desc"):
            raise ConfigError(f"order must be asc or desc, got {order!r}")
        rows = np.arange(len(index))
        if state:
            rows = rows[index.states == state.upper()]
        names = list(index.metric_names) or [f"objective {i}" for i in range(len(index.directions))]
        if sort == "number":
            keys = index.numbers[rows].astype(float)
        elif sort in ("params", "macs"):
            keys = getattr(index, sort)[rows]
        elif sort in names:
            keys = index.values[rows, names.index(sort)]
        else:
            raise ConfigError(
                f"sort must be one of number, params, macs, {', '.join(names)}; got {sort!r}"
            )
        # NaN (no value) last in both orders
        finite = np.where(np.isfinite(keys), keys, np.inf if order == "asc" else -np.inf)
        idx = np.argsort(finite, kind="stable")
        if order == "desc":
            idx = idx[::-1]
        page = rows[idx][offset : offset + limit]
        return {
            "study": name,
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "sort": sort,
            "order": order,
            "objectives": _objectives(index.directions, index.metric_names),
            "trials": [
                {
                    "number": int(index.numbers[r]),
                    "state": str(index.states[r]),
                    "values": [
                        None if not math.isfinite(v) else float(f"{v:.6g}")
                        for v in index.values[r].tolist()
                    ],
                    "arch": index.arch[r],
                    "params": _int_or_none(index.params[r]),
                    "macs": _int_or_none(index.macs[r]),
                    "objective_key": index.objective_key[r],
                }
                for r in page
            ],
        }

    def trial(self, url: str | None, name: str, number: int) -> dict[str, Any]:
        """One trial with its measurements (latency with spread and source, receipts summarised)."""
        ref = self.ref(url)
        row = self.storages.study_row(ref, name)
        try:
            state, values, params, attrs, duration = self.storages.trial_attrs(
                ref, row.study_id, number
            )
        except KeyError:
            raise KeyError(f"study {name!r} has no trial {number}") from None
        measurements = []
        for k in sorted(a for a in attrs if a.startswith("measure:")):
            m = attrs[k] or {}
            lat = m.get("latency") or {}
            measurements.append(
                {
                    "key": k[len("measure:") :],
                    "source": m.get("source"),
                    "status": m.get("status"),
                    "accuracy": m.get("accuracy"),
                    "latency": {
                        f: lat.get(f)
                        for f in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv", "n")
                    }
                    if lat
                    else None,
                    "size_bytes": m.get("size_bytes"),
                    "peak_memory_bytes": m.get("peak_memory_bytes"),
                    "error": m.get("error"),
                    "stage": m.get("stage"),
                    "int8_scheme": ((m.get("meta") or {}).get("int8_scheme") or {}).get("label"),
                }
            )
        return {
            "study": name,
            "number": number,
            "state": state,
            "values": values,
            "params": params,
            "duration_s": duration,
            "objectives": _objectives(row.directions, row.metric_names),
            "arch": attrs.get("arch"),
            "arch_hash": attrs.get("arch_hash"),
            "n_params": attrs.get("params"),
            "macs": attrs.get("macs"),
            "float_accuracy": attrs.get("float_accuracy"),
            "objective_key": attrs.get("objective_deployment"),
            "failure": attrs.get("failure"),
            "spec": attrs.get("spec"),
            "measurements": measurements,
        }

    # -- points ------------------------------------------------------------------------------
    def points(
        self,
        url: str | None,
        name: str,
        *,
        profile: str | None = None,
        deployment: str | None = None,
        x: str | None = None,
        y: str | None = None,
    ) -> tuple[bytes, bool]:
        """The Pareto plot's data as compact JSON bytes, and whether it came from the cache."""
        import json

        t0 = time.perf_counter()
        ref = self.ref(url)
        index, how = self.storages.index(ref, name, lean=True)
        row = self.storages.study_row(ref, name)
        objectives = _objectives(index.directions, index.metric_names)
        obj_axes = [o["axis"] for o in objectives if o["axis"]]
        x = x or next((a for a in obj_axes if a != "accuracy"), "latency")
        y = y or ("accuracy" if "accuracy" in obj_axes or not obj_axes else obj_axes[0])
        for label, axis in (("x", x), ("y", y)):
            if axis not in AXES:
                raise ConfigError(f"{label} must be one of {', '.join(AXES)}; got {axis!r}")
        profiles = index.profiles()
        if not profiles:
            raise ConfigError(f"study {name!r} has no measurements yet")
        if profile is None:
            wanted = row.user_attrs.get("objective_profile")
            profile = wanted if wanted in profiles else profiles[0]
        elif profile not in profiles:
            raise ConfigError(f"profile must be one of {', '.join(profiles)}; got {profile!r}")
        prof_keys = [k for k in index.tables if MeasurementKey.parse(k).profile == profile]
        choices = [MeasurementKey.parse(k).variant for k in prof_keys]  # framework/deployment
        if deployment is None:
            deployment = _default_deployment(
                index, prof_keys, row.user_attrs.get("objective_deployment")
            )
        if deployment == "all":
            keys = prof_keys
        else:
            keys = [
                k
                for k in prof_keys
                if deployment
                in (MeasurementKey.parse(k).variant, MeasurementKey.parse(k).deployment)
            ]
            if not keys:
                raise ConfigError(
                    f"deployment must be 'all' or one of {', '.join(choices)}; got {deployment!r}"
                )
        cache_key = (
            ref.url,
            file_identity(ref.url),
            name,
            self.storages.signature(ref, row.study_id),
            profile,
            deployment,
            x,
            y,
        )
        body = self._points.get(cache_key)
        if body is not None:
            return body, True
        from workbench.study import hypervolume, knee_point, non_dominated, reference_point

        dirs = [AXES[x][2], AXES[y][2]]
        series = []
        stacked = []
        for k in keys:
            rows, xs, ys, pred = index.points(k, x, y)
            stacked.append(np.column_stack([xs, ys]))
            series.append((k, rows, xs, ys, pred))
        allpts = np.concatenate(stacked) if stacked else np.zeros((0, 2))
        ref_pt = reference_point(allpts, dirs) if len(allpts) else np.zeros(2)
        out_series = []
        front_arch: dict[str, str] = {}
        for k, rows, xs, ys, pred in series:
            pts = np.column_stack([xs, ys])
            if len(rows):
                mask = non_dominated(pts, dirs)
                front = np.flatnonzero(mask)
                front = front[np.argsort(xs[front], kind="stable")]
                # the knee and the hypervolume depend on the front alone: compute them on it
                knee_in_front = knee_point(pts[front], dirs)
                knee = int(front[knee_in_front]) if knee_in_front is not None else None
                hv = hypervolume(pts[front], ref_pt.tolist(), dirs)
            else:
                mask, front, knee, hv = np.zeros(0, dtype=bool), np.zeros(0, dtype=int), None, 0.0
            for i in front.tolist():
                front_arch[str(int(index.numbers[rows[i]]))] = ""
            out_series.append(
                {
                    "key": k,
                    **_split(k),
                    "source": _source(pred),
                    "n": len(rows),
                    "trial": index.numbers[rows].tolist(),
                    "x": _f(xs),
                    "y": _f(ys),
                    "predicted": pred.astype(int).tolist(),
                    "pareto": mask.astype(int).tolist(),
                    "front": front.tolist(),  # indices of the Pareto points, by increasing x
                    "knee": int(index.numbers[rows[knee]]) if knee is not None else None,
                    "hypervolume": float(f"{hv:.6g}"),
                }
            )
        # architectures of the front points only (the lean index has none)
        archs = self.storages.attr_of(ref, row.study_id, [int(t) for t in front_arch], "arch")
        front_arch = {t: str(archs.get(int(t), "")) for t in front_arch}
        payload = {
            "study": name,
            "storage": ref.display,
            "n_trials": len(index),
            "profile": profile,
            "profiles": profiles,
            "deployment": deployment,
            "deployments": choices,
            "x": _axis(x),
            "y": _axis(y),
            "axes": [_axis(a) for a in AXES],
            "objectives": objectives,
            "reference": _f(ref_pt),
            "synthetic": bool(row.user_attrs.get("synthetic")),
            "series": out_series,
            "front_arch": front_arch,
            "index_cached": how == "cache",
            "index_loaded_by": how,
            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        self._points.put(cache_key, body)
        return body, False


def _default_deployment(index: Any, prof_keys: list[str], objective_deployment: Any) -> str:
    """The deployment the study optimised: its named one, else the one most trials chose
    ("fastest")."""
    if not prof_keys:
        return "all"
    if isinstance(objective_deployment, str):
        for k in prof_keys:
            if MeasurementKey.parse(k).deployment == objective_deployment:
                return MeasurementKey.parse(k).variant
    chosen = Counter(k for k in index.objective_key if k in prof_keys)
    if chosen:
        return MeasurementKey.parse(chosen.most_common(1)[0][0]).variant
    return MeasurementKey.parse(prof_keys[0]).variant


def _split(key: str) -> dict[str, str]:
    return MeasurementKey.parse(key)._asdict()


def _source(pred: np.ndarray) -> str:
    if len(pred) == 0:
        return "none"
    n = int(pred.sum())
    return "predicted" if n == len(pred) else "measured" if n == 0 else "mixed"


def _int_or_none(v: float) -> int | None:
    return int(v) if math.isfinite(v) else None


# -- files and profiles ------------------------------------------------------------------------
_SKIP_DIRS = {"node_modules", "runs", "__pycache__", ".git", ".ipynb_checkpoints", "site-packages"}


def list_configs(root: Path, max_depth: int = 3, limit: int = 200) -> list[dict[str, Any]]:
    """Study configs under ``root``: ``*.yaml`` files in folders named ``search``
    (root-relative paths)."""
    root = root.resolve()
    found: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS and depth < max_depth
        )
        if Path(dirpath).name != "search":
            continue
        for f in sorted(filenames):
            if f.endswith((".yaml", ".yml")) and not f.startswith("."):
                p = Path(dirpath) / f
                found.append(
                    {
                        "path": p.relative_to(root).as_posix(),
                        "name": p.stem,
                        "mtime": p.stat().st_mtime,
                    }
                )
                if len(found) >= limit:
                    return found
    return found


def list_profiles(root: Path) -> dict[str, Any]:
    """Hardware profiles a run started in ``root`` would see (:func:`workbench.hw.profile_files`);
    an invalid file is listed with its error."""
    from workbench._errors import WorkbenchError
    from workbench._resources import builtin_dir
    from workbench.hw import load_profile, profile_files

    builtin = builtin_dir("hwprofiles")
    profiles, errors = [], []
    for name, path in profile_files(root).items():
        try:
            p = load_profile(path)
        except WorkbenchError as err:
            errors.append({"name": name, "message": str(err)})
            continue
        info = p.to_dict()
        info["source"] = "measured" if p.kind == "measured" else "predicted"
        info["file"] = _profile_file(path, root, builtin)
        profiles.append(info)
    return {"profiles": profiles, "errors": errors}


def _profile_file(path: Path, root: Path, builtin: Path | None) -> str:
    """Where a profile comes from, as the panel shows it: root-relative, built in, or absolute."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        if builtin is not None and path.parent.resolve() == builtin.resolve():
            return "(built in)"
        return str(path)
