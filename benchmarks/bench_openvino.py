"""OpenVINO beside PyTorch eager and ONNX Runtime on this host, at 1 thread, in one process.

For an MLP and a small CNN, it prints each deployment's p50 latency (batch 1) and its ratio to
PyTorch eager fp32 timed interleaved in the same run: ONNX Runtime fp32 and static int8, and
OpenVINO fp32, bf16 (where the CPU flags show bf16) and int8 (the faster of NNCF and the QDQ
file within the accuracy tolerance). Two sizes: models trained on scikit-learn's digits (8x8,
where each artifact's own test accuracy is printed beside the float model's) and the same kind
of model at a larger input (untrained; latency only), where per-call overhead matters less.

    python benchmarks/bench_openvino.py            # about two minutes on two cores
    python benchmarks/bench_openvino.py --json FILE

Latency: workbench's interleaved timer (wall-clock per call after warm-up, order rotated each
round). Ratios are what to compare: absolute times drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

DEPLOYMENTS = (
    "torch-fp32",
    "onnxruntime-fp32",
    "onnxruntime-int8-static",
    "openvino-fp32",
    "openvino-bf16",
    "openvino-int8",
)


def _specs(trained: bool) -> list[Any]:
    from workbench.arch import ArchSpec, BasicBlock, ConvBN, InvertedResidual, mlp

    if trained:
        return [
            mlp((1, 8, 8), 10, (128, 64)),
            ArchSpec(
                (1, 8, 8),
                10,
                (ConvBN(16), InvertedResidual(24, 4, 3, 2), BasicBlock(32, 2), ConvBN(64, 1)),
                name="cnn-digits",
            ),
        ]
    return [
        mlp((784,), 10, (1024, 1024, 512)),
        ArchSpec(
            (3, 64, 64),
            10,
            (ConvBN(32, 3, 2), InvertedResidual(32, 4, 3), BasicBlock(64, 2), BasicBlock(128, 2)),
            name="cnn-64px",
        ),
    ]


def rows_for(spec: Any, trained: bool, work: Path) -> list[dict[str, Any]]:
    from workbench.arch import build_torch
    from workbench.backends import CompileContext, Deployment, ModelSource, Threads, get_backend
    from workbench.bench import MeasureSettings, measure_deployments
    from workbench.data import load_digits
    from workbench.hw import host_info, load_profile
    from workbench.train import TrainConfig, evaluate_torch, train_torch

    model = build_torch(spec, seed=0)
    deps = [Deployment.parse(d) for d in DEPLOYMENTS]
    deps = [d for d in deps if _runs_here(get_backend(d.backend), d)]
    x_test = y_test = None
    float_acc = None
    if trained:
        data = load_digits()
        train_torch(model, data, TrainConfig(epochs=12, batch_size=64, lr=0.005))
        model.eval()
        float_acc = evaluate_torch(model, data.x_test, data.y_test)
        ctx = CompileContext(
            calibration=data.calibration_batches(128),
            x_val=data.x_val,
            y_val=data.y_val,
            reference_accuracy=evaluate_torch(model, data.x_val, data.y_val),
            max_accuracy_drop=0.01,
            isa_flags=host_info().isa_flags,
        )
        x_test, y_test = data.x_test, data.y_test
    else:
        model.eval()
        rng = np.random.default_rng(0)
        calib = [rng.standard_normal((8, *spec.input_shape)).astype(np.float32) for _ in range(8)]
        ctx = CompileContext(calibration=calib, isa_flags=host_info().isa_flags)
    src = ModelSource("torch", model, spec.input_shape, work / spec.name, onnx_exporter="dynamo")
    ms, _ = measure_deployments(
        src,
        deps,
        load_profile("host-cpu"),
        x_test=x_test,
        y_test=y_test,
        compile_ctx=ctx,
        settings=MeasureSettings(min_repeats=50, min_time_s=0.5, max_time_s=3.0),
        threads=Threads(1, 1),
    )
    base = next(m for m in ms if m.deployment == "torch-fp32")
    out = []
    for m in ms:
        row: dict[str, Any] = {
            "model": spec.name,
            "deployment": m.deployment,
            "status": m.status,
            "error": m.error,
            "float_accuracy": float_acc,
            "accuracy": m.accuracy if trained else None,
        }
        if m.ok and m.latency is not None and base.latency is not None:
            row.update(
                p50_ms=m.latency.p50_ms,
                n=m.latency.n,
                cv=m.latency.cv,
                ratio=m.latency.p50_ms / base.latency.p50_ms,
                runtime_precision=m.meta.get("openvino_runtime_precision"),
                int8_source=m.meta.get("int8_source"),
            )
        out.append(row)
    return out


def _runs_here(backend: Any, dep: Any) -> bool:
    from workbench import WorkbenchError

    try:
        backend.check(dep)
    except WorkbenchError as err:
        print(f"  {dep.name}: skipped ({err})")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args(argv)
    from workbench.backends import get_backend
    from workbench.hw import host_info

    info = host_info()
    print(
        f"host: {info.cpu_model} | flags {' '.join(info.isa_flags)} | torch "
        f"{info.versions.get('torch')} | onnxruntime {info.versions.get('onnxruntime')} | "
        f"openvino {get_backend('openvino').version()} | nncf {info.versions.get('nncf')}"
    )
    print("p50 at batch 1 and 1 thread, interleaved per model; ratio = p50 / torch eager fp32")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for trained in (True, False):
            for spec in _specs(trained):
                rows.extend(rows_for(spec, trained, Path(tmp)))
    header = f"{'model':<12} {'deployment':<24} {'p50 ms':>9} {'ratio':>6} {'n':>5} {'acc':>6}"
    print(header + "  notes")
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['model']:<12} {r['deployment']:<24} failed: {r['error']}")
            continue
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        notes = []
        if r.get("float_accuracy") is not None and r["deployment"] == "torch-fp32":
            notes.append("float model")
        if r.get("int8_source"):
            notes.append(f"int8 from {r['int8_source']}")
        if r.get("runtime_precision"):
            notes.append(f"runs {r['runtime_precision']}")
        print(
            f"{r['model']:<12} {r['deployment']:<24} {r['p50_ms']:>9.4f} {r['ratio']:>6.2f} "
            f"{r['n']:>5} {acc:>6}  {'; '.join(notes)}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
