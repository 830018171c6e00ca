"""A calibration in use: the hook that gives finished results their calibrated probability, band and label.

With a calibration (``Detector(calibration="cal.json")``, ``--calibration``), each file result gets

- ``calibration.probability``: the calibrated P(fake) of the file's logit (and each face's, of its own logit,
  through the same map: an approximation, the map was fitted on file scores);
- ``calibration.band``: ``likely fake`` / ``uncertain`` / ``likely real`` (:mod:`laanet.calibration.points`);
- its ``label`` decided by the chosen operating point (``operating_point``, default the file's
  ``default_operating_point``, ``fpr5``): the result's ``threshold`` becomes that point's threshold on the
  uncalibrated score, so ``label`` = fake exactly when ``score >= threshold`` as without a calibration. With
  ``operating_point="threshold"`` the label keeps using the ``threshold`` option instead.

Without a calibration the result says ``{"calibrated": false, ...}`` and nothing else changes.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from laanet.calibration.file import Calibration
from laanet.calibration.points import OperatingPoint

__all__ = ["THRESHOLD_MODE", "UNCALIBRATED", "AppliedCalibration", "add_calibration", "apply_to_result", "load_for_weights"]

_log = logging.getLogger(__name__)
THRESHOLD_MODE = "threshold"  # operating_point value: label by the threshold option, calibration for the rest
UNCALIBRATED: dict[str, Any] = {
    "calibrated": False,
    "probability": None,
    "band": None,
    "operating_point": None,
    "label_from": "threshold",
    "note": "score is the model's uncalibrated sigmoid output, not a probability of being fake (docs/calibration.md)",
}


@dataclass(frozen=True)
class AppliedCalibration:
    """A loaded calibration file checked against the detector's weights, with the operating point in use."""

    calibration: Calibration
    file_name: str  # no folder
    file_sha256: str
    operating_point: OperatingPoint | None  # None: labels by the threshold option (``"threshold"``)

    def decision_threshold(self, threshold: float) -> float:
        """The uncalibrated-score threshold that decides ``label`` (``threshold`` in threshold mode)."""
        return threshold if self.operating_point is None else self.operating_point.score

    def probability(self, logit: float | None) -> float | None:
        if logit is None or not math.isfinite(logit):
            return None
        return round(float(self.calibration.probability(logit)[0]), 6)

    def provenance(self) -> dict[str, Any]:
        cal = self.calibration
        return {"file": self.file_name, "sha256": self.file_sha256, "method": cal.method,
                "operating_point": None if self.operating_point is None else self.operating_point.name,
                "created": cal.created, "data": {"name": cal.data.name, "n_real": cal.data.n_real, "n_fake": cal.data.n_fake}}

    def block(self, logit: float | None) -> dict[str, Any]:
        """The file's ``calibration`` object (result schema)."""
        cal, op = self.calibration, self.operating_point
        bands = cal.bands.to_dict(cal.scaler)
        return {
            "calibrated": True,
            "probability": self.probability(logit),
            "band": cal.bands.band(logit),
            "operating_point": None if op is None else {
                "name": op.name, "target_fpr": op.target_fpr, "threshold": round(op.score, 6), "logit": round(op.logit, 6),
                "probability": round(op.probability, 6), "fpr": op.fpr, "tpr": op.tpr,
                "fpr_ci": op.fpr_ci.to_list(), "tpr_ci": op.tpr_ci.to_list(),
            },
            "label_from": "threshold" if op is None else "operating_point",
            "method": cal.method,
            "bands": {"rate": bands["rate"], "likely_real_below": round(bands["real_below_score"], 6),
                      "likely_fake_from": round(bands["fake_from_score"], 6)},
            "file": self.file_name,
            "file_sha256": self.file_sha256,
        }


def load_for_weights(path: str | os.PathLike, *, weights_sha256: str, weights_name: str = "",
                     operating_point: str | None = None, options: dict[str, Any] | None = None) -> AppliedCalibration:
    """Load ``path``, refuse it unless it was made for the weights with ``weights_sha256``, pick the point.

    ``options`` (``InferenceOptions.to_dict()``): a warning is logged for each scoring option (frames per video,
    flip test, face backend) that differs from the calibration's, since they move the score distribution.

    Raises:
        CalibrationError: missing or malformed file, other weights, or an unknown operating point.
    """
    from laanet.inference.provenance import file_sha256

    cal = Calibration.load(path)
    cal.check_weights(weights_sha256, weights_name)
    name = operating_point or cal.default_operating_point
    point = None if name == THRESHOLD_MODE else cal.point(name)
    for key in ("frames", "flip_test", "face_backend"):
        if key == "frames" and not cal.data.videos:
            continue  # frames per video do not matter for a calibration fitted on images
        if options and key in cal.scoring and key in options and cal.scoring[key] != options[key]:
            _log.warning("calibration %s was fitted with %s=%s, these results use %s=%s: the calibration may not hold",
                         Path(path).name, key, cal.scoring[key], key, options[key])
    return AppliedCalibration(cal, Path(path).name, file_sha256(path), point)


def apply_to_result(result, applied: AppliedCalibration | None) -> None:
    """The hook on a finished :class:`~laanet.inference.results.FileResult`: attach the calibration and set
    the threshold that decides its label (nothing changes without a calibration)."""
    if applied is None:
        return
    result.calibration = applied
    result.threshold = applied.decision_threshold(result.threshold)
    for person in getattr(result, "people", ()):  # people were labelled at the threshold option in finalize()
        person.threshold = result.threshold


def add_calibration(out: dict[str, Any], result) -> dict[str, Any]:
    """``FileResult.to_dict``'s hook: the file's ``calibration`` object and each face's calibrated values."""
    applied: AppliedCalibration | None = getattr(result, "calibration", None)
    if applied is None:
        out["calibration"] = dict(UNCALIBRATED)
        return out
    out["calibration"] = applied.block(result.logit)
    bands = applied.calibration.bands
    for frame_dict, frame in zip(out.get("frames", []), result.frames):
        for face_dict, face in zip(frame_dict.get("faces", []), frame.faces):
            face_dict["calibration"] = {"probability": applied.probability(face.logit), "band": bands.band(face.logit)}
    return out

