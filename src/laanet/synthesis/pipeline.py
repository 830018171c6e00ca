"""The steps every pseudo-fake shares after blending: margin crop, joint geometry, framing, colour, targets.

Order (as the official SBI loader, ``datasets/face_forensic_sbi.py`` with ``datasets/sbi/utils.py``):

1. boundary ``B = uint8(255·4M(1−M))`` at crop size, truncated as the official code casts it (``quantize=
   "round"`` rounds instead); the real's boundary is all zero;
2. crop the same margin from every side of real, fake, boundary and mask;
3. joint geometry (train only), identical for the pair;
4. framing: warp images to ``input_size`` and boundary/mask to ``S = input_size/4`` with the official
   corner-to-corner centre/scale affine (:func:`~laanet.synthesis.augment.corner_affine`; bilinear, on uint8 for
   the boundary — this is T), or laanet's pixel-aligned one (``pixel_aligned``). The affine is computed from
   the image size **before** the geometry step when ``frame_before_geometry`` (the official SBI loader: a random
   crop then acts as a shift with black right/bottom borders and a random scale as a zoom), or after it (the
   official BI loader, and laanet's option for SBI: the whole augmented image is fitted into the input);
5. shared colour augmentation (SBI only);
6. targets from T (:func:`~laanet.synthesis.targets.make_targets`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import albumentations as A
import cv2
import numpy as np

from laanet.synthesis.augment import frame, run_seeded
from laanet.synthesis.hull import HULL_TYPES
from laanet.synthesis.sample import SynthesizedPair, Targets
from laanet.synthesis.targets import make_targets

__all__ = ["FramedPair", "Quantize", "boundary_map", "draw_margin", "finish_pair", "to_uint8", "to_sample", "with_fake_targets"]

Quantize = Literal["truncate", "round"]
QUANTIZE_MODES: tuple[Quantize, ...] = ("truncate", "round")


def check_common_config(input_size: int, hull_types: tuple, max_redraws: int, quantize: str = "truncate") -> None:
    """Validate the options SBIConfig and BIConfig share; ``ValueError`` naming the bad value."""
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    if input_size < 8 or input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4 (≥ 8), got {input_size}")
    if not hull_types or any(h not in HULL_TYPES for h in hull_types):
        raise ValueError(f"hull_types must be a non-empty subset of {HULL_TYPES}, got {hull_types}")
    if max_redraws < 0:
        raise ValueError(f"max_redraws must be ≥ 0, got {max_redraws}")


def to_uint8(values: np.ndarray, quantize: Quantize = "truncate") -> np.ndarray:
    """Float pixel values → uint8, clipped to [0, 255]; ``truncate`` drops the fraction (the official
    ``astype(uint8)`` cast), ``round`` rounds to the nearest level."""
    if quantize == "round":
        values = np.round(values)
    elif quantize != "truncate":
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    return np.clip(values, 0, 255).astype(np.uint8)


def boundary_map(mask: np.ndarray, quantize: Quantize = "truncate", dtype: type = np.float64) -> np.ndarray:
    """``uint8(255 · 4M(1 − M))`` H×W; peaks (255) where the soft mask M crosses 0.5.

    ``truncate`` (official, ``sbi/utils.py`` and ``face_forensic_hm.py`` cast with ``astype(uint8)``) leaves
    fewer pixels at the top level than ``round``, hence fewer tied vulnerable points per fake. ``dtype`` is the
    arithmetic: the official FakeFormer loader computes in float32 (the mask's dtype), which truncates a few
    pixels one level differently from float64.
    """
    m = np.clip(mask.astype(dtype), dtype(0.0), dtype(1.0))
    return to_uint8(dtype(4.0) * m * (dtype(1.0) - m) * dtype(255.0), quantize)


def draw_margin(rng: np.random.Generator, size: int, margin: tuple[int, int], reference: int) -> int:
    """Random per-side margin in pixels: ``margin`` is given for a ``reference``-px crop and scaled to ``size``."""
    scale = size / reference
    lo, hi = int(round(margin[0] * scale)), int(round(margin[1] * scale))
    return int(rng.integers(lo, hi + 1))


@dataclass
class FramedPair:
    """A pair after :func:`finish_pair`: images at input size, boundary T and mask M at S."""

    real: np.ndarray  # N×N×3 uint8
    fake: np.ndarray  # N×N×3 uint8
    boundary: np.ndarray  # S×S uint8
    mask: np.ndarray  # S×S float32


def finish_pair(
    real: np.ndarray,
    fake: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    margin: int,
    input_size: int,
    geometry: A.Compose | None,
    colour: A.Compose | None,
    quantize: Quantize = "truncate",
    frame_before_geometry: bool = False,
    pixel_aligned: bool = False,
    heatmap_size: int | None = None,
    boundary_dtype: type = np.float64,
    exact_boundary: bool = False,
) -> FramedPair:
    """Steps 1-5 of the module docstring.

    Args:
        real, fake: H×W×3 uint8 at crop size.
        mask: H×W float32 soft blend mask M of the fake, in [0, 1].
        margin: pixels cut from every side before the geometry.
        geometry: joint geometry pipeline (:func:`~laanet.synthesis.augment.build_geometry`) or None.
        colour: shared colour pipeline (:func:`~laanet.synthesis.augment.build_pair_colour`) or None.
        quantize: how the boundary map is cast to uint8 (see :func:`boundary_map`).
        frame_before_geometry: take the framing affine from the pre-geometry size (official SBI) instead of
            the post-geometry size (official BI).
        pixel_aligned: frame with scale ``out/W`` and pixel areas onto pixel areas, so targets and image stay
            exactly aligned (laanet option), instead of the official corner-to-corner affine
            (:func:`~laanet.synthesis.augment.corner_affine`; :func:`~laanet.synthesis.augment.frame_affine`).
        heatmap_size: side of the boundary/mask grid (default ``input_size // 4``, LAA-Net; FakeFormer: the
            model's token grid, 14 at 112 px).
        boundary_dtype: arithmetic of the boundary map (:func:`boundary_map`; FakeFormer's loader: float32).
        exact_boundary: frame the uint8 boundary with the exact corner-to-corner bilinear sample
            (:func:`~laanet.synthesis.patch_targets.patch_map`) instead of ``cv2.warpAffine``, whose uint8 result
            depends on the OpenCV build; ignored with ``pixel_aligned``.
    """
    boundary = boundary_map(mask, quantize, boundary_dtype)
    mask = mask.astype(np.float32)
    crop_side = max(real.shape[:2])  # the face crop before the margin: the erasing box's reference
    if margin > 0:
        height, width = real.shape[:2]
        if 2 * margin >= min(height, width):
            raise ValueError(f"margin {margin} px leaves nothing of a {width}×{height} crop")
        crop = (slice(margin, height - margin), slice(margin, width - margin))
        real, fake, boundary, mask = real[crop], fake[crop], boundary[crop], mask[crop]
    framing_size = (real.shape[1], real.shape[0])  # (width, height) before the geometry
    if geometry is not None:
        out = run_seeded(geometry, rng, image=real, fake=fake, boundary=boundary, soft=mask, crop_side=crop_side)
        real, fake, boundary, mask = out["image"], out["fake"], out["boundary"], out["soft"]
    if not frame_before_geometry:
        framing_size = (real.shape[1], real.shape[0])
    heatmap_size = input_size // 4 if heatmap_size is None else heatmap_size
    framing = {"reference": framing_size, "pixel_aligned": pixel_aligned}
    real = frame(real, input_size, **framing)
    fake = frame(fake, input_size, **framing)
    if exact_boundary and not pixel_aligned:
        from laanet.synthesis.patch_targets import patch_map

        boundary = patch_map(np.ascontiguousarray(boundary), heatmap_size, reference=framing_size)
    else:
        boundary = frame(np.ascontiguousarray(boundary), heatmap_size, **framing)  # uint8: the official T
    mask = frame(np.ascontiguousarray(mask), heatmap_size, **framing)
    if colour is not None:
        out = run_seeded(colour, rng, image=real, fake=fake)
        real, fake = out["image"], out["fake"]
    return FramedPair(real=real, fake=fake, boundary=boundary, mask=mask)


def to_sample(framed: FramedPair, info: dict) -> SynthesizedPair:
    """Attach targets (step 6): real → zeros, fake → :func:`make_targets` of its boundary."""
    heatmap, consistency = make_targets(framed.boundary)
    return with_fake_targets(framed, info, heatmap, consistency)


def with_fake_targets(framed: FramedPair, info: dict, heatmap: np.ndarray, consistency: np.ndarray) -> SynthesizedPair:
    """The pair with the fake's ``heatmap`` and ``consistency`` (1×S×S float32) targets and all-zero real targets."""
    size = heatmap.shape[-1]
    return SynthesizedPair(
        real=framed.real,
        fake=framed.fake,
        boundary=framed.boundary,
        mask=framed.mask,
        real_targets=Targets.real(size),
        fake_targets=Targets(heatmap=heatmap, consistency=consistency, label=1),
        info=info,
    )


def resize(image: np.ndarray, width: int, height: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``cv2.resize`` to ``width × height`` (a no-op when the size already matches)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=interpolation)
