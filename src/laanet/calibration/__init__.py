"""Calibrated scores and operating points: from a model's score to a decision one can defend.

``laanet calibrate`` fits, on labelled data the user owns, a map from the file logit to a calibrated P(fake)
(:mod:`~laanet.calibration.scalers`: temperature, Platt, isotonic), the operating points (thresholds at target
false-positive rates with their TPR and bootstrap intervals, the equal-error point) and the score bands
(:mod:`~laanet.calibration.points`), and writes them with the weights' SHA-256 to a JSON file
(:mod:`~laanet.calibration.file`). ``detect``, ``serve`` and ``Detector(calibration=...)`` apply it to their
results (:mod:`~laanet.calibration.apply`). See docs/calibration.md.
"""
from laanet.calibration.apply import UNCALIBRATED, AppliedCalibration, add_calibration, apply_to_result, load_for_weights
from laanet.calibration.file import Calibration, CalibrationError, DataSummary, WeightsRef
from laanet.calibration.fit import DEFAULT_FPRS, fit_calibration
from laanet.calibration.points import BANDS, Bands, Interval, OperatingPoint, fit_bands, fit_operating_points
from laanet.calibration.scalers import SCALERS, IsotonicScaling, PlattScaling, TemperatureScaling, fit_scaler

__all__ = [
    "BANDS", "DEFAULT_FPRS", "SCALERS", "UNCALIBRATED", "AppliedCalibration", "Bands", "Calibration", "CalibrationError",
    "DataSummary", "Interval", "IsotonicScaling", "OperatingPoint", "PlattScaling", "TemperatureScaling", "WeightsRef",
    "add_calibration", "apply_to_result", "fit_bands", "fit_calibration", "fit_operating_points", "fit_scaler",
    "load_for_weights",
]
