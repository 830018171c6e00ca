"""Blend masks from facial landmarks: four hull types, drawn uniformly by both synthesizers (spec §3.2 3b).

* ``facehull``: the convex hull of all given landmarks (68, or 81 with the forehead), anti-aliased.
* ``dfl_full``: three hulls — lower face (jaw + mouth), nose, upper face (brows + eyes + jaw ends).
* ``components``: eight part hulls (two eye/brow regions, nose, mouth, two cheeks, chin, glabella); their
  union leaves small gaps, so the mask is less regular than a single hull.
* ``extended``: ``components`` with each eyebrow moved up by half its distance to the eye below it.

The part groupings are laanet's own (iBUG-68 indices); they follow the descriptions of the four types in the
spec, not any particular implementation. Masks are float32 H×W in [0, 1].
"""
from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

__all__ = ["HULL_TYPES", "HullType", "hull_mask"]

HullType = Literal["dfl_full", "extended", "components", "facehull"]
HULL_TYPES: tuple[HullType, ...] = ("dfl_full", "extended", "components", "facehull")

_JAW = list(range(0, 17))
_RIGHT_BROW, _LEFT_BROW = list(range(17, 22)), list(range(22, 27))
_NOSE = list(range(27, 36))
_RIGHT_EYE, _LEFT_EYE = list(range(36, 42)), list(range(42, 48))
_MOUTH = list(range(48, 68))

_DFL_PARTS: tuple[list[int], ...] = (
    _JAW + _MOUTH,  # lower face
    _NOSE,
    _RIGHT_BROW + _LEFT_BROW + _RIGHT_EYE + _LEFT_EYE + [0, 16],  # upper face
)
_COMPONENT_PARTS: tuple[list[int], ...] = (
    _RIGHT_BROW + _RIGHT_EYE,
    _LEFT_BROW + _LEFT_EYE,
    _NOSE,
    list(range(48, 60)),  # outer lips
    [0, 1, 2, 3, 4, 5, 31, 36, 40, 41, 48],  # right cheek
    [11, 12, 13, 14, 15, 16, 35, 45, 46, 47, 54],  # left cheek
    [5, 6, 7, 8, 9, 10, 11, 48, 54, 57],  # chin
    [21, 22, 27, 39, 42, 31, 35],  # glabella down to the nostrils
)


def _fill_hull(mask: np.ndarray, points: np.ndarray, antialias: bool = False) -> None:
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA if antialias else cv2.LINE_8)


def _raise_brows(landmarks: np.ndarray) -> np.ndarray:
    """Move each eyebrow by half the offset from its eye's centre to the brow's centre (away from the eye)."""
    lm = landmarks.copy()
    for brow, eye in ((_RIGHT_BROW, _RIGHT_EYE), (_LEFT_BROW, _LEFT_EYE)):
        offset = landmarks[brow].mean(axis=0) - landmarks[eye].mean(axis=0)
        lm[brow] = landmarks[brow] + 0.5 * offset
    return lm


def hull_mask(landmarks: np.ndarray, shape: tuple[int, ...], kind: HullType) -> np.ndarray:
    """Blend mask of one hull type.

    Args:
        landmarks: N×2 (x, y), N = 68 or 81 (81: forehead points already in arc order).
        shape: image shape; only H, W are used.
        kind: one of :data:`HULL_TYPES`.

    Returns:
        H×W float32 mask in [0, 1] (may be empty when the landmarks lie outside the image).
    """
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=np.uint8)
    if kind == "facehull":
        _fill_hull(mask, landmarks, antialias=True)
    elif kind == "dfl_full":
        for part in _DFL_PARTS:
            _fill_hull(mask, landmarks[part])
    elif kind in ("components", "extended"):
        lm = _raise_brows(landmarks) if kind == "extended" else landmarks
        for part in _COMPONENT_PARTS:
            _fill_hull(mask, lm[part])
    else:
        raise ValueError(f"unknown hull type {kind!r}; expected one of {HULL_TYPES}")
    return mask.astype(np.float32) / 255.0
