"""Face-swap fakes for the held-out test: a donor face aligned onto a target face and Poisson-blended.

This is deliberately *not* how the demo model's training fakes are made (SBI and BI blend with a blurred
alpha mask): the swap uses another person's face, a similarity warp and OpenCV's gradient-domain blend
(``cv2.seamlessClone``, Pérez et al. 2003), so it measures whether the detector generalises beyond its own
pseudo-fakes.

Steps (full-image coordinates, 68 iBUG landmarks of both faces):

1. similarity transform (rotation, uniform scale, translation) donor → target, least squares on the inner
   landmarks (brows, eyes, nose, mouth; the jaw line differs too much between people);
2. warp the donor image with it;
3. mask = convex hull of the target's jaw + brows, intersected with the warped donor hull and eroded by a
   few per cent of the face size, so only donor pixels are pasted;
4. ``cv2.seamlessClone(warped donor, target, mask, centre, NORMAL_CLONE)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["SwapResult", "face_hull_mask", "face_swap", "similarity_transform"]

INNER = list(range(17, 68))  # brows, nose, eyes, mouth
OUTLINE = list(range(0, 27))  # jaw + brows: the face region replaced


@dataclass
class SwapResult:
    image: np.ndarray  # H×W×3 uint8 RGB, the target with the donor's face blended in
    mask: np.ndarray  # H×W uint8 {0, 255}, the region handed to seamlessClone
    matrix: np.ndarray  # 2×3 donor → target similarity


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 least-squares similarity (Umeyama, no reflection) mapping N×2 points ``src`` onto ``dst``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two N×2 point sets of equal shape, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    if var_s <= 0:
        raise ValueError("source points are all identical")
    cov = d.T @ s / len(src)  # 2×2
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / var_s
    linear = scale * rot
    return np.hstack([linear, (mu_d - linear @ mu_s)[:, None]])


def face_hull_mask(landmarks: np.ndarray, shape: tuple[int, ...], indices: list[int] = OUTLINE) -> np.ndarray:
    """H×W uint8 mask (0/255) of the convex hull of ``landmarks[indices]``."""
    mask = np.zeros(shape[:2], np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(landmarks)[indices]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def face_swap(
    target: np.ndarray,
    target_landmarks: np.ndarray,
    donor: np.ndarray,
    donor_landmarks: np.ndarray,
    *,
    erode: float = 0.04,
) -> SwapResult:
    """Put ``donor``'s face onto ``target``'s (module docstring).

    Args:
        target, donor: H×W×3 uint8 RGB images (any sizes).
        target_landmarks, donor_landmarks: 68×2 (x, y) iBUG landmarks in their image's pixels.
        erode: mask erosion as a fraction of the target face width.

    Raises:
        ValueError: bad landmarks, or a face too close to the image border to blend.
    """
    t_lm = np.asarray(target_landmarks, dtype=np.float64)
    d_lm = np.asarray(donor_landmarks, dtype=np.float64)
    if t_lm.shape != (68, 2) or d_lm.shape != (68, 2):
        raise ValueError(f"face_swap needs 68×2 landmarks, got {t_lm.shape} and {d_lm.shape}")
    height, width = target.shape[:2]
    matrix = similarity_transform(d_lm[INNER], t_lm[INNER])
    warped = cv2.warpAffine(donor, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    warped_lm = d_lm @ matrix[:, :2].T + matrix[:, 2]
    mask = face_hull_mask(t_lm, target.shape) & face_hull_mask(warped_lm, target.shape)
    face_width = float(np.ptp(t_lm[:, 0]))
    k = max(3, int(round(erode * face_width)) | 1)
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a frame around the mask
    x, y, w, h = cv2.boundingRect(mask)
    if w < 8 or h < 8:
        raise ValueError("face swap: the blend region is empty (faces too small or off the image)")
    centre = (x + w // 2, y + h // 2)  # seamlessClone centres the mask's bounding box here: no shift
    # (a copy: OpenCV may write into the mask it is given)
    blended = cv2.seamlessClone(
        np.ascontiguousarray(warped[..., ::-1]), np.ascontiguousarray(target[..., ::-1]), mask.copy(), centre, cv2.NORMAL_CLONE
    )
    return SwapResult(image=np.ascontiguousarray(blended[..., ::-1]), mask=mask, matrix=matrix)
