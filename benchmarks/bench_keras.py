"""Keras deployments on this host, as ratios to Keras and PyTorch eager fp32 timed in one run.

The Keras rows of the deployment benchmark. For an MLP, MobileNetV2 and ResNet-18 (written as
ArchSpecs, 224x224 for the CNNs, batch 1), the spec is built in PyTorch and in Keras, and every
deployment of both builds is timed interleaved in the same process: PyTorch eager fp32 and its
ONNX Runtime fp32; Keras eager fp32, the XLA-compiled tf.function, LiteRT fp32 / fp16 / int8
dynamic / int8 full-integer, and ONNX Runtime fp32 / int8 dynamic / int8 static through tf2onnx.
Each row's p50 is printed as a ratio to Keras eager fp32 and to PyTorch eager fp32 from that
same run, at 1 thread and at every available thread (each thread count in its own process:
TensorFlow fixes its thread pools when it starts). Then, for Keras models trained on
scikit-learn's digits, the test accuracy of every LiteRT and ONNX artifact against its float
model, and the installed size of each runtime beside the framework's.

    python benchmarks/bench_keras.py            # full run (many minutes on 2 cores)
    python benchmarks/bench_keras.py --quick    # 112x112 inputs and short budgets

Latency: wall-clock per call (time.perf_counter), batch 1, after warm-up; all deployments of a
model, both frameworks, measured interleaved in rounds (order rotated, first call of each block
untimed), stopping when each median's 95% CI is within 3% or at the time cap. PyTorch, TensorFlow
(tf.config.threading, set before its runtime starts), ONNX Runtime and LiteRT (XNNPACK) all run
with the same intra-op thread count and one inter-op thread. Ratios are what to compare:
absolute times drift on a shared machine. Reference models are untrained (seeded weights) and
int8 artifacts are calibrated on random inputs; accuracy is measured on the digits models only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_deployments import digits_specs, reference_specs  # the same models as the PyTorch rows

TORCH_DEPLOYMENTS = ("torch-fp32", "onnxruntime-fp32")
KERAS_DEPLOYMENTS = (
    "keras-fp32",
    "keras-xla-fp32",
    "litert-fp32",
    "litert-fp16",
    "litert-int8-dynamic",
    "litert-int8-static",
    "onnxruntime-fp32",
    "onnxruntime-int8-dynamic",
    "onnxruntime-int8-static",
)


def _deps(names: tuple[str, ...]) -> list[Any]:
    from workbench.backends import Deployment

    return [Deployment.parse(n) for n in names]


def _settings(quick: bool) -> Any:
    from workbench.bench import MeasureSettings

    return MeasureSettings(
        warmup=3 if quick else 5,
        warmup_s=0.2,
        min_repeats=10 if quick else 20,
        max_repeats=2000,
        min_time_s=0.3 if quick else 0.5,
        max_time_s=2.0 if quick else 8.0,
        block=3,
        target_rel_ci=0.03,
    )


def latency_worker(threads: int, quick: bool, out: Path) -> None:
    """Measure every reference model at ``threads`` in this process; write the rows to ``out``."""
    from workbench._tf import tf_runtime
    from workbench.arch import build_keras, build_torch, keras_input_shape
    from workbench.backends import CompileContext, ModelSource, Threads
    from workbench.bench import DeployJob, measure_jobs
    from workbench.hw import host_info, load_profile

    th = Threads(threads, 1)
    tf_runtime(th)  # before anything starts TensorFlow's runtime
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in reference_specs(quick):
            calib = [
                rng.standard_normal((1, *spec.input_shape)).astype(np.float32) for _ in range(16)
            ]
            tsrc = ModelSource(
                "torch",
                build_torch(spec, seed=0).eval(),
                spec.input_shape,
                Path(tmp) / f"{spec.name}-torch",
                onnx_exporter="dynamo",
            )
            ksrc = ModelSource(
                "keras",
                build_keras(spec, seed=0),
                keras_input_shape(spec.input_shape),
                Path(tmp) / f"{spec.name}-keras",
                layout="channels_last",
            )
            jobs = [
                DeployJob(
                    tsrc,
                    _deps(TORCH_DEPLOYMENTS),
                    CompileContext(calibration=calib, isa_flags=host_info().isa_flags),
                ),
                DeployJob(
                    ksrc,
                    _deps(KERAS_DEPLOYMENTS),
                    CompileContext(calibration=calib, isa_flags=host_info().isa_flags),
                ),
            ]
            print(f"  measuring {spec.name} at {threads} thread(s)", file=sys.stderr, flush=True)
            ms, _ = measure_jobs(
                jobs, load_profile("host-cpu"), settings=_settings(quick), threads=th
            )
            base = {
                m.framework: m
                for m in ms
                if m.deployment in ("torch-fp32", "keras-fp32") and m.ok and m.latency
            }
            for m in ms:
                row: dict[str, Any] = {
                    "model": spec.name,
                    "threads": threads,
                    "framework": m.framework,
                    "deployment": m.deployment,
                    "status": m.status,
                    "error": m.error,
                    "stage": m.stage,
                }
                if m.ok and m.latency is not None:
                    row.update(
                        p50_ms=m.latency.p50_ms,
                        p90_ms=m.latency.p90_ms,
                        cv=m.latency.cv,
                        n=m.latency.n,
                        vs_keras=m.latency.p50_ms / base["keras"].latency.p50_ms
                        if "keras" in base
                        else None,
                        vs_torch=m.latency.p50_ms / base["torch"].latency.p50_ms
                        if "torch" in base
                        else None,
                        int8=(m.meta.get("int8_scheme") or {}).get("label"),
                        compiler=m.meta.get("compiler") or m.meta.get("delegate"),
                        tf_threads=(m.meta.get("framework_threads") or {}).get("tensorflow"),
                    )
                rows.append(row)
    out.write_text(json.dumps(rows, default=str))


def accuracy_rows(quick: bool) -> list[dict[str, Any]]:
    """Train small Keras nets on digits; LiteRT and ONNX artifacts' accuracy vs float."""
    from workbench._tf import tf_runtime
    from workbench.arch import (
        build_keras,
        keras_input_shape,
    )
    from workbench.backends import CompileContext, ModelSource, Threads
    from workbench.bench import MeasureSettings, measure_deployments
    from workbench.data import load_digits
    from workbench.hw import host_info, load_profile
    from workbench.train import TrainConfig, evaluate_keras, train_keras

    tf_runtime(Threads(1, 1))
    data = load_digits()
    specs = digits_specs()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            model = build_keras(spec, seed=0)
            train_keras(
                model, data, TrainConfig(epochs=4 if quick else 12, batch_size=64, lr=0.005)
            )
            float_acc = evaluate_keras(model, data.x_test, data.y_test)
            src = ModelSource(
                "keras",
                model,
                keras_input_shape(spec.input_shape),
                Path(tmp) / spec.name,
                layout="channels_last",
            )
            ctx = CompileContext(
                calibration=data.calibration_batches(128),
                x_val=data.x_val,
                y_val=data.y_val,
                reference_accuracy=evaluate_keras(model, data.x_val, data.y_val),
                max_accuracy_drop=0.005,
                isa_flags=host_info().isa_flags,
            )
            print(f"  deploying {spec.name} (trained on digits)", file=sys.stderr, flush=True)
            ms, _ = measure_deployments(
                src,
                _deps(KERAS_DEPLOYMENTS[2:]),
                load_profile("host-cpu"),
                x_test=data.x_test,
                y_test=data.y_test,
                compile_ctx=ctx,
                settings=MeasureSettings(min_repeats=10, max_time_s=0.3, min_time_s=0.05),
                threads=Threads(1, 1),
            )
            for m in ms:
                rows.append(
                    {
                        "model": spec.name,
                        "deployment": m.deployment,
                        "float_accuracy": float_acc,
                        "accuracy": m.accuracy,
                        "change_points": None
                        if m.accuracy is None
                        else 100 * (m.accuracy - float_acc),
                        "int8": (m.meta.get("int8_scheme") or {}).get("label"),
                        "within_tolerance": m.meta.get("int8_within_tolerance"),
                        "status": m.status,
                        "error": m.error,
                    }
                )
    return rows


