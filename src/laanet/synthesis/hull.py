"""Blend masks from facial landmarks: the four hull types of the SBI / Face X-ray mask code.

Every type starts from the landmarks truncated toward zero to integer pixels (as the official
``package_utils/deepfake_mask.py`` does with ``astype(int32)``) and fills convex hulls with 255 on a blank
canvas. Indices are 0-based iBUG-68; points 68-80 (the forehead arc of 81-point input) are used by
``facehull`` only.

* ``facehull``: one convex hull of all given landmarks (68, or 81 with the forehead).
* ``dfl_full``: three hulls — jaw line + mouth (+ points 0, 8, 16), nose ridge + nose tip, brows + 0, 27, 16,
  33 (DeepFaceLab's "full" mask).
* ``components``: eight part hulls (two jaw halves, two cheeks, the brow-to-chin strip, two eye regions, the
  nose). Almost every part reaches down to the chin point 8 and the parts overlap, so the union is one solid
  face region, without holes at the eyes, nose or mouth.
* ``extended``: ``components`` after moving each eyebrow point away from the top of the eye below it by half
  their (integer) distance, which raises the mask's upper edge onto the forehead.

The official ``facehull`` asks OpenCV for anti-aliased filling, but it draws on a float32 canvas, on which
OpenCV ignores anti-aliasing: its masks are strictly 0/255. :func:`hull_mask` therefore fills every type
without anti-aliasing (``antialias=True`` restores the anti-aliased ``facehull`` edge). Masks are float32
H×W in [0, 1].
"""
from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

__all__ = ["HULL_TYPES", "HullType", "hull_mask", "hull_parts"]

HullType = Literal["dfl_full", "extended", "components", "facehull"]
HULL_TYPES: tuple[HullType, ...] = ("dfl_full", "extended", "components", "facehull")


def _span(first: int, last: int) -> list[int]:
    """Indices ``first..last`` inclusive."""
    return list(range(first, last + 1))


_JAW, _MOUTH = _span(0, 16), _span(48, 67)
_BROWS, _NOSE_RIDGE, _NOSTRILS = _span(17, 26), _span(27, 30), _span(31, 35)
_CHIN = 8

_DFL_PARTS: tuple[list[int], ...] = (
    _JAW + _MOUTH + [0, _CHIN, 16],  # lower face
    _NOSE_RIDGE + [33],  # nose ridge and tip
    _BROWS + [0, 27, 16, 33],  # upper face
)
_COMPONENT_PARTS: tuple[list[int], ...] = (
    _span(0, 8) + [17],  # right jaw half (image left)
    _span(8, 16) + [26],  # left jaw half
    _span(17, 19) + [_CHIN],  # right cheek: outer brow down to the chin
    _span(24, 26) + [_CHIN],  # left cheek
    _span(19, 24) + [_CHIN],  # brow centre down to the chin
    _span(17, 21) + [27] + _NOSTRILS + [_CHIN],  # right eye region
    _span(22, 26) + [27] + _NOSTRILS + [_CHIN],  # left eye region
    _NOSE_RIDGE + _NOSTRILS,  # nose
)


def _raise_brows(points: np.ndarray) -> np.ndarray:
    """``extended``: move brow points 17-21 / 22-26 away from the eye tops below them by half the offset.

    Integer arithmetic with floor division throughout, on integer landmarks (N×2 int32 → N×2 int32).
    The eye tops of the image-left eye are (q, 36, 37, 38, 39) with q a quarter of the way from point 36 to
    the jaw point 0; those of the image-right eye are (42, 43, 44, 45, q') with q' a quarter of the way from 45
    to 16; brow point k is paired with the k-th eye-top point.
    """
    out = points.copy()
    mid_left = (points[36] + points[0]) // 2
    mid_right = (points[16] + points[45]) // 2
    quarter_left = (points[36] + mid_left) // 2
    quarter_right = (points[45] + mid_right) // 2
    eye_top_left = np.stack([quarter_left, points[36], points[37], points[38], points[39]])
    eye_top_right = np.stack([points[42], points[43], points[44], points[45], quarter_right])
    brow_left, brow_right = points[17:22], points[22:27]
    out[17:22] = brow_left + (brow_left - eye_top_left) // 2
    out[22:27] = brow_right + (brow_right - eye_top_right) // 2
    return out


def hull_parts(landmarks: np.ndarray, kind: HullType) -> list[np.ndarray]:
    """The integer point groups whose convex hulls make up a mask of type ``kind``.

    Args:
        landmarks: N×2 (x, y), N = 68 or 81; truncated toward zero to int32 here.
        kind: one of :data:`HULL_TYPES`.

    Returns:
        A list of K_i×2 int32 arrays, one per hull (1 for ``facehull``, 3 for ``dfl_full``, 8 otherwise).
    """
    points = np.asarray(landmarks).astype(np.int32)  # truncation toward zero, as the official masks
    if kind == "facehull":
        return [points]
    if points.shape[0] < 68:
        raise ValueError(f"hull type {kind!r} needs the 68 iBUG landmarks, got {points.shape[0]} points")
    if kind == "dfl_full":
        return [points[part] for part in _DFL_PARTS]
    if kind == "components":
        return [points[part] for part in _COMPONENT_PARTS]
    if kind == "extended":
        raised = _raise_brows(points)
        return [raised[part] for part in _COMPONENT_PARTS]
    raise ValueError(f"unknown hull type {kind!r}; expected one of {HULL_TYPES}")


def hull_mask(landmarks: np.ndarray, shape: tuple[int, ...], kind: HullType, *, antialias: bool = False) -> np.ndarray:
    """Blend mask of one hull type.

    Args:
        landmarks: N×2 (x, y), N = 68 or 81 (81: forehead points already in arc order).
        shape: image shape; only H, W are used.
        kind: one of :data:`HULL_TYPES`.
        antialias: anti-alias the ``facehull`` edge (off: the official masks are 0/1 only).

    Returns:
        H×W float32 mask in [0, 1] (may be empty when the landmarks lie outside the image).
    """
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=np.uint8)
    line_type = cv2.LINE_AA if antialias and kind == "facehull" else cv2.LINE_8
    for part in hull_parts(landmarks, kind):
        cv2.fillConvexPoly(mask, cv2.convexHull(part), 255, lineType=line_type)
    return mask.astype(np.float32) / 255.0
