"""The inference options: one dataclass shared by ``laanet detect``, ``serve``, ``eval``, the demo and the API.

>>> opts = InferenceOptions(backend="onnx", threshold=0.6)
>>> Detector(opts) ; Detector(backend="onnx", threshold=0.6)     # the same detector
>>> opts.replace(frames=8).to_dict()["frames"]
8

Every field is checked when the object is built (``ValueError`` naming the field); the device name is only
checked for its form here and resolved against the hardware by :func:`laanet.device.resolve_device` when a
:class:`~laanet.inference.detector.Detector` is built.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from laanet.device import DeviceError, check_device_name

BACKENDS: tuple[str, ...] = ("torch", "onnx")


@dataclass(frozen=True)
class InferenceOptions:
    """How a file is scored. Defaults are the paper's test protocol.

    Args:
        weights: checkpoint path (laanet or official ``.pt``/``.pth``, or a ``.onnx`` from ``laanet export``),
            or None for the bundled demo weights; an ``https://`` URL or ``hf://OWNER/REPO/FILE[@REVISION]`` is
            fetched once into its cache when the detector is built (``laanet.hub.resolve_weights``).
        backend: ``"torch"`` (eager PyTorch) or ``"onnx"`` (ONNX Runtime on the CPU; a ``.pt`` is exported
            once and cached, a ``.onnx`` is used as is, without importing torch).
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threshold: P(fake) at or above which a file is labelled ``fake`` (with a ``calibration``, only when
            ``operating_point`` is ``"threshold"``; otherwise the operating point's threshold decides).
        frames: frames sampled evenly per video (the paper tests on 32).
        flip_test: score each face crop and its mirror and average their logits (the official test does).
        face_backend: ``"mediapipe"`` or ``"dlib"`` (see docs/faces.md).
        batch_size: face crops per forward pass.
        max_faces: more faces (people, in a video) than this flags the result ``too_many_faces``; every face is
            still scored (docs/results.md).
        calibration: a calibration file from ``laanet calibrate`` (made for these weights, else refused), or
            None. Results then carry the calibrated probability and band, and ``label`` follows the
            operating point (docs/calibration.md).
        operating_point: with a calibration, the point whose threshold decides ``label``: ``fpr1``, ``fpr5``,
            ``eer`` (any point the file has), or ``threshold`` to keep using ``threshold``; None = the file's
            default (``fpr5``).
    """

    weights: str | None = None
    backend: str = "torch"
    device: str = "auto"
    threshold: float = 0.5
    frames: int = 32
    flip_test: bool = True
    face_backend: str = "mediapipe"
    batch_size: int = 8
    max_faces: int = 4
    calibration: str | None = None
    operating_point: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.weights, os.PathLike):
            object.__setattr__(self, "weights", os.fspath(self.weights))
        if self.weights is not None and (not isinstance(self.weights, str) or not self.weights):
            raise ValueError(f"weights must be a path, an https:// URL or None, got {self.weights!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        try:
            check_device_name(self.device)
        except DeviceError as err:
            raise ValueError(str(err)) from None
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not (
            math.isfinite(self.threshold) and 0.0 <= self.threshold <= 1.0
        ):
            raise ValueError(f"threshold is a probability in [0, 1], got {self.threshold!r}")
        object.__setattr__(self, "threshold", float(self.threshold))
        for name in ("frames", "batch_size", "max_faces"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if not isinstance(self.flip_test, bool):
            raise ValueError(f"flip_test must be True or False, got {self.flip_test!r}")
        self._check_calibration()
        from laanet.faces.analyzer import BACKENDS as FACE_BACKENDS

        if self.face_backend not in FACE_BACKENDS:
            raise ValueError(f"face_backend must be one of {', '.join(FACE_BACKENDS)}, got {self.face_backend!r}")

    def _check_calibration(self) -> None:
        if isinstance(self.calibration, os.PathLike):
            object.__setattr__(self, "calibration", os.fspath(self.calibration))
        if self.calibration is not None and (not isinstance(self.calibration, str) or not self.calibration):
            raise ValueError(f"calibration must be a path to a laanet calibrate file or None, got {self.calibration!r}")
        point = self.operating_point
        if point is not None and (not isinstance(point, str) or not re.fullmatch(r"eer|threshold|fpr[0-9]+(\.[0-9]+)?", point)):
            raise ValueError(f"operating_point must be fprN (e.g. fpr1, fpr5), eer or threshold, got {point!r}")
        if point not in (None, "threshold") and self.calibration is None:
            raise ValueError(f"operating_point {point!r} needs a calibration file (--calibration)")

    def replace(self, **changes: Any) -> InferenceOptions:
        """A copy with ``changes`` applied (validated again); unknown names raise ``TypeError``."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown inference option(s): {', '.join(unknown)}; valid: {', '.join(field_names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InferenceOptions:
        """Build from a dict such as :meth:`to_dict`'s; unknown keys raise ``TypeError``."""
        return cls().replace(**values)


def field_names() -> tuple[str, ...]:
    """Names of the :class:`InferenceOptions` fields, in order."""
    return tuple(f.name for f in dataclasses.fields(InferenceOptions))
