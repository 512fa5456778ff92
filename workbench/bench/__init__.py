"""Measurement: the one interleaved timer, latency with spread and receipts, artifact accuracy,
size and peak memory."""

from workbench._stats import median_ci
from workbench.backends import accuracy_of
from workbench.bench._deploy import (
    DeployJob,
    measure_deployments,
    measure_jobs,
    profile_threads,
)
from workbench.bench._latency import LatencyStats, MeasureSettings, measure_interleaved
from workbench.bench._measurement import Measurement, MeasurementKey, measurement_key
from workbench.bench._memory import MEMORY_METHOD, MemoryProbe
from workbench.bench._predicted import (
    PREDICTION_METHOD,
    predict_deployments,
    predicted_latency_stats,
)
from workbench.bench._timer import StableTiming, clock_for, noise_floor, time_rounds

__all__ = [
    "MEMORY_METHOD",
    "PREDICTION_METHOD",
    "DeployJob",
    "LatencyStats",
    "MeasureSettings",
    "Measurement",
    "MeasurementKey",
    "MemoryProbe",
    "StableTiming",
    "accuracy_of",
    "clock_for",
    "measure_deployments",
    "measure_interleaved",
    "measure_jobs",
    "measurement_key",
    "median_ci",
    "noise_floor",
    "predict_deployments",
    "predicted_latency_stats",
    "profile_threads",
    "time_rounds",
]
