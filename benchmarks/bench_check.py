"""The regression gate's error rates and cost: false alarms, detections and wall time.

1. False-alarm rate (goal <= 5%): 20 A/A checks, the same study as baseline and candidate, so
   every pair is one artifact timed against a copy of itself.
2. Detection rate (goal >= 95%): 20 checks of a candidate really slower: the same MLP with one
   more hidden layer (about 10% to 30% slower here, where call overhead weighs); the measured
   ratio is printed beside the rate.
3. Wall time of one check of the quickstart's Pareto set (goal < 2 min on 2 cores), with the
   check's default timing. An existing run is used (``--quickstart-out``, holding
   ``workbench.db``); otherwise the quickstart is run here with ``--quickstart-trials`` trials.

    python benchmarks/bench_check.py            # full run (about 15 minutes on 2 cores)
    python benchmarks/bench_check.py --quick    # 5 checks each, short timing: a smoke check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "2")


def study(out: Path, name: str, layers: int, units: int) -> Any:
    """A one-trial MLP study on digits (``layers`` hidden layers of ``units``), deployed with
    ONNX Runtime fp32."""
    import yaml

    from workbench.study import load_config, run_study

    cfg = {
        "schema": 1,
        "study": {
            "name": name,
            "sampler": "random",
            "seed": 0,
            "trials": 1,
            "objectives": ["accuracy", "latency"],
            "out_dir": str(out),
        },
        "data": {"source": "digits"},
        "train": {"epochs": 3, "batch_size": 128, "lr": 0.01},
        "space": {
            "family": "mlp",
            "layers": {"min": layers, "max": layers},
            "units": [units],
        },
        "hardware": ["host-cpu"],
        "deployments": ["onnxruntime-fp32"],
        "onnx_exporter": "torchscript",
    }
    path = out / f"{name}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    c = load_config(path)
    run_study(c, progress=False, measure_memory=False)
    return c


def rates(
    baseline: Any, cfg: Any, name: str, n: int, settings: Any, key: str
) -> tuple[int, list[float]]:
    """How many of ``n`` checks found a latency regression at ``key``, and each measured ratio."""
    from workbench.check import check_baseline

    hits, ratios = 0, []
    for i in range(n):
        res = check_baseline(baseline, cfg.storage_url(), name, None, settings=settings)
        point = next(p for p in res.points if p.key == key)
        lat = point.metric("latency")
        ratios.append(1 + (lat.change if lat and lat.change is not None else float("nan")))
        hits += any(p.key == key and m.metric == "latency" for p, m in res.regressions)
        sys.stderr.write(f"  {name} check {i + 1}/{n}: ratio {ratios[-1]:.3f}\n")
    return hits, ratios


def quickstart_wall(out: Path | None, trials: int, tmp: Path) -> tuple[float, int, str]:
    from workbench.check import check_baseline, save_baseline
    from workbench.study import load_config, run_study

    if out is None:
        cfg = load_config(
            REPO / "search" / "quickstart.yaml",
            overrides=[f"study.trials={trials}", f"study.out_dir={tmp / 'qs'}"],
        )
        run_study(cfg, progress=False, measure_memory=False)
        storage, how = cfg.storage_url(), f"quickstart run here with {trials} trials"
    else:
        storage, how = f"sqlite:///{out / 'workbench.db'}", f"quickstart from {out}"
    base = save_baseline(storage, "quickstart", tmp / "qs-baseline")
    t0 = time.perf_counter()
    check_baseline(base, storage, "quickstart", None)
    return time.perf_counter() - t0, len(base.points), how


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 checks each, short timing")
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--quickstart-out", type=Path, help="an existing quickstart run's --out")
    ap.add_argument("--quickstart-trials", type=int, default=8)
    ap.add_argument("--no-quickstart", action="store_true", help="skip the wall-time figure")
    args = ap.parse_args()

    from workbench.check import CHECK_SETTINGS, save_baseline

    n = 5 if args.quick else args.checks
    settings = replace(CHECK_SETTINGS, max_time_s=0.5, min_time_s=0.2) if args.quick else None
    key = "host-cpu/torch/onnxruntime-fp32"
    with tempfile.TemporaryDirectory(prefix="bench-check-") as d:
        tmp = Path(d)
        base_cfg = study(tmp / "a", "base", 2, 128)
        slow_cfg = study(tmp / "b", "slower", 3, 128)
        baseline = save_baseline(base_cfg.storage_url(), "base", tmp / "baseline")
        t0 = time.perf_counter()
        alarms, aa = rates(baseline, base_cfg, "base", n, settings, key)
        aa_s = (time.perf_counter() - t0) / n
        found, ab = rates(baseline, slow_cfg, "slower", n, settings, key)
        print(f"checks of one point each, {'quick' if args.quick else 'default'} timing:")
        print(
            f"  A/A false alarms: {alarms}/{n} = {100 * alarms / n:.0f}% (goal <= 5%); "
            f"ratios {min(aa):.3f}..{max(aa):.3f}; {aa_s:.1f} s a check"
        )
        print(
            f"  slower candidate detected: {found}/{n} = {100 * found / n:.0f}% (goal >= 95%); "
            f"median measured ratio {sorted(ab)[len(ab) // 2]:.3f}"
        )
        if not args.no_quickstart:
            wall, points, how = quickstart_wall(args.quickstart_out, args.quickstart_trials, tmp)
            print(
                f"  check of the quickstart's Pareto set ({points} points, {how}): {wall:.1f} s "
                "(goal < 120 s on 2 cores)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
