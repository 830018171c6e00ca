"""What the face pipeline returns: :class:`Face` (one detection) and errors."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class FaceError(Exception):
    """Base class of face-pipeline errors."""


class NoFaceError(FaceError):
    """No face was found where one is required (e.g. ``FaceAnalyzer.detect_one``)."""


class FaceBackendError(FaceError):
    """A face backend cannot be used here (package missing, model file missing, bad option)."""


class FaceDetectionError(FaceError):
    """The face backend failed on one image. The analyzer has rebuilt it: the next image can be tried."""


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the image given to ``FaceAnalyzer.detect``.

    Attributes:
        box: (4,) float32 ``[x1, y1, x2, y2]``, the detector's box.
        score: detector confidence. MediaPipe: probability in [0, 1]; dlib HOG: SVM margin (≈0–3, higher is
            surer). Compare scores only within one backend.
        landmarks: 68×2 float32 ``(x, y)`` in the iBUG 300-W order (jaw 0-16, brows 17-26, nose 27-35,
            eyes 36-47, mouth 48-67), the order of dlib's 68-point model. Always set by ``FaceAnalyzer``; a
            Face built by hand from a box alone may pass None (crops then use the box).
        landmarks81: 81×2 float32, the 68 points then 13 forehead points from the image-left temple to the
            image-right temple along the hairline (already in the contour order SBI uses; see
            ``docs/faces.md``), or None when the backend cannot give them (dlib).
        backend: which backend produced it ("dlib" or "mediapipe").
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = field(repr=False)
    landmarks81: np.ndarray | None = field(default=None, repr=False)
    backend: str = ""

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def scaled(self, factor: float) -> Face:
        """The same face with every coordinate multiplied by ``factor`` (to move between image scales)."""
        return Face(
            box=(self.box * factor).astype(np.float32),
            score=self.score,
            landmarks=None if self.landmarks is None else (self.landmarks * factor).astype(np.float32),
            landmarks81=None if self.landmarks81 is None else (self.landmarks81 * factor).astype(np.float32),
            backend=self.backend,
        )
