"""The calibration file (``laanet calibrate --out cal.json``): what was fitted, for which weights, on what data.

One JSON object::

    {"format": "laanet-calibration", "format_version": 1, "laanet_version": "...", "created": "...Z",
     "weights": {"name", "sha256", "family", "format"},           # refused for any other weights file
     "data": {"name", "kind": "folder"|"index", "n", "n_real", "n_fake", "images", "videos", "skipped", ...},
     "scoring": {"level": "file", "frames", "flip_test", "face_backend", "backend"},
     "method": "platt", "parameters": {"slope", "intercept"},
     "operating_points": [{"name": "fpr1", ...}, {"name": "fpr5", ...}, {"name": "eer", ...}],
     "default_operating_point": "fpr5",
     "bands": {"rate", "real_below", "fake_from", ...},
     "bootstrap": {"resamples", "seed", "confidence"},
     "fit_metrics": {"before": {"ece", "brier"}, "after": {...}},   # on the calibration data itself
     "warnings": [...]}
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from laanet.calibration.points import Bands, OperatingPoint
from laanet.calibration.scalers import Scaler, scaler_from_dict

__all__ = ["FORMAT", "FORMAT_VERSION", "Calibration", "CalibrationError", "DataSummary", "WeightsRef"]

FORMAT = "laanet-calibration"
FORMAT_VERSION = 1


class CalibrationError(ValueError):
    """A calibration file that cannot be used: unreadable, malformed, or made for other weights."""


@dataclass(frozen=True)
class WeightsRef:
    """The weights a calibration was fitted for (file name, content hash, family, checkpoint format)."""

    name: str
    sha256: str
    family: str = "laanet"
    format: str = "laanet"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "family": self.family, "format": self.format}


@dataclass(frozen=True)
class DataSummary:
    """What the calibration was fitted on: counts only (no paths beyond the folder's own name)."""

    name: str  # the data folder's name
    kind: str  # "folder" (real/ and fake/) | "index" (laanet prepare output)
    n_real: int
    n_fake: int
    images: int = 0
    videos: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why -> count: no_face, error

    @property
    def n(self) -> int:
        return self.n_real + self.n_fake

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "n": self.n, "n_real": self.n_real, "n_fake": self.n_fake,
                "images": self.images, "videos": self.videos, "skipped": dict(self.skipped)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSummary:
        return cls(name=str(d["name"]), kind=str(d["kind"]), n_real=int(d["n_real"]), n_fake=int(d["n_fake"]),
                   images=int(d.get("images", 0)), videos=int(d.get("videos", 0)), skipped=dict(d.get("skipped", {})))


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: replace them by None, recursively."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration (module docstring); :meth:`save` / :meth:`load` read and write the JSON."""

    weights: WeightsRef
    data: DataSummary
    scaler: Scaler
    operating_points: tuple[OperatingPoint, ...]
    bands: Bands
    default_operating_point: str
    scoring: dict[str, Any]
    bootstrap: dict[str, Any]
    fit_metrics: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    laanet_version: str = ""
    created: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.operating_points]
        if self.default_operating_point not in names:
            raise CalibrationError(f"default operating point {self.default_operating_point!r} is not one of {names}")

    @property
    def method(self) -> str:
        return self.scaler.method

    @property
    def point_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.operating_points)

    def point(self, name: str) -> OperatingPoint:
        """The operating point called ``name`` (``fpr1``, ``fpr5``, ``eer``, ...)."""
        for p in self.operating_points:
            if p.name == name:
                return p
        raise CalibrationError(f"the calibration has no operating point {name!r}; it has {', '.join(self.point_names)}")

    def probability(self, logits: np.ndarray | float) -> np.ndarray:
        """Calibrated P(fake) of file logits."""
        return self.scaler.probability(np.atleast_1d(np.asarray(logits, dtype=np.float64)))

    def check_weights(self, sha256: str, name: str = "") -> None:
        """Raise :class:`CalibrationError` unless the calibration was made for the weights with this SHA-256."""
        if sha256 != self.weights.sha256:
            raise CalibrationError(
                f"the calibration was made for other weights ({self.weights.name}, sha256 {self.weights.sha256[:12]}...), "
                f"not {name or 'these'} (sha256 {sha256[:12]}...); run laanet calibrate with these weights"
            )

    def to_dict(self) -> dict[str, Any]:
        return _finite({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "laanet_version": self.laanet_version,
            "created": self.created,
            "weights": self.weights.to_dict(),
            "data": self.data.to_dict(),
            "scoring": dict(self.scoring),
            "method": self.method,
            "parameters": self.scaler.parameters(),
            "operating_points": [p.to_dict() for p in self.operating_points],
            "default_operating_point": self.default_operating_point,
            "bands": self.bands.to_dict(self.scaler),
            "bootstrap": dict(self.bootstrap),
            "fit_metrics": dict(self.fit_metrics),
            "warnings": list(self.warnings),
        })

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CalibrationError(f"not a laanet calibration file (no \"format\": \"{FORMAT}\")")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise CalibrationError(f"calibration format version {d['format_version']} is newer than this laanet reads "
                                   f"({FORMAT_VERSION}); upgrade laanet")
        try:
            w = d["weights"]
            return cls(
                weights=WeightsRef(name=str(w["name"]), sha256=str(w["sha256"]), family=str(w.get("family", "laanet")),
                                   format=str(w.get("format", "laanet"))),
                data=DataSummary.from_dict(d["data"]),
                scaler=scaler_from_dict(d["method"], d["parameters"]),
                operating_points=tuple(OperatingPoint.from_dict(p) for p in d["operating_points"]),
                bands=Bands.from_dict(d["bands"]),
                default_operating_point=str(d["default_operating_point"]),
                scoring=dict(d.get("scoring", {})),
                bootstrap=dict(d.get("bootstrap", {})),
                fit_metrics=dict(d.get("fit_metrics", {})),
                warnings=tuple(d.get("warnings", ())),
                laanet_version=str(d.get("laanet_version", "")),
                created=str(d.get("created", "")),
            )
        except CalibrationError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise CalibrationError(f"malformed calibration file: {type(err).__name__}: {err}") from None

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a calibration file; :class:`CalibrationError` (one line) when it is missing or not one."""
        path = Path(path)
        if not path.is_file():
            raise CalibrationError(f"calibration file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CalibrationError(f"cannot read the calibration file {path}: {err}") from None
        try:
            return cls.from_dict(data)
        except CalibrationError as err:
            raise CalibrationError(f"{path}: {err}") from None
