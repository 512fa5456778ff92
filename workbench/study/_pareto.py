"""Pareto fronts, hypervolume and knee points (pure NumPy, any number of objectives).

Directions are ``"maximize"`` or ``"minimize"`` per column; internally every column is turned
into a minimisation. A point is on the front when no other point is at least as good in every
objective and strictly better in one; identical points are all kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hypervolume", "knee_point", "non_dominated", "reference_point"]


def _as_min(
    points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != len(directions):
        raise ValueError(f"points must be (n, {len(directions)}), got {pts.shape}")
    for d in directions:
        if d not in ("maximize", "minimize"):
            raise ValueError(f"direction must be maximize or minimize, got {d!r}")
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return pts * sign


def non_dominated(
    points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
) -> np.ndarray:
    """Boolean mask of the points on the Pareto front, vectorised (O(n log n) in 2-D).

    A row holding NaN is never on the front and dominates nothing.
    """
    pts = _as_min(points, directions)
    mask = np.zeros(len(pts), dtype=bool)
    rows = np.flatnonzero(~np.isnan(pts).any(axis=1))
    if len(rows) == 0:
        return mask
    valid = pts[rows]
    mask[rows] = _non_dominated_2d(valid) if valid.shape[1] == 2 else _non_dominated_nd(valid)
    return mask


def _non_dominated_nd(pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    mask = np.ones(n, dtype=bool)
    chunk = max(1, 4_000_000 // max(1, n * pts.shape[1]))
    for start in range(0, n, chunk):
        block = pts[start : start + chunk]  # (b, d)
        le = (pts[None, :, :] <= block[:, None, :]).all(axis=2)  # others at least as good
        lt = np.any(pts[None, :, :] < block[:, None, :], axis=2)  # and strictly better somewhere
        mask[start : start + chunk] = ~(le & lt).any(axis=1)
    return mask


def _non_dominated_2d(pts: np.ndarray) -> np.ndarray:
    # sort by x then y; within a run of equal x only the run's lowest y can be on the front, and
    # only when it is below the lowest y of every smaller x (the first run always is)
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    xs, ys = pts[order, 0], pts[order, 1]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    run = np.cumsum(starts) - 1
    run_min = ys[starts]  # sorted by y within a run: its first point has its lowest y
    best_before = np.minimum.accumulate(run_min)[:-1]
    run_on = np.r_[True, run_min[1:] < best_before]
    on_front = run_on[run] & (ys == run_min[run])
    mask = np.zeros(len(pts), dtype=bool)
    mask[order[on_front]] = True
    return mask


def reference_point(
    points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str], margin: float = 0.1
) -> np.ndarray:
    """A reference point worse than every point: accuracy-like maxima at 0, minima at
    max * (1 + margin)."""
    pts = np.asarray(points, dtype=np.float64)
    ref = []
    for j, d in enumerate(directions):
        col = pts[:, j] if len(pts) else np.zeros(1)
        if d == "maximize":
            ref.append(min(0.0, float(col.min())))
        else:
            hi = float(col.max())
            ref.append(hi * (1 + margin) if hi > 0 else hi + margin)
    return np.asarray(ref)


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]],
    reference: Sequence[float],
    directions: Sequence[str],
) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (in the original units)."""
    pts = _as_min(points, directions)
    ref = _as_min(np.asarray([reference], dtype=np.float64), directions)[0]
    if len(pts) == 0:
        return 0.0
    pts = pts[(pts < ref).all(axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts, ["minimize"] * pts.shape[1])]
    return float(_hv(np.unique(pts, axis=0), ref))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    d = pts.shape[1]
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        order = np.argsort(pts[:, 0])
        p = pts[order]
        vol, prev_y = 0.0, ref[1]
        for x, y in p:
            if y < prev_y:
                vol += (ref[0] - x) * (prev_y - y)
                prev_y = y
        return vol
    # slice along the last objective (HSO); fine for the front sizes a study produces
    order = np.argsort(pts[:, -1])
    p = pts[order]
    vol = 0.0
    for i in range(len(p)):
        upper = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        depth = upper - p[i, -1]
        if depth <= 0:
            continue
        sub = p[: i + 1, :-1]
        sub = sub[non_dominated(sub, ["minimize"] * sub.shape[1])]
        vol += depth * _hv(sub, ref[:-1])
    return vol


def knee_point(
    points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
) -> int | None:
    """Index of the front point farthest from the line through the front's two extremes (2-D),
    after normalising each objective to [0, 1]; ``None`` for fewer than three front points."""
    pts = _as_min(points, directions)
    if pts.shape[1] != 2:
        raise ValueError("knee_point needs two objectives")
    mask = non_dominated(pts, ["minimize", "minimize"])
    idx = np.flatnonzero(mask)
    if len(idx) < 3:
        return int(idx[0]) if len(idx) else None
    front = pts[idx]
    lo, hi = front.min(axis=0), front.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    f = (front - lo) / span
    a = f[np.argmin(f[:, 0])]
    b = f[np.argmin(f[:, 1])]
    ab = b - a
    norm = np.hypot(*ab)
    if norm == 0:
        return int(idx[0])
    dist = np.abs(ab[0] * (a[1] - f[:, 1]) - ab[1] * (a[0] - f[:, 0])) / norm
    return int(idx[int(np.argmax(dist))])