def footprint_rows() -> list[dict[str, Any]]:
    from workbench.backends import get_backend
    from workbench.backends._footprint import runtime_footprint

    rows = []
    for backend, framework in (
        ("torch", "torch"),
        ("keras", "keras"),
        ("litert", "keras"),
        ("onnxruntime", "keras"),
    ):
        foot = runtime_footprint(get_backend(backend), framework)
        rows.append({"backend": backend, **{k: foot[k] for k in ("runtime", "framework")}})
    return rows


def _print_latency(rows: list[dict[str, Any]]) -> None:
    for model in dict.fromkeys(r["model"] for r in rows):
        mr = [r for r in rows if r["model"] == model]
        t = mr[0]["threads"]
        print(f"\n{model}, {t} thread{'s' if t > 1 else ''}")
        print(
            f"  {'framework/deployment':<32}{'p50 ms':>10}{'p90 ms':>10}{'cv':>6}{'n':>6}"
            f"{'vs keras':>10}{'vs torch':>10}  note"
        )
        for r in mr:
            label = f"{r['framework']}/{r['deployment']}"
            if r["status"] != "ok":
                print(f"  {label:<32}  FAILED at {r['stage']}: {r['error']}")
                continue
            vk = f"{r['vs_keras']:.3f}x" if r.get("vs_keras") is not None else "-"
            vt = f"{r['vs_torch']:.3f}x" if r.get("vs_torch") is not None else "-"
            note = r.get("int8") or (r.get("compiler") or "")
            print(
                f"  {label:<32}{r['p50_ms']:>10.3f}{r['p90_ms']:>10.3f}{r['cv']:>6.2f}{r['n']:>6}"
                f"{vk:>10}{vt:>10}  {note}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="112x112 inputs and short budgets")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    p.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_threads:
        latency_worker(args.worker_threads, args.quick, args.worker_out)
        return 0

    from workbench.hw import available_cpus, host_info

    info = host_info()
    all_threads = available_cpus()
    v = info.versions
    print(
        f"host: {info.cpu_model} | ISA {info.isa_summary} | {all_threads} CPUs available | torch "
        f"{v.get('torch')} | "
        f"tensorflow {v.get('tensorflow') or v.get('tensorflow-cpu')} | keras {v.get('keras')} | "
        f"ai-edge-litert {v.get('ai-edge-litert')} | "
        f"tf2onnx {v.get('tf2onnx')} | onnxruntime {v.get('onnxruntime')}"
    )
    print(
        "latency: measured p50, batch 1, every deployment of the PyTorch and the Keras build of a "
        "spec interleaved in one process;"
    )
    print(
        "         vs keras = p50 / Keras eager fp32 p50, vs torch = p50 / PyTorch eager fp32 p50, "
        "both from the same run;"
    )
    print(
        "         same intra-op threads for every runtime (TensorFlow's set before its runtime "
        "starts), one inter-op thread"
    )
    results: dict[str, Any] = {
        "host": info.to_dict(),
        "latency": [],
        "accuracy": [],
        "footprint": [],
    }
    for t in sorted({1, all_threads}):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            cmd = [
                sys.executable,
                __file__,
                "--worker-threads",
                str(t),
                "--worker-out",
                str(out),
            ] + (["--quick"] if args.quick else [])
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0 or not out.exists():
                print(f"\nlatency at {t} thread(s) failed:\n{proc.stderr[-2000:]}")
                return 1
            rows = json.loads(out.read_text())
        results["latency"].extend(rows)
        _print_latency(rows)

    print(
        "\naccuracy of each Keras artifact on the digits test split (540 images), change vs its "
        "float Keras model in points"
    )
    acc = accuracy_rows(args.quick)
    results["accuracy"] = acc
    print(
        f"  {'model':<18}{'deployment':<26}{'float':>8}{'artifact':>10}{'change':>9}  int8 scheme "
        "(within 0.5 pt of float on validation)"
    )
    for r in acc:
        if r["status"] != "ok":
            print(f"  {r['model']:<18}{r['deployment']:<26}  FAILED: {r['error']}")
            continue
        within = (
            ""
            if r["within_tolerance"] is None
            else (" (within)" if r["within_tolerance"] else " (NOT within)")
        )
        print(
            f"  {r['model']:<18}{r['deployment']:<26}{r['float_accuracy']:>8.4f}"
            f"{r['accuracy']:>10.4f}{r['change_points']:>+8.2f}pt  {r['int8'] or ''}{within}"
        )

    print(
        "\nruntime footprint: installed size on this host (files in each distribution's RECORD), "
        "MiB"
    )
    foot = footprint_rows()
    results["footprint"] = foot
    for r in foot:
        rt, fw = r["runtime"], r["framework"]
        print(
            f"  {r['backend']:<12} runtime {rt['label']}: {rt['bytes'] / 2**20:.1f} (with "
            f"dependencies {rt['with_dependencies_bytes'] / 2**20:.1f}) | "
            f"framework {fw['label']}: {fw['bytes'] / 2**20:.1f} (with dependencies "
            f"{fw['with_dependencies_bytes'] / 2**20:.1f})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
