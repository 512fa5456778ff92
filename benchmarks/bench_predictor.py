"""Benchmark: how good is the host's latency predictor, and how much does pre-filtering save?

Part 1 calibrates the latency predictor of ``host-cpu`` on at most 20 architectures (for ONNX
Runtime at the kernel level: the runtime profiler's per-kernel times of every model) and then
measures it on held-out architectures never used for the fit (default 40), as
``workbench profiles calibrate`` and ``workbench profiles accuracy`` do, and prints nn-Meter's
figures: the share of predictions within ±10% of measurement, the median absolute error, the
rank correlation (Spearman), beside the noise floor of the measurements themselves and the
machine's drift between the two sessions. It works on a temporary copy of the profile, so the
repository's calibration is left alone. Part 1b measures the same predictor with that drift kept
out: calibration and held-out architectures timed interleaved in one session, the fit made on the
calibration ones only (``workbench.calibrate.interleaved_accuracy``).

Part 2 runs the same constrained study twice, with and without rejecting infeasible
candidates before training, and prints the wall-time ratio. Both runs use the random sampler
with one seed, so they see the very same candidates: the only difference is whether a
candidate that breaks a budget is trained before being found out. The budgets are on figures
that do not jitter (an artifact's size on disk, a simulated device's predicted latency), so both
runs judge every candidate alike.

    python benchmarks/bench_predictor.py            # both parts (about 30-40 minutes on 2 cores)
    python benchmarks/bench_predictor.py --part prefilter --trials 24
    python benchmarks/bench_predictor.py --part predictor --threads 1 --heldout 40
    python benchmarks/bench_predictor.py --part interleaved --heldout 30

Figures are measured in one run and printed; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _say(text: str = "") -> None:
    print(text, flush=True)


def part_predictor(args: argparse.Namespace, tmp: Path) -> None:
    from workbench.calibrate import calibrate_profile, validate_profile
    from workbench.hw import host_info

    prof_dir = tmp / "profiles"
    prof_dir.mkdir()
    shutil.copy(REPO / "hwprofiles" / "host-cpu.yaml", prof_dir / "host-cpu.yaml")
    os.environ["WORKBENCH_PROFILE_PATH"] = str(prof_dir)
    os.environ["WORKBENCH_CALIBRATION_DIR"] = str(tmp / "user")
    info = host_info()
    deps = args.deploy or ["onnxruntime-int8-static", "onnxruntime-fp32"]
    _say(
        f"== Part 1: host predictor ({info.cpu_model}, {info.isa_summary}, {info.available_cpus} "
        f"CPUs available; {args.threads} intra-op thread(s)) =="
    )
    if args.threads < info.available_cpus:
        _say(
            f"   {args.threads} thread(s): on a shared machine a call spread over every core "
            "stalls whenever another process takes one of them; use --threads to change"
        )
    progress = (lambda s: None) if args.quiet else _Throttle()
    t0 = time.perf_counter()
    cal = calibrate_profile(
        "host-cpu",
        deployments=deps,
        models=args.calibration,
        threads=args.threads,
        max_time_s=args.max_time,
        on_progress=progress,
    )
    _say(f"calibrated on {args.calibration} architectures in {time.perf_counter() - t0:.0f} s")
    for e in cal.entries:
        f = e.fit
        _say(
            f"   {e.deployment}: in-sample {100 * f['within_10pct']:.0f}% within ±10%, median "
            f"error {100 * f['median_abs_error']:.1f}%"
        )
    t0 = time.perf_counter()
    acc = validate_profile(
        "host-cpu",
        deployments=deps,
        models=args.heldout,
        threads=args.threads,
        max_time_s=args.max_time,
        on_progress=progress,
    )
    _say(f"validated on {args.heldout} held-out architectures in {time.perf_counter() - t0:.0f} s")
    _say()
    _say(
        f"{'deployment':<26}{'held-out':>9}{'within ±10%':>13}{'median |err|':>14}{'Spearman':>10}"
        f"{'noise floor':>13}{'noise ±10%':>12}  latency range"
    )
    for dep, r in acc.results.items():
        nf = r["noise_floor"]
        lo, hi = r["latency_range_ms"]
        _say(
            f"{dep:<26}{r['models']:>9}{100 * r['within_10pct']:>12.0f}%"
            f"{100 * r['median_abs_error']:>13.1f}%{r['spearman']:>10.3f}"
            f"{100 * nf['median_rel_diff']:>12.1f}%{100 * nf['within_10pct']:>11.0f}%"
            f"  {lo:.2f}-{hi:.1f} ms"
        )
    drift = next(iter(acc.results.values()))["drift_since_calibration"]
    _say(
        "drift between the sessions: calibration models re-timed now run at "
        f"{drift['median_ratio_now_to_calibration']:.3f}x their calibration-time latency "
        f"({drift['models']} models)"
    )
    for dep, r in acc.results.items():
        adj = r.get("drift_adjusted")
        if adj:
            _say(
                f"   {dep}: with predictions scaled by that drift, "
                f"{100 * adj['within_10pct']:.0f}% within ±10%, median |err| "
                f"{100 * adj['median_abs_error']:.1f}%, Spearman {adj['spearman']:.3f} (not the "
                "headline figure)"
            )
    _say("goal: >= 90% within ±10% and Spearman >= 0.95 after calibrating on <= 20 models")


def part_interleaved(args: argparse.Namespace) -> None:
    from workbench.calibrate import interleaved_accuracy

    deps = args.deploy or ["onnxruntime-int8-static", "onnxruntime-fp32"]
    _say(
        "== Part 1b: the same predictor with the drift between sessions kept out "
        f"({args.calibration} calibration and {args.heldout} held-out architectures timed "
        f"interleaved in one session, fitted on the calibration ones only; {args.threads} "
        "intra-op thread(s)) =="
    )
    progress = (lambda s: None) if args.quiet else _Throttle()
    t0 = time.perf_counter()
    res = interleaved_accuracy(
        "host-cpu",
        deployments=deps,
        calibration=args.calibration,
        heldout=args.heldout,
        threads=args.threads,
        max_time_s=args.max_time,
        on_progress=progress,
    )
    _say(f"measured and fitted in {time.perf_counter() - t0:.0f} s")
    _say(
        f"{'deployment':<26}{'held-out':>9}{'within ±10%':>13}{'median |err|':>14}{'Spearman':>10}"
        f"{'noise floor':>13}{'in-sample ±10%':>16}  latency range"
    )
    for dep, r in res.items():
        lo, hi = r["latency_range_ms"]
        _say(
            f"{dep:<26}{r['models']:>9}{100 * r['within_10pct']:>12.0f}%"
            f"{100 * r['median_abs_error']:>13.1f}%{r['spearman']:>10.3f}"
            f"{100 * r['noise_floor']['median_rel_diff']:>12.1f}%"
            f"{100 * r['in_sample']['within_10pct']:>15.0f}%  {lo:.2f}-{hi:.1f} ms"
        )
        worst = sorted(r["rows"], key=lambda row: -abs(row["error"]))[:3]
        _say(
            "   largest errors: "
            + ", ".join(
                f"{row['name']} {100 * row['error']:+.0f}% ({row['measured_ms']:.2f} ms)"
                for row in worst
            )
        )


class _Throttle:
    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, text: str) -> None:
        if time.monotonic() - self.last >= 30:
            self.last = time.monotonic()
            _say(f"   ... {text}")


def _study_config(tmp: Path, name: str, prefilter: bool, trials: int, epochs: int) -> Path:
    import yaml

    cfg = {
        "schema": 1,
        "study": {
            "name": name,
            "sampler": "random",
            "seed": 0,
            "trials": trials,
            "objectives": ["accuracy", "latency"],
            "prefilter": prefilter,
            "out_dir": str(tmp / "runs"),
        },
        "data": {"source": "digits"},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.005},
        "space": {
            "family": "mobilenet",
            "stem_channels": [8, 16, 32],
            "stages": 3,
            "depth": {"min": 1, "max": 3},
            "width": [16, 32, 64, 96],
            "kernel": [3, 5],
            "expansion": [2, 4, 6],
            "stride": [1, 2],
            "last_channels": [0, 128],
        },
        "hardware": ["host-cpu", "jetson-orin-nano"],
        "deployments": ["onnxruntime-fp32", "onnxruntime-int8-static"],
        "constraints": {"host-cpu": {"size_kb": 150}, "jetson-orin-nano": {"latency_ms": 0.55}},
        "measure": {
            "warmup": 5,
            "min_repeats": 20,
            "min_time_s": 0.05,
            "max_time_s": 0.3,
            "target_rel_ci": 0.05,
        },
        "quantization": {"calibration_samples": 64},
        "onnx_exporter": "torchscript",
    }
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def part_prefilter(args: argparse.Namespace, tmp: Path) -> None:
    from workbench.study import load_config, run_study

    _say(
        f"== Part 2: pre-filtering in a constrained study ({args.trials} candidates, random "
        f"sampler, seed 0, {args.epochs} epochs each; host-cpu int8 file <= 150 KiB, Jetson Orin "
        "Nano predicted latency <= 0.55 ms) =="
    )
    runs = {}
    for label, prefilter in (("with pre-filter", True), ("without pre-filter", False)):
        cfg = load_config(
            _study_config(
                tmp, f"bench-{'pre' if prefilter else 'post'}", prefilter, args.trials, args.epochs
            )
        )
        t0 = time.perf_counter()
        res = run_study(cfg, progress=False, measure_memory=False, write=False)
        wall = time.perf_counter() - t0
        r = res.results
        infeasible = sorted(t.number for t in r.trials if not t.feasible)
        trained = sum(1 for t in r.trials if "train" in t.user_attrs)
        runs[label] = (wall, infeasible, trained, len(r.trials))
        _say(
            f"{label:<20}: {wall:7.1f} s wall, {len(r.trials)} candidates, {trained} trained, "
            f"{len(infeasible)} infeasible ({len(r.rejected())} rejected before training)"
        )
    (w1, inf1, _, n1), (w0, inf0, _, _n0) = runs["with pre-filter"], runs["without pre-filter"]
    same = "the same" if inf1 == inf0 else "DIFFERENT"
    _say(f"both runs found {same} infeasible candidates: {inf1 if inf1 == inf0 else (inf1, inf0)}")
    _say(
        f"wall-time ratio (without / with pre-filter): {w0 / w1:.2f}x  "
        f"({100 * len(inf1) / max(1, n1):.0f}% of candidates infeasible)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--part",
        choices=("both", "predictor", "interleaved", "prefilter"),
        default="both",
        help="predictor: parts 1 and 1b; interleaved: part 1b alone",
    )
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for part 1 (default 1)")
    p.add_argument(
        "--calibration", type=int, default=20, help="calibration architectures (default 20)"
    )
    p.add_argument("--heldout", type=int, default=40, help="held-out architectures (default 40)")
    p.add_argument(
        "--deploy",
        action="append",
        default=[],
        help="deployments for part 1 (default: int8-static and fp32 ORT)",
    )
    p.add_argument(
        "--max-time",
        type=float,
        default=900.0,
        help="timing cap per session in seconds (default 900)",
    )
    p.add_argument(
        "--trials", type=int, default=24, help="candidates in each study of part 2 (default 24)"
    )
    p.add_argument(
        "--epochs", type=int, default=8, help="training epochs per candidate in part 2 (default 8)"
    )
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        if args.part in ("both", "predictor"):
            part_predictor(args, Path(tmp))
            _say()
        if args.part in ("both", "predictor", "interleaved"):
            part_interleaved(args)
            _say()
        if args.part in ("both", "prefilter"):
            part_prefilter(args, Path(tmp))


if __name__ == "__main__":
    main()
