"""dlib backend: HOG frontal-face detector + the 68-point iBUG shape predictor.

This is the paper's landmark convention (the official preprocessing,
``package_utils/geo_landmarks_extraction.py``, uses dlib HOG and dlib shape predictors). The predictor file
comes from the ``face-recognition-models`` package (CC0); it is located with ``importlib.util.find_spec``
so that the package's ``__init__`` (which imports ``pkg_resources``, gone in setuptools ≥ 81) is never run.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from laanet.faces.types import Face, FaceBackendError

logger = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path:
    """Path of dlib's 68-point predictor inside the installed ``face_recognition_models`` package.

    Raises:
        FaceBackendError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceBackendError(
            "the dlib backend needs the 'face-recognition-models' package (pip install face-recognition-models)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise FaceBackendError(f"{path} is missing; reinstall face-recognition-models")
    return path


class DlibBackend:
    """HOG detection + 68-point landmarks, on CPU.

    Args:
        upsample: times the HOG detector upsamples the image (0: faces ≥ ~80 px; 1: ≥ ~40 px, 4× slower).
        threshold: HOG SVM margin a detection must reach. dlib's default, 0, lets through false positives scoring
            up to ~0.3 on the samples (a patch of the astronaut's suit), while true faces score 1-2.5 upright and
            0.2-1.7 when rolled 15° (those below 0.3 are small, and the analyzer's small-face pass, which
            upsamples, finds them again with higher scores).
    """

    name = "dlib"
    gives_forehead = False

    def __init__(self, *, upsample: int = 0, threshold: float = 0.3) -> None:
        try:
            import dlib
        except ImportError as err:
            raise FaceBackendError("the dlib backend needs the 'dlib-bin' package (pip install dlib-bin)") from err
        if upsample < 0:
            raise ValueError(f"upsample must be ≥ 0, got {upsample}")
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path()))
        self.upsample = upsample
        self.threshold = threshold

    def detect_boxes(self, image: np.ndarray, upsample: int | None = None) -> list[tuple[np.ndarray, float]]:
        """Boxes ``[x1, y1, x2, y2]`` and scores of the faces in an H×W×3 uint8 RGB image."""
        upsample = self.upsample if upsample is None else upsample
        rects, scores, _ = self._detector.run(image, upsample, self.threshold)
        return [
            (np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32), float(s))
            for r, s in zip(rects, scores)
        ]

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68×2 float32 landmarks for the face in ``box`` (image coordinates)."""
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        shape = self._predictor(image, self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def analyze(
        self, detect_image: np.ndarray, scale: float, image: np.ndarray, *, small_faces: bool = False
    ) -> list[Face]:
        """Detect on ``detect_image`` (``image`` shrunk by ``scale``), fit landmarks on full-res ``image``.

        ``small_faces``: upsample once more before detecting (boxes down to ~40 px; about 4× slower).
        """
        faces = []
        for box, score in self.detect_boxes(detect_image, self.upsample + 1 if small_faces else None):
            full_box = box / scale
            faces.append(Face(box=full_box, score=score, landmarks=self.landmarks(image, full_box), backend=self.name))
        return faces
