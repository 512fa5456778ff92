"""How hard the built-in ``shapes`` task is, beside digits: float and int8 accuracy of tiny nets.

For each dataset it prints the generation (or load) time, then for 2-3 tiny MobileNet-style
nets from the product's own ``mobilenet`` search space, trained briefly with the product's
trainer at one thread: the float model's test accuracy and the test accuracy of two ONNX
Runtime int8 static artifacts, per-tensor and per-channel weight scales (each artifact's own
accuracy on the test split, its scheme kept as built: no fallback to another scheme).

    python benchmarks/bench_shapes.py            # about 5 minutes on one core
    python benchmarks/bench_shapes.py --quick    # one model, fewer epochs: a smoke check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: tiny nets: (name, fixed values of the mobilenet space)
MODELS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "mb-tiny",
        {"stem_channels": 8, "stages": 2, "depth": 1, "width": 16, "expansion": 2, "stride": 2},
    ),
    (
        "mb-small",
        {"stem_channels": 16, "stages": 3, "depth": 1, "width": 24, "expansion": 3, "stride": 2},
    ),
    (
        "mb-k5",
        {
            "stem_channels": 8,
            "stages": 3,
            "depth": 1,
            "width": 16,
            "kernel": 5,
            "expansion": 2,
            "stride": 2,
        },
    ),
)


def spec_for(values: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> Any:
    """The ArchSpec the product's ``mobilenet`` space builds from fixed ``values``."""
    from optuna.trial import FixedTrial

    from workbench._schema import Reader, SourceMap
    from workbench.study._space import Task, compile_space

    fixed = {"family": "mobilenet", "kernel": 3, "last_channels": 0, **values}
    r = Reader(fixed, field="space", source=SourceMap())
    space = compile_space(r, Task(input_shape, num_classes))
    return space(FixedTrial({}))


def rows_for(name: str, data: Any, epochs: int, models: int) -> list[dict[str, Any]]:
    import torch

    from workbench.arch import build_torch
    from workbench.backends import (
        CompileContext,
        Deployment,
        ModelSource,
        Threads,
        accuracy_of,
        get_backend,
    )
    from workbench.hw import host_info
    from workbench.train import TrainConfig, evaluate_torch, train_torch

    torch.set_num_threads(1)
    backend = get_backend("onnxruntime")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, values in MODELS[:models]:
            spec = spec_for(values, data.input_shape, data.num_classes)
            model = build_torch(spec, seed=0)
            res = train_torch(model, data, TrainConfig(epochs=epochs, batch_size=64, lr=0.005))
            float_acc = evaluate_torch(model, data.x_test, data.y_test)
            src = ModelSource(
                "torch", model.eval(), spec.input_shape, Path(tmp) / label, onnx_exporter="auto"
            )
            ctx = CompileContext(
                calibration=data.calibration_batches(128, batch=32),
                max_accuracy_drop=1.0,  # keep the scheme as built: no fallback search
                threads=Threads(1, 1),
                isa_flags=host_info().isa_flags,
            )
            row: dict[str, Any] = {
                "data": name,
                "model": label,
                "params": sum(p.numel() for p in model.parameters()),
                "train_s": res.seconds,
                "float": float_acc,
            }
            for key, per_channel in (("per_tensor", False), ("per_channel", True)):
                dep = Deployment("onnxruntime", "int8-static", (("per_channel", per_channel),))
                art = backend.compile(src, dep, ctx)
                runner = backend.load(art, Threads(1, 1))
                row[key] = accuracy_of(runner, data.x_test, data.y_test)
                row[f"{key}_scheme"] = art.meta["int8_scheme"]["label"]
                runner.close()
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one model, 2 epochs")
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args(argv)
    from workbench.data import load_digits, shapes
    from workbench.hw import host_info

    epochs, models = (2, 1) if args.quick else (args.epochs, len(MODELS))
    print(f"host: {host_info().cpu_model}, 1 thread, {epochs} epochs, batch 64, lr 0.005")
    rows = []
    for name, load in (("shapes", shapes), ("digits", load_digits)):
        start = time.perf_counter()
        data = load()
        print(f"{name}: {time.perf_counter() - start:.2f} s to build {data.describe()}")
        rows += rows_for(name, data, epochs, models)
    print(
        f"{'data':<7} {'model':<9} {'params':>7} {'train s':>8} {'float':>6} "
        f"{'int8/t':>6} {'drop':>5} {'int8/c':>6} {'drop':>5}  schemes (tensor, channel)"
    )
    for r in rows:
        dt = 100 * (r["float"] - r["per_tensor"])
        dc = 100 * (r["float"] - r["per_channel"])
        print(
            f"{r['data']:<7} {r['model']:<9} {r['params']:>7} {r['train_s']:>8.1f} "
            f"{100 * r['float']:>6.1f} {100 * r['per_tensor']:>6.1f} {dt:>5.1f} "
            f"{100 * r['per_channel']:>6.1f} {dc:>5.1f}  "
            f"{r['per_tensor_scheme']}, {r['per_channel_scheme']}"
        )
    print("accuracy in % of the test split; drop in points from the float model")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
