"""Training targets from a blending-boundary map: vulnerable-point heatmap and self-consistency target.

LAA-Net supervises two dense outputs of size S×S (S = input_size / 4, 96 for the paper) from the boundary
map ``T = warp(uint8(255 · 4M(1 − M)))`` (a truncating cast) of a pseudo-fake with soft blend mask ``M``
(official ``datasets/common.py``, ``_new_encode_target``):

* **Vulnerable points.** ``T`` is split into 4 quadrants; in each quadrant every pixel equal to the quadrant's
  maximum is a vulnerable point (ties kept; a quadrant whose maximum is 0 has none).
* **Heatmap.** A Gaussian is drawn at each point with an adaptive size: the horizontal and vertical runs of
  ``T > 128`` through the point give a box ``(h, v)``, ``r`` is CenterNet's ``gaussian_radius((h, v), 0.7)``
  and ``σ = r/3 + 1e-4``. Kernels are merged with element-wise max, so every peak is exactly 1.
* **Consistency.** ``C = 1 − |T_max − T| / 255`` inside the quadrants that hold points, 0 elsewhere.

A real image has ``T ≡ 0`` and gets all-zero targets. The functions here are pure numpy and work at any S.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["gaussian_radius", "make_targets", "run_lengths", "vulnerable_points"]

_RUN_THRESHOLD = 128  # a pixel belongs to the boundary "blob" when T > 128 (official ``cal_mask_wh``)
_MIN_OVERLAP = 0.7  # CenterNet min_overlap used by the official encoder
_SIGMA_EPS = 1e-4  # σ = r/3 + 1e-4: a zero radius draws a one-pixel delta


def gaussian_radius(height: float, width: float, min_overlap: float = _MIN_OVERLAP) -> float:
    """CenterNet's Gaussian radius for a box of ``height × width``: the smallest of three quadratic roots.

    Each root is the largest corner shift that keeps the IoU of the shifted box with the true box above
    ``min_overlap`` in one of three configurations (both corners inside, both outside, one of each).
    """
    # Both corners shifted outwards.
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 * b1 - 4 * c1)) / 2
    # Both corners shifted inwards.
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 * b2 - 16 * c2)) / 2
    # One corner in, one corner out.
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 * b3 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def _run_through(line: np.ndarray, pos: int) -> int:
    """Length of the run of ``line > 128`` through ``pos``, with the centre counted once per side (0 if off)."""
    if line[pos] <= _RUN_THRESHOLD:
        return 0
    above = line > _RUN_THRESHOLD
    # Walk towards lower indices (centre included), then towards higher indices (centre included again).
    before = above[pos::-1]
    after = above[pos:]
    n_before = int(np.argmin(before)) if not before.all() else before.size
    n_after = int(np.argmin(after)) if not after.all() else after.size
    return n_before + n_after


def run_lengths(boundary: np.ndarray, row: int, col: int) -> tuple[int, int]:
    """``(h, v)``: horizontal and vertical runs of ``boundary > 128`` through ``(row, col)``.

    The walk starts on the point itself in each of the two directions, so the centre pixel is counted twice
    per axis, as the official ``cal_mask_wh`` does; a point with ``T ≤ 128`` gets ``(0, 0)``.
    """
    return _run_through(boundary[row, :], col), _run_through(boundary[:, col], row)


def vulnerable_points(boundary: np.ndarray) -> list[np.ndarray]:
    """Per quadrant (top-left, top-right, bottom-left, bottom-right), the ``N×2`` (row, col) of its maxima.

    Args:
        boundary: S×S uint8 boundary map T.

    Returns:
        Four int arrays of shape N_q×2; N_q = 0 where the quadrant's maximum is 0.
    """
    size_h, size_w = boundary.shape
    half_h, half_w = size_h // 2, size_w // 2
    points: list[np.ndarray] = []
    for r0, r1 in ((0, half_h), (half_h, size_h)):
        for c0, c1 in ((0, half_w), (half_w, size_w)):
            quad = boundary[r0:r1, c0:c1]
            peak = int(quad.max()) if quad.size else 0
            if peak == 0:
                points.append(np.zeros((0, 2), dtype=np.int64))
                continue
            rows, cols = np.nonzero(quad == peak)
            points.append(np.stack([rows + r0, cols + c0], axis=1))
    return points


def _draw_gaussian(heatmap: np.ndarray, row: int, col: int, sigma: float) -> None:
    """Max-merge a Gaussian of std ``sigma`` into ``heatmap`` at the official (truncating) position.

    The kernel grid has ``ceil(6σ + 1)`` samples about index ``floor(3σ + ½)``; it covers the pixel range
    ``[int(p − 3σ), int(p + 3σ + 1))`` on each axis, which drops the kernel's last row/column whenever
    ``frac(3σ) ≥ ½`` and puts the peak one pixel up-left of the point whenever ``frac(3σ) < ½``.
    """
    half = 3 * sigma
    length = math.ceil(2 * half + 1)
    centre = math.floor((2 * half + 1) / 2)
    axis = np.arange(length, dtype=np.float64) - centre
    kernel = np.exp(-(axis[None, :] ** 2 + axis[:, None] ** 2) / (2 * sigma * sigma))  # length, length
    # int() truncates toward zero (not floor), as the official encoder does, also for negative positions.
    top, left = int(row - half), int(col - half)
    bottom, right = int(row + half + 1), int(col + half + 1)  # exclusive
    size_h, size_w = heatmap.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1 = min(bottom, size_h, top + length)
    c1 = min(right, size_w, left + length)
    if r0 >= r1 or c0 >= c1:
        return
    patch = kernel[r0 - top : r1 - top, c0 - left : c1 - left]
    np.maximum(heatmap[r0:r1, c0:c1], patch, out=heatmap[r0:r1, c0:c1])


def make_targets(boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap and self-consistency targets from a boundary map (official ``datasets/common.py``).

    Args:
        boundary: S×S uint8 boundary map T (or S×S×C, channel 0 is used); all zeros for a real image.

    Returns:
        ``(heatmap, consistency)``, both 1×S×S float32 in [0, 1].
    """
    boundary = np.asarray(boundary)
    if boundary.ndim == 3:
        boundary = boundary[..., 0]
    if boundary.ndim != 2:
        raise ValueError(f"boundary must be S×S (or S×S×C), got shape {boundary.shape}")
    if boundary.dtype != np.uint8:
        raise ValueError(f"boundary must be uint8 (uint8(255·4M(1−M))), got {boundary.dtype}")
    size_h, size_w = boundary.shape
    half_h, half_w = size_h // 2, size_w // 2
    heatmap = np.zeros((size_h, size_w), dtype=np.float64)
    consistency = np.zeros((size_h, size_w), dtype=np.float32)
    t_max = int(boundary.max())
    quadrant_slices = [
        (slice(0, half_h), slice(0, half_w)),
        (slice(0, half_h), slice(half_w, size_w)),
        (slice(half_h, size_h), slice(0, half_w)),
        (slice(half_h, size_h), slice(half_w, size_w)),
    ]
    for (rows, cols), points in zip(quadrant_slices, vulnerable_points(boundary)):
        if len(points) == 0:
            continue
        for row, col in points:
            h, v = run_lengths(boundary, int(row), int(col))
            sigma = gaussian_radius(h, v) / 3 + _SIGMA_EPS
            _draw_gaussian(heatmap, int(row), int(col), sigma)
        quad = boundary[rows, cols].astype(np.float32)
        consistency[rows, cols] = (255.0 - np.abs(t_max - quad)) / 255.0
    return heatmap.astype(np.float32)[None], consistency[None]
