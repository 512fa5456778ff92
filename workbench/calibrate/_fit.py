"""The roofline fit: efficiency factors and overheads fitted to end-to-end timings.

Least squares on log latency (relative error is what matters, from 0.3 ms to 50 ms alike),
pulled gently towards the profile's priors, so the measurements decide but terms the
population barely exercises stay sensible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.hw import OpRecord, PredictorParams
from workbench.hw._predict import COMPUTE_KINDS, bytes_per_element

__all__ = ["fit_params"]

_FIT_KINDS = (*COMPUTE_KINDS, "pool", "eltwise")
#: how strongly fitted terms are pulled towards the profile's priors (log space); small, so the
#: measurements decide, but enough to keep terms the population barely exercises sensible
_PRIOR_WEIGHT = 0.1


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
        "method": (
            "least squares on log(predicted/measured), terms pulled towards the profile priors "
            f"(weight {prior_weight:g} in log space)"
        ),
    }
    return params, report
