"""Hardware: profiles (where a model runs), the host fingerprint (where it was measured), and the
roofline latency predictor, given a per-host calibration (:mod:`workbench.calibrate` fits
and stores them), with its trust figures."""

from workbench._host import HostInfo, available_cpus, host_info, library_versions
from workbench.hw._calibration import Calibration, CalibrationEntry
from workbench.hw._footprint import (
    Footprint,
    estimate_footprint,
    runtime_flash_bytes,
    tensor_arena_bytes,
)
from workbench.hw._predict import (
    LatencyPrediction,
    OpRecord,
    PredictorParams,
    default_params,
    ops_from_spec,
    predict_latency,
    predict_ops,
)
from workbench.hw._profile import (
    DEVICE_BACKENDS,
    PRECISIONS,
    DeployRecipe,
    HardwareProfile,
    PredictorTerms,
    Sourced,
    find_profile,
    list_profiles,
    load_profile,
    profile_dirs,
    profile_files,
)


def ops_from_onnx(path: str) -> list[OpRecord]:
    """Predictor records of an ONNX graph (a user's exported model); loads ``onnx`` on use."""
    from workbench.hw._onnx_cost import ops_from_onnx as _ops

    return _ops(path)


__all__ = [
    "DEVICE_BACKENDS",
    "PRECISIONS",
    "Calibration",
    "CalibrationEntry",
    "DeployRecipe",
    "Footprint",
    "HardwareProfile",
    "HostInfo",
    "LatencyPrediction",
    "OpRecord",
    "PredictorParams",
    "PredictorTerms",
    "Sourced",
    "available_cpus",
    "default_params",
    "estimate_footprint",
    "find_profile",
    "host_info",
    "library_versions",
    "list_profiles",
    "load_profile",
    "ops_from_onnx",
    "ops_from_spec",
    "predict_latency",
    "predict_ops",
    "profile_dirs",
    "profile_files",
    "runtime_flash_bytes",
    "tensor_arena_bytes",
]
