"""One face pipeline for ``prepare``, training and ``detect``: detection, 68 iBUG landmarks, crops.

- :class:`FaceAnalyzer` — ``.detect(image) -> list[Face]`` with the dlib or MediaPipe backend.
- :func:`crop_face` — THE crop policy (1.5× box, eyes levelled, 256 px, padded at borders),
  returning a :class:`FaceCrop` that keeps its transform; :func:`paste_back` maps crop maps back.
- ``laanet.faces.landmarks`` — index conventions and the FaceMesh → iBUG table.
"""
from __future__ import annotations

from laanet.faces.analyzer import BACKENDS, DEFAULT_BACKEND, FaceAnalyzer
from laanet.faces.crop import (
    DEFAULT_CROP_SIZE,
    DEFAULT_MARGIN,
    FaceCrop,
    apply_affine,
    crop_face,
    crop_matrix,
    invert_affine,
    paste_back,
    warp_affine,
)
from laanet.faces.landmarks import flip_landmarks, inter_ocular_distance, roll_degrees
from laanet.faces.types import Face, FaceBackendError, FaceDetectionError, FaceError, NoFaceError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_CROP_SIZE",
    "DEFAULT_MARGIN",
    "Face",
    "FaceAnalyzer",
    "FaceBackendError",
    "FaceCrop",
    "FaceDetectionError",
    "FaceError",
    "NoFaceError",
    "apply_affine",
    "crop_face",
    "crop_matrix",
    "flip_landmarks",
    "inter_ocular_distance",
    "invert_affine",
    "paste_back",
    "roll_degrees",
    "warp_affine",
]
