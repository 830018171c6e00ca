"""Landmarks as the synthesizers take them: validation and the forehead order of 81-point input.

Landmarks are N×2 float (x, y) crop-pixel coordinates in iBUG-68 order (N = 68), optionally followed by 13
forehead points (N = 81). laanet's own 81-point layout (``FaceCrop.landmarks81``, see
:mod:`laanet.faces.landmarks`) already lists the forehead as a temple-to-temple arc; the raw output of dlib's
81-point model does not, and is re-ordered with :data:`DLIB81_FOREHEAD_ORDER` (as the official
``datasets/sbi/utils.py`` does). Mirroring under a horizontal flip is :func:`laanet.faces.landmarks.flip_landmarks`.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["DLIB81_FOREHEAD_ORDER", "ForeheadOrder", "SynthesisInputError", "check_landmarks", "forehead_to_arc"]

ForeheadOrder = Literal["arc", "dlib81"]

# Raw dlib-81 forehead points 68-80 listed as a contiguous temple-to-temple arc.
DLIB81_FOREHEAD_ORDER: tuple[int, ...] = (77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78)


class SynthesisInputError(ValueError):
    """The face crop or its landmarks cannot be used for synthesis (wrong shape, too few points, NaN...)."""


def check_landmarks(landmarks: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Validate and return landmarks as float32 N×2 (N = 68 or 81).

    Raises:
        SynthesisInputError: wrong shape, a point count other than 68/81, non-finite values, or fewer than
            3 points inside the image.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 2 or lm.shape[1] != 2:
        raise SynthesisInputError(f"landmarks must be N×2, got shape {lm.shape}")
    if lm.shape[0] not in (68, 81):
        raise SynthesisInputError(f"synthesis needs 68 (iBUG) or 81 (68 + forehead) landmarks, got {lm.shape[0]}")
    if not np.isfinite(lm).all():
        raise SynthesisInputError("landmarks contain NaN or inf")
    height, width = image_shape[:2]
    inside = (lm[:, 0] >= 0) & (lm[:, 0] < width) & (lm[:, 1] >= 0) & (lm[:, 1] < height)
    if inside.sum() < 3:
        raise SynthesisInputError(f"fewer than 3 of {lm.shape[0]} landmarks lie inside the {width}×{height} image")
    return lm


def forehead_to_arc(landmarks: np.ndarray, order: ForeheadOrder) -> np.ndarray:
    """81 points in ``order`` → 81 points with the forehead as an arc; 68 points are returned unchanged."""
    if landmarks.shape[0] <= 68 or order == "arc":
        return landmarks
    if order != "dlib81":
        raise ValueError(f"unknown forehead order {order!r}; expected 'arc' or 'dlib81'")
    return np.concatenate([landmarks[:68], landmarks[list(DLIB81_FOREHEAD_ORDER)]], axis=0)
