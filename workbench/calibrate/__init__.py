"""Calibration: fitting the latency predictor to measurements on this host, storing the fit
beside its profile, and measuring how far to trust it on held-out architectures.

The predictor itself (:func:`workbench.hw.predict_latency`) is given a calibration; look one up
with :func:`find_calibration` (or :func:`calibration_status`, which also says why there is none).
"""

from workbench.calibrate._accuracy import accuracy_figures, spearman
from workbench.calibrate._fit import fit_params
from workbench.calibrate._population import calibration_population, heldout_population
from workbench.calibrate._run import (
    DEFAULT_CALIBRATION_MODELS,
    CalibrationReport,
    calibrate_profile,
)
from workbench.calibrate._store import (
    SCHEMA_VERSION,
    calibration_candidates,
    calibration_status,
    find_calibration,
    host_fingerprint,
    load_calibration,
    save_calibration,
    user_calibration_dir,
)
from workbench.calibrate._validate import AccuracyReport, interleaved_accuracy, validate_profile
from workbench.hw import Calibration, CalibrationEntry

__all__ = [
    "DEFAULT_CALIBRATION_MODELS",
    "SCHEMA_VERSION",
    "AccuracyReport",
    "Calibration",
    "CalibrationEntry",
    "CalibrationReport",
    "accuracy_figures",
    "calibrate_profile",
    "calibration_candidates",
    "calibration_population",
    "calibration_status",
    "find_calibration",
    "fit_params",
    "heldout_population",
    "host_fingerprint",
    "interleaved_accuracy",
    "load_calibration",
    "save_calibration",
    "spearman",
    "user_calibration_dir",
    "validate_profile",
]
