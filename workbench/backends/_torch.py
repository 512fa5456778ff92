"""PyTorch eager fp32: the framework baseline every speedup is stated against."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._imports import require
from workbench.backends._base import (
    Artifact,
    Backend,
    CompileContext,
    Deployment,
    ModelSource,
    Runner,
    Threads,
)
from workbench.backends._export import quiet, torch_exported_program

if TYPE_CHECKING:
    import torch as torch_types

__all__ = ["TorchBackend"]


def set_torch_threads(torch: ModuleType, threads: Threads) -> dict[str, int]:
    """Apply ``threads`` to PyTorch; inter-op threads can only be set before first parallel use."""
    torch.set_num_threads(threads.intra_op)
    try:
        if torch.get_num_interop_threads() != threads.inter_op:
            torch.set_num_interop_threads(threads.inter_op)
    except RuntimeError:
        pass  # already started: keep, and report what is really in effect
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


class _EagerRunner(Runner):
    def __init__(self, torch: ModuleType, module: torch_types.nn.Module, threads: Threads) -> None:
        self.torch = torch
        self.module = module
        self.threads = threads
        self.effective = set_torch_threads(torch, threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        if torch.get_num_threads() != self.threads.intra_op:  # another runner changed it
            torch.set_num_threads(self.threads.intra_op)
        with torch.inference_mode():
            return self.module(torch.from_numpy(x)).numpy()


class TorchBackend(Backend):
    name = "torch"
    frameworks = ("torch",)
    precisions = ("fp32",)
    requires = ("torch",)
    extra = "torch"
    runtime_packages = ("torch",)
    file_format = "pt2"

    def compile(self, source: ModelSource, deployment: Deployment, ctx: CompileContext) -> Artifact:
        torch = require("torch", extra="torch")
        self.check(deployment, source.framework)
        module = source.model.eval()
        path = source.workdir / f"{source.name}.pt2"
        meta: dict[str, Any] = {"format": "torch.export program (.pt2)"}
        try:
            ep = torch_exported_program(source)
            with quiet():
                torch.export.save(ep, str(path))
        except Exception as err:  # noqa: BLE001 - a module torch.export cannot capture still runs eagerly
            path = source.workdir / f"{source.name}.pt"
            torch.save(module, str(path))
            meta = {
                "format": "pickled nn.Module (.pt)",
                "torch_export_error": str(err).splitlines()[0][:300],
            }
        return Artifact(
            deployment, source.framework, path, source.input_shape, meta=meta, live=module
        )

    def load(self, artifact: Artifact, threads: Threads) -> Runner:
        torch = require("torch", extra="torch")
        module = artifact.live
        if module is None:
            assert artifact.path is not None
            if artifact.path.suffix == ".pt2":
                # captured in eval mode; an exported program's module refuses .eval()
                module = torch.export.load(str(artifact.path)).module()
            else:
                module = torch.load(str(artifact.path), weights_only=False).eval()
        else:
            module = module.eval()
        return _EagerRunner(torch, module, threads)
