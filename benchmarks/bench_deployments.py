"""Deployments of reference models on this host, as ratios to PyTorch eager fp32 timed in one run.

For an MLP, MobileNetV2 and ResNet-18 (written as ArchSpecs, 224x224 for the CNNs, batch 1),
at 1 thread and at every available thread, it prints each deployment's p50 latency, its ratio
to PyTorch eager fp32 timed interleaved in the same process, and the achieved GFLOP/s as a
fraction of this host's peak, itself measured at the start of the run with a large fp32 matrix
product (numpy/BLAS) at the same thread count. Then, for models trained on scikit-learn's
digits, the test accuracy of every quantized artifact against its float model.

    python benchmarks/bench_deployments.py            # full run (several minutes on 2 cores)
    python benchmarks/bench_deployments.py --quick    # smaller models and budgets: a smoke check

Latency: wall-clock per call (time.perf_counter), batch 1, after warm-up; the deployments of a
model are measured interleaved in rounds (order rotated, first call of each block untimed), and
stop when each median's 95% CI is within 3% or at the time cap. Ratios are what to compare:
absolute times drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEPLOYMENTS = (
    "torch-fp32",
    "onnxruntime-fp32",
    "onnxruntime-int8-dynamic",
    "onnxruntime-int8-static",
)


def peak_gflops(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """Best-of-N fp32 GEMM throughput at ``threads`` (torch's BLAS): the host's reachable peak."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def peak_int8_gops(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """Best-of-N u8 x s8 GEMM throughput at ``threads`` through ONNX Runtime's MatMulInteger
    (the kernels its int8 convolutions use), as the reachable int8 peak."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "mmi",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
            helper.make_tensor_value_info("b", TensorProto.INT8, [n, n]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {
        "a": rng.integers(0, 255, (n, n), dtype=np.uint8),
        "b": rng.integers(-127, 127, (n, n), dtype=np.int8),
    }
    sess.run(None, feeds)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def reference_specs(quick: bool) -> list[Any]:
    from workbench.arch import mlp, mobilenet_v2, resnet18

    size = 112 if quick else 224
    return [
        mlp((784,), 10, (1024, 1024, 512)),
        mobilenet_v2((3, size, size), 1000),
        resnet18((3, size, size), 1000),
    ]


def measure_model(
    spec: Any, threads: int, settings: Any, work: Path, calib: list[np.ndarray]
) -> list[dict[str, Any]]:
    from workbench.arch import build_torch, cost_summary
    from workbench.backends import CompileContext, Deployment, ModelSource
    from workbench.bench import measure_deployments
    from workbench.hw import host_info, load_profile

    model = build_torch(spec, seed=0).eval()
    src = ModelSource(
        "torch", model, spec.input_shape, work / f"{spec.name}-{threads}", onnx_exporter="dynamo"
    )
    ctx = CompileContext(calibration=calib, isa_flags=host_info().isa_flags)
    from workbench.backends import Threads

    ms, _ = measure_deployments(
        src,
        [Deployment.parse(d) for d in DEPLOYMENTS],
        load_profile("host-cpu"),
        compile_ctx=ctx,
        settings=settings,
        threads=Threads(threads, 1),
    )
    macs = cost_summary(spec).macs
    out = []
    base = next((m for m in ms if m.deployment == "torch-fp32" and m.ok), None)
    for m in ms:
        row: dict[str, Any] = {
            "model": spec.name,
            "threads": threads,
            "deployment": m.deployment,
            "status": m.status,
            "error": m.error,
        }
        if m.ok and m.latency is not None:
            row.update(
                p50_ms=m.latency.p50_ms,
                p90_ms=m.latency.p90_ms,
                cv=m.latency.cv,
                n=m.latency.n,
                ratio=m.latency.p50_ms / base.latency.p50_ms if base and base.latency else None,
                gflops=2 * macs / (m.latency.p50_ms / 1e3) / 1e9,
                int8=(m.meta.get("int8_scheme") or {}).get("label"),
            )
        out.append(row)
    return out


def digits_specs() -> list[Any]:
    """The small nets trained on digits for the accuracy rows: MLP, MobileNet- and ResNet-like."""
    from workbench.arch import ArchSpec, BasicBlock, ConvBN, InvertedResidual, mlp

    return [
        mlp((1, 8, 8), 10, (128, 64)),
        ArchSpec(
            (1, 8, 8),
            10,
            (
                ConvBN(16),
                InvertedResidual(24, 4, 3, 2),
                InvertedResidual(24, 4, 3),
                InvertedResidual(32, 4, 3, 2),
                ConvBN(64, 1),
            ),
            name="mobilenet-digits",
        ),
        ArchSpec(
            (1, 8, 8),
            10,
            (ConvBN(16), BasicBlock(16), BasicBlock(32, 2), BasicBlock(64, 2)),
            name="resnet-digits",
        ),
    ]


def accuracy_rows(quick: bool) -> list[dict[str, Any]]:
    """Train small nets on digits; each quantized artifact's test accuracy vs the float model."""
    from workbench.arch import build_torch
    from workbench.backends import CompileContext, Deployment, ModelSource, Threads
    from workbench.bench import MeasureSettings, measure_deployments
    from workbench.data import load_digits
    from workbench.hw import host_info, load_profile
    from workbench.train import TrainConfig, evaluate_torch, train_torch

    data = load_digits()
    specs = digits_specs()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            model = build_torch(spec, seed=0)
            train_torch(
                model, data, TrainConfig(epochs=4 if quick else 12, batch_size=64, lr=0.005)
            )
            float_acc = evaluate_torch(model, data.x_test, data.y_test)
            src = ModelSource(
                "torch",
                model.eval(),
                spec.input_shape,
                Path(tmp) / spec.name,
                onnx_exporter="dynamo",
            )
            ctx = CompileContext(
                calibration=data.calibration_batches(128),
                x_val=data.x_val,
                y_val=data.y_val,
                reference_accuracy=evaluate_torch(model, data.x_val, data.y_val),
                max_accuracy_drop=0.005,
                isa_flags=host_info().isa_flags,
            )
            ms, _ = measure_deployments(
                src,
                [Deployment.parse(d) for d in DEPLOYMENTS],
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
                        "status": m.status,
                        "error": m.error,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="112x112 inputs and short budgets")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args(argv)

    from workbench.bench import MeasureSettings
    from workbench.hw import available_cpus, host_info

    info = host_info()
    all_threads = available_cpus()
    thread_settings = sorted({1, all_threads})
    print(
        f"host: {info.cpu_model} | ISA {info.isa_summary} | {all_threads} CPUs available | "
        f"torch {info.versions.get('torch')} | onnxruntime {info.versions.get('onnxruntime')}"
    )
    print(
        "latency: measured p50, batch 1, deployments of each model interleaved in one process; "
        "ratio = p50 / PyTorch eager fp32 p50 from the same run"
    )
    peaks = {t: peak_gflops(t) for t in thread_settings}
    peaks_int8 = {t: peak_int8_gops(t) for t in thread_settings}
    for t in thread_settings:
        print(
            f"peak, {t} thread{'s' if t > 1 else ''} (2048^3 matrix products, best of 7): fp32 "
            f"{peaks[t]:.1f} GFLOP/s (torch mm), "
            f"int8 {peaks_int8[t]:.1f} GOP/s (ONNX Runtime MatMulInteger u8 x s8)"
        )
    print(
        "% peak: fp32 deployments against the fp32 peak, int8 deployments against the int8 peak, "
        "same thread count"
    )
    settings = MeasureSettings(
        warmup=3 if args.quick else 5,
        warmup_s=0.2,
        min_repeats=10 if args.quick else 20,
        max_repeats=2000,
        min_time_s=0.5,
        max_time_s=3.0 if args.quick else 12.0,
        block=3,
        target_rel_ci=0.03,
    )
    results: dict[str, Any] = {
        "host": info.to_dict(),
        "peaks_gflops": peaks,
        "peaks_int8_gops": peaks_int8,
        "latency": [],
        "accuracy": [],
    }
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in reference_specs(args.quick):
            calib = [
                rng.standard_normal((1, *spec.input_shape)).astype(np.float32) for _ in range(16)
            ]
            for t in thread_settings:
                rows = measure_model(spec, t, settings, Path(tmp), calib)
                results["latency"].extend(rows)
                print(
                    f"\n{spec.name} {'x'.join(map(str, spec.input_shape))}, {t} "
                    f"thread{'s' if t > 1 else ''}"
                )
                print(
                    f"  {'deployment':<26}{'p50 ms':>10}{'p90 ms':>10}{'cv':>6}{'n':>6}{'ratio':>8}"
                    f"{'G(FL)OP/s':>9}{'% peak':>8}  int8"
                )
                for r in rows:
                    if r["status"] != "ok":
                        print(f"  {r['deployment']:<26}  FAILED: {r['error']}")
                        continue
                    peak = peaks_int8[t] if "int8" in r["deployment"] else peaks[t]
                    r["fraction_of_peak"] = r["gflops"] / peak
                    print(
                        f"  {r['deployment']:<26}{r['p50_ms']:>10.3f}{r['p90_ms']:>10.3f}"
                        f"{r['cv']:>6.2f}{r['n']:>6}"
                        f"{r['ratio']:>7.3f}x{r['gflops']:>9.1f}{100 * r['fraction_of_peak']:>7.1f}"
                        f"%  {r['int8'] or ''}"
                    )
    print(
        "\naccuracy of each artifact on the digits test split (540 images), change vs its float "
        "model in points"
    )
    acc = accuracy_rows(args.quick)
    results["accuracy"] = acc
    print(f"  {'model':<18}{'deployment':<26}{'float':>8}{'artifact':>10}{'change':>9}  int8")
    for r in acc:
        if r["status"] != "ok":
            print(f"  {r['model']:<18}{r['deployment']:<26}  FAILED: {r['error']}")
            continue
        print(
            f"  {r['model']:<18}{r['deployment']:<26}{r['float_accuracy']:>8.4f}"
            f"{r['accuracy']:>10.4f}{r['change_points']:>+8.2f}pt  {r['int8'] or ''}"
        )

    # goals: best int8 deployment vs eager fp32, at each thread count, and the int8 accuracy drop
    print("\ngoals")
    worst_drop = max(
        (-r["change_points"] for r in acc if r["status"] == "ok" and "int8" in r["deployment"]),
        default=float("nan"),
    )
    for name, goal in (("resnet18", 0.30), ("mobilenet_v2_1", 0.20)):
        for t in thread_settings:
            int8 = [
                r
                for r in results["latency"]
                if r["model"] == name
                and r["threads"] == t
                and "int8" in r["deployment"]
                and r.get("ratio")
            ]
            if not int8:
                print(f"  {name} {t}T: no int8 result")
                continue
            best = min(int8, key=lambda r: r["ratio"])
            verdict = "met" if best["ratio"] <= goal else "MISSED"
            print(
                f"  {name} {t}T: best int8 {best['deployment']} at {best['ratio']:.3f}x eager fp32 "
                f"(goal <= {goal:.2f}x): {verdict}"
            )
    print(
        f"  largest int8 accuracy drop on digits: {worst_drop:.2f} points (goal <= 0.5): "
        f"{'met' if worst_drop <= 0.5 else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
