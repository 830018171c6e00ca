"""Face crop → network input, and the inverse mapping for heatmaps.

The stored face crop (256 px, as the official ``package_utils/images_crop.py`` saves it) loses ``TEST_MARGIN``
pixels on every side and is resized to the network input size, as the official SBI test loader does
(``datasets/face_forensic_sbi.py``: 256 → 246 → 384). Training crops a random margin in [5, 24] (the same file
with ``datasets/sbi/utils.py``), so the fixed 5 px at test time is its smallest value.
Normalisation: RGB, ``(x / 255 - 0.5) / 0.5`` → [-1, 1] (official configs, mean = std = 0.5).
"""
from __future__ import annotations

import cv2
import numpy as np

TEST_MARGIN = 5  # pixels of a 256-px crop; scaled for other crop sizes
MEAN = STD = 0.5


def margin_for(crop_size: int) -> int:
    """Test-time margin in pixels for a crop of ``crop_size`` px (5 px at 256)."""
    return int(round(TEST_MARGIN * crop_size / 256))


def normalize(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W float32 in [-1, 1]."""
    x = image.astype(np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def crop_to_input(crop: np.ndarray, input_size: int, *, margin: int | None = None) -> np.ndarray:
    """Face crop (H×W×3 uint8 RGB, square) → network input 3×S×S float32 in [-1, 1]."""
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 RGB crop, got shape {crop.shape}")
    m = margin_for(crop.shape[0]) if margin is None else margin
    inner = crop[m : crop.shape[0] - m, m : crop.shape[1] - m]
    resized = cv2.resize(inner, (input_size, input_size), interpolation=cv2.INTER_LINEAR)
    return normalize(resized)


def heatmap_to_crop_matrix(heatmap_size: int, crop_size: int, *, margin: int | None = None) -> np.ndarray:
    """2×3 affine taking heatmap pixel coordinates to crop pixel coordinates (pixel centres aligned)."""
    m = margin_for(crop_size) if margin is None else margin
    scale = (crop_size - 2 * m) / heatmap_size
    offset = m + 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset]], dtype=np.float64)


def original_to_heatmap_matrix(crop_matrix: np.ndarray, heatmap_size: int, crop_size: int) -> np.ndarray:
    """Compose original→crop (2×3) with crop→heatmap; use with ``cv2.WARP_INVERSE_MAP`` to paste a heatmap back."""
    from laanet.faces.crop import compose_affine, invert_affine

    crop_to_heatmap = invert_affine(heatmap_to_crop_matrix(heatmap_size, crop_size))
    return compose_affine(crop_to_heatmap, np.asarray(crop_matrix, dtype=np.float64))


def paste_heatmap(heatmap: np.ndarray, crop_matrix: np.ndarray, crop_size: int, frame_shape: tuple[int, int]) -> np.ndarray:
    """Warp an h×h heatmap (values in [0, 1]) of one face back onto the H×W original frame (0 outside the face)."""
    matrix = original_to_heatmap_matrix(crop_matrix, heatmap.shape[0], crop_size)
    h, w = frame_shape
    return cv2.warpAffine(
        heatmap.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0
    )
