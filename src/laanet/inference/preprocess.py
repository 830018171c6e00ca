"""Face crop → network input, and the inverse mapping for heatmaps; both read the model's
:class:`~laanet.models.family.Preprocess` (input size, test margin, normalisation, framing).

The stored face crop (256 px, as the official ``package_utils/images_crop.py`` saves it) loses ``margin`` pixels
on every side and is framed onto the network input as the official test loaders do:

- LAA-Net (``datasets/face_forensic_sbi.py``): 256 → 246 (5-px margin) → ``cv2.resize`` to 384; RGB,
  ``(x / 255 − 0.5) / 0.5``. Training crops a random margin in [5, 24], so 5 px is its smallest value.
- FakeFormer (``datasets/fakesformer_sbi.py``, ``package_utils/transform.py``): 256 → 238 (9-px margin) →
  ``cv2.warpAffine`` bilinear with the corner-to-corner matrix (scale (112 − 1)/(238 − 1), no offset) to 112;
  RGB, ``(x / 255 − ImageNet mean) / ImageNet std``.
"""
from __future__ import annotations

import cv2
import numpy as np

from laanet.models.family import Preprocess

TEST_MARGIN = 5  # LAA-Net's, pixels of a 256-px crop (kept for callers that pass a bare input size)
MEAN = STD = 0.5


def _preprocess(pre: Preprocess | int) -> Preprocess:
    """A bare input size means LAA-Net's preprocessing at that size (the behaviour before model families)."""
    return pre if isinstance(pre, Preprocess) else Preprocess(input_size=int(pre))


def margin_for(crop_size: int, pre: Preprocess | None = None) -> int:
    """Test-time margin in pixels for a crop of ``crop_size`` px (``pre.margin`` at 256; LAA-Net's 5 by default)."""
    return (pre or Preprocess(input_size=0)).margin_for(crop_size)


def normalize(image: np.ndarray, pre: Preprocess | None = None) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W float32, ``(x / 255 − mean) / std`` (LAA-Net's [-1, 1] by default)."""
    x = image.astype(np.float32) / 255.0
    if pre is None:
        return ((x - MEAN) / STD).transpose(2, 0, 1)
    mean = np.asarray(pre.mean, np.float32)
    std = np.asarray(pre.std, np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


def corner_matrix(inner: int, size: int) -> np.ndarray:
    """2×3 corner-to-corner affine of an ``inner``-px square onto ``size`` px: pixel 0 → 0, inner−1 → size−1."""
    s = (size - 1) / (inner - 1)
    return np.array([[s, 0.0, 0.0], [0.0, s, 0.0]], dtype=np.float64)


def frame_crop(crop: np.ndarray, pre: Preprocess | int, *, margin: int | None = None) -> np.ndarray:
    """Face crop (H×W×3 uint8 RGB, square) → the S×S×3 uint8 network image, before normalisation."""
    pre = _preprocess(pre)
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 RGB crop, got shape {crop.shape}")
    m = pre.margin_for(crop.shape[0]) if margin is None else margin
    inner = crop[m : crop.shape[0] - m, m : crop.shape[1] - m]
    s = pre.input_size
    if pre.framing == "corner_affine":
        return cv2.warpAffine(np.ascontiguousarray(inner), corner_matrix(inner.shape[0], s), (s, s), flags=cv2.INTER_LINEAR)
    return cv2.resize(inner, (s, s), interpolation=cv2.INTER_LINEAR)


def crop_to_input(crop: np.ndarray, pre: Preprocess | int, *, margin: int | None = None) -> np.ndarray:
    """Face crop (H×W×3 uint8 RGB, square) → network input 3×S×S float32, as ``pre`` (a model's
    ``preprocess``; a bare int = LAA-Net's at that size) says. ``margin`` overrides ``pre``'s."""
    pre = _preprocess(pre)
    return normalize(frame_crop(crop, pre, margin=margin), pre)


def heatmap_to_crop_matrix(
    heatmap_size: int, crop_size: int, *, margin: int | None = None, pre: Preprocess | None = None
) -> np.ndarray:
    """2×3 affine taking heatmap pixel coordinates to crop pixel coordinates.

    Heatmap cells are centre-aligned on the network input (cell i ↔ input pixel (i + 0.5)·S/h − 0.5); the input is
    mapped back onto the crop by the inverse of the framing (``resize``: pixel centres aligned; ``corner_affine``:
    corners aligned). For FakeFormer's ViT (patch padding 2) a token's receptive patch is centred 2 input px
    up-left of its cell here, and the un-flipped token of the mirrored face 2 px down-right, so the flip-test
    mean (the default) is centred exactly; without flip test the map is 2 px off (display only, docs/model.md).
    """
    pre = pre or Preprocess(input_size=heatmap_size * 4)
    m = pre.margin_for(crop_size) if margin is None else margin
    inner = crop_size - 2 * m
    if pre.framing == "corner_affine":
        s_in = pre.input_size / heatmap_size  # input px per heatmap cell
        k = (inner - 1) / (pre.input_size - 1)  # crop px per input px
        scale = s_in * k
        offset = m + (0.5 * s_in - 0.5) * k
    else:
        scale = inner / heatmap_size
        offset = m + 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset]], dtype=np.float64)


def original_to_heatmap_matrix(
    crop_matrix: np.ndarray, heatmap_size: int, crop_size: int, pre: Preprocess | None = None
) -> np.ndarray:
    """Compose original→crop (2×3) with crop→heatmap; use with ``cv2.WARP_INVERSE_MAP`` to paste a heatmap back."""
    from laanet.faces.crop import compose_affine, invert_affine

    crop_to_heatmap = invert_affine(heatmap_to_crop_matrix(heatmap_size, crop_size, pre=pre))
    return compose_affine(crop_to_heatmap, np.asarray(crop_matrix, dtype=np.float64))


def paste_heatmap(
    heatmap: np.ndarray, crop_matrix: np.ndarray, crop_size: int, frame_shape: tuple[int, int], pre: Preprocess | None = None
) -> np.ndarray:
    """Warp an h×h heatmap (values in [0, 1]) of one face back onto the H×W original frame (0 outside the face).
    ``pre``: the model's preprocessing (margin, framing); None = LAA-Net's."""
    matrix = original_to_heatmap_matrix(crop_matrix, heatmap.shape[0], crop_size, pre)
    h, w = frame_shape
    return cv2.warpAffine(
        heatmap.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0
    )
