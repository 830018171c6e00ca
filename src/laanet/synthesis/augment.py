"""Shared real/fake augmentation and framing, on the albumentations 2.x API.

After the official ``datasets/pipelines/geo_transform.py`` (geometry), ``package_utils/transform.py``
(framing), ``datasets/sbi/utils.py`` and ``datasets/pipelines/color_transform.py`` (colour).

Every transform here is applied to a real image and its pseudo-fake **with identical parameters**
(``additional_targets``), so that the only difference left between the two is the blend.

* :func:`build_geometry`: horizontal flip (p 0.5), then with p 0.5 exactly one of a random crop to
  ``(1 − u_h)H × (1 − u_w)W`` (u ∈ {0, 0.01, …, 0.14}), a random scale in [0.85, 1.15] (masks resampled with
  nearest neighbour), or one random erasing box of 2–33 % of a fixed 257² reference square (for 256-px crops;
  aspect 0.3–3.33, zeros, masks erased too, the box clipped to the image: :class:`ReferenceErasing`).
* :func:`corner_affine`: the official centre/scale affine, corner pixel to corner pixel (scale
  ``(out − 1)/(side − 1)``, zero offset for a square image); :func:`frame_affine` chooses it or laanet's
  pixel-aligned variant, and :func:`frame` warps with it, possibly computed for another size than the image's own
  (the official SBI loader computes it from the image size *before* the geometry, see
  :func:`laanet.synthesis.pipeline.finish_pair`).
* :func:`build_pair_colour`: SBI's post-blend colour/JPEG augmentation on the framed pair.
* :func:`build_background_colour`: BI's colour pipeline, applied to the real face before blending.

Randomness: before every call each transform of a pipeline, nested ones included, gets its own seed from the
caller's ``numpy.random.Generator`` (:func:`run_seeded`), so results depend only on that generator, never on
global state, and every transform draws its ``p`` and parameters independently of the others, as the
official code does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.crops.transforms import BaseCrop

__all__ = [
    "GeometryConfig",
    "RandomFractionCrop",
    "ReferenceErasing",
    "build_background_colour",
    "build_geometry",
    "build_pair_colour",
    "corner_affine",
    "frame",
    "frame_affine",
    "run_seeded",
    "seed_transforms",
]


@dataclass(frozen=True)
class GeometryConfig:
    """Joint geometric augmentation (official ``datasets/pipelines/geo_transform.py``; values from the train config)."""

    hflip_p: float = 0.5
    one_of_p: float = 0.5  # probability that one of crop / scale / erase is applied
    crop_max_fraction: float = 0.14  # u_h, u_w ∈ {0, 0.01, ..., 0.14}
    scale_limit: float = 0.15  # RandomScale in [0.85, 1.15]
    # RandomScale resamples the boundary map and the mask with nearest neighbour (official: albumentations 1.1
    # ``apply_to_mask``); True: bilinear (laanet option; it lowers the boundary peaks, so fewer vulnerable points).
    scale_mask_linear: bool = False
    erase_area: tuple[float, float] = (0.02, 0.33)  # fraction of the reference box (or of the image, see below)
    erase_aspect: tuple[float, float] = (0.3, 3.33)
    # Erasing box relative to a fixed reference square of this side, as a fraction of the face crop's side before
    # the margin (official: 257 px for 256-px crops, top-left corner anywhere in the reference, the box clipped to
    # the image, see :class:`ReferenceErasing`); None: area relative to the image and the box always inside it
    # (``albumentations.Erasing``, laanet option).
    erase_reference: float | None = 257 / 256


class RandomFractionCrop(BaseCrop):
    """Crop a random ``(1 − u_h)·H × (1 − u_w)·W`` window, u drawn from {0, 1/steps, …, max_fraction}.

    Applied to images and masks alike (a :class:`~albumentations.DualTransform` through ``BaseCrop``).
    """

    def __init__(self, max_fraction: float = 0.14, steps: int = 100, p: float = 1.0) -> None:
        super().__init__(p=p)
        if not 0 <= max_fraction < 1:
            raise ValueError(f"max_fraction must be in [0, 1), got {max_fraction}")
        self.max_fraction = max_fraction
        self.steps = steps

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        top_k = int(round(self.max_fraction * self.steps))
        u_h = self.py_random.randint(0, top_k) / self.steps
        u_w = self.py_random.randint(0, top_k) / self.steps
        crop_h, crop_w = max(1, int((1 - u_h) * height)), max(1, int((1 - u_w) * width))
        y0 = self.py_random.randint(0, height - crop_h)
        x0 = self.py_random.randint(0, width - crop_w)
        return {"crop_coords": (x0, y0, x0 + crop_w, y0 + crop_h)}

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_fraction", "steps")


class ReferenceErasing(A.DualTransform):
    """One zero-filled box whose size is relative to a fixed reference square, not to the image (official
    ``RandomErasing`` of ``datasets/pipelines/geo_transform.py``, which hard-codes a 257×257 reference).

    Per call, up to ``attempts`` times: area ``a ~ U(area)·R²``, aspect ``r ~ U(aspect)``, ``h = round(√(a·r))``,
    ``w = round(√(a/r))`` (the Random Erasing reference convention, Zhong et al., AAAI 2020); the first box with
    ``h < R`` and ``w < R`` gets its top-left corner uniformly in ``[0, R − h] × [0, R − w]`` and is clipped to the
    image, so it can run off a smaller image, in part or entirely. Images and masks are erased alike.

    ``R = round(reference · crop_side)``, where ``crop_side`` is passed with the data (the face crop's side before
    the margin cut; :func:`laanet.synthesis.pipeline.finish_pair` does) and defaults to the image's longer side.
    """

    def __init__(
        self,
        area: tuple[float, float] = (0.02, 0.33),
        aspect: tuple[float, float] = (0.3, 3.33),
        reference: float = 257 / 256,
        attempts: int = 100,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if not 0 < area[0] <= area[1] or not 0 < aspect[0] <= aspect[1] or reference <= 0 or attempts < 1:
            raise ValueError(
                f"bad erasing settings: area {area}, aspect {aspect}, reference {reference}, attempts {attempts}"
            )
        self.area, self.aspect, self.reference, self.attempts = area, aspect, reference, attempts

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        side = int(round(self.reference * float(data.get("crop_side") or max(height, width))))
        for _ in range(self.attempts):
            target = self.py_random.uniform(*self.area) * side * side
            ratio = self.py_random.uniform(*self.aspect)
            h, w = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if h < side and w < side:
                y0 = self.py_random.randint(0, side - h)
                x0 = self.py_random.randint(0, side - w)
                return {"box": (x0, y0, min(x0 + w, width), min(y0 + h, height))}
        return {"box": None}

    def apply(self, img: np.ndarray, box: tuple[int, int, int, int] | None = None, **params: Any) -> np.ndarray:
        if box is None or box[0] >= box[2] or box[1] >= box[3]:
            return img
        out = img.copy()
        out[box[1] : box[3], box[0] : box[2]] = 0
        return out

    def apply_to_mask(
        self, mask: np.ndarray, box: tuple[int, int, int, int] | None = None, **params: Any
    ) -> np.ndarray:
        return self.apply(mask, box)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("area", "aspect", "reference", "attempts")


# Targets shared by every pair pipeline: the real is "image", the fake rides along with the same parameters.
_PAIR_TARGETS = {"fake": "image", "boundary": "mask", "soft": "mask"}


def crop_or_scale(cfg: GeometryConfig) -> list[A.BasicTransform]:
    """The crop and scale choices of the geometry OneOf, as both families' official loaders configure them: a
    random fractional crop, and a random scale of ±``scale_limit`` (bilinear on the images; nearest on the maps,
    as albumentations 1.x resized masks, or bilinear with ``scale_mask_linear``)."""
    return [
        RandomFractionCrop(max_fraction=cfg.crop_max_fraction, p=1.0),
        A.RandomScale(
            scale_limit=(-cfg.scale_limit, cfg.scale_limit),
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_LINEAR if cfg.scale_mask_linear else cv2.INTER_NEAREST,
            p=1.0,
        ),
    ]


def build_geometry(cfg: GeometryConfig | None = None) -> A.Compose:
    """Joint geometry for (image=real, fake, boundary, soft) — see the module docstring."""
    cfg = cfg or GeometryConfig()
    if cfg.erase_reference is None:
        erasing = A.Erasing(scale=cfg.erase_area, ratio=cfg.erase_aspect, fill=0, fill_mask=0, p=1.0)
    else:
        erasing = ReferenceErasing(area=cfg.erase_area, aspect=cfg.erase_aspect, reference=cfg.erase_reference, p=1.0)
    return A.Compose(
        [
            A.HorizontalFlip(p=cfg.hflip_p),
            A.OneOf(
                [
                    *crop_or_scale(cfg),
                    erasing,
                ],
                p=cfg.one_of_p,
            ),
        ],
        additional_targets=_PAIR_TARGETS,
    )


def build_pair_colour() -> A.Compose:
    """SBI's post-blend colour augmentation, shared by real and fake (official ``datasets/sbi/utils.py``).

    The HSV limits of ±0.3 are the official values; on uint8 images they change pixels by a few levels only.
    """
    return A.Compose(
        [
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.3),
            A.HueSaturationValue(hue_shift_limit=0.3, sat_shift_limit=0.3, val_shift_limit=0.3, p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.3),
            A.ImageCompression(quality_range=(40, 100), p=0.5),
        ],
        additional_targets={"fake": "image"},
    )


def _cv_sigma(ksize: int) -> float:
    """σ that OpenCV derives from a Gaussian kernel size when asked for σ = 0."""
    return 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8


def build_background_colour() -> A.Compose:
    """BI's colour pipeline on the real face before blending (official ``datasets/pipelines/color_transform.py``)."""
    # GaussNoise "var 10-50" (albumentations 1.x, pixel² on uint8) = std sqrt(10)..sqrt(50) levels of 255.
    noise_std = (math.sqrt(10) / 255, math.sqrt(50) / 255)
    return A.Compose(
        [
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.2, p=0.3),
            A.ImageCompression(quality_range=(40, 100), p=0.5),
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.3),
            A.RandomGamma(gamma_limit=(80, 120), p=0.5),
            A.OneOf(
                [
                    # GaussianBlur(3-7) of 1.x: odd kernel k ∈ {3, 5, 7} with OpenCV's σ for that kernel.
                    A.OneOf(
                        [A.GaussianBlur(blur_limit=(k, k), sigma_limit=(_cv_sigma(k),) * 2, p=1.0) for k in (3, 5, 7)],
                        p=1.0,
                    ),
                    A.GaussNoise(std_range=noise_std, p=1.0),
                ],
                p=0.5,
            ),
            A.OneOf(
                [
                    A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=1.0),
                    A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=20, val_shift_limit=20, p=1.0),
                ],
                p=0.5,
            ),
        ]
    )


def seed_transforms(transform: A.BaseCompose | A.BasicTransform, rng: np.random.Generator) -> None:
    """Give ``transform`` and every transform nested in it (Compose, OneOf, SomeOf, ...) its own seed from ``rng``.

    Depth first, a parent before its children, in list order. albumentations 2 ``Compose.set_random_seed(s)``
    hands the *same* ``s`` to every child, so all children would draw the same random numbers (three
    p = 0.3 colour ops applied all together or not at all, a flip exactly when a OneOf fires, two nested
    OneOf picking the same index). The official code (albumentations 1.1, one global ``random`` stream) draws
    every ``p`` and parameter independently; one seed per transform restores that.
    """
    transform.set_random_seed(int(rng.integers(0, 2**31 - 1)))  # a Compose also re-seeds its children ...
    if isinstance(transform, A.BaseCompose):
        for child in transform.transforms:  # ... which then get their own seeds, after the parent's
            seed_transforms(child, rng)


def run_seeded(pipeline: A.BaseCompose, rng: np.random.Generator, **data: np.ndarray) -> dict[str, Any]:
    """Run ``pipeline`` on ``data`` after seeding each of its transforms from ``rng`` (:func:`seed_transforms`),
    so results follow ``rng`` and every transform draws independently of the others."""
    seed_transforms(pipeline, rng)
    return pipeline(**data)


def corner_affine(width: int, height: int, out_w: int, out_h: int | None = None) -> np.ndarray:
    """The official framing affine (official ``package_utils/transform.py``, ``get_affine_transform``), 2×3 float64.

    Maps a ``width × height`` image into ``out_w × out_h`` (``out_h`` defaults to ``out_w``), centred, aspect kept,
    **corner pixel to corner pixel**: the scale is ``k = (out − 1)/(side − 1)`` for the side that fits (the longer
    one for a square output) and the image centre ``((w − 1)/2, (h − 1)/2)`` goes to ``((out_w − 1)/2,
    (out_h − 1)/2)``. For an S×S image this is ``[[(out − 1)/(S − 1), 0, 0], [0, (out − 1)/(S − 1), 0]]``: zero
    offset, pixel 0 → 0 and pixel S − 1 → out − 1. Used by LAA-Net's SBI/BI loaders (S → 384 and → 96) and by
    FakeFormer's (S → 112 and → 14). Because the scale is (out − 1)/(S − 1) and not out/S, a map warped to a 4×
    smaller grid is not exactly the image's map subsampled: against the 384-px image the 96-px targets are in place
    at the centre and up to ±1.5 input pixels off at the edges (:func:`frame_affine` ``pixel_aligned=True``
    avoids that).

    Raises:
        ValueError: a side below 2 pixels (the corner-to-corner scale is undefined).
    """
    out_h = out_w if out_h is None else out_h
    if min(width, height, out_w, out_h) < 2:
        raise ValueError(f"corner_affine needs sides of at least 2 px, got {width}×{height} → {out_w}×{out_h}")
    k = min((out_w - 1) / (width - 1), (out_h - 1) / (height - 1))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array(
        [[k, 0.0, (out_w - 1) / 2 - k * cx], [0.0, k, (out_h - 1) / 2 - k * cy]], dtype=np.float64
    )


def frame_affine(width: int, height: int, out_size: int, *, pixel_aligned: bool = False) -> np.ndarray:
    """2×3 affine fitting a ``width × height`` image, centred and aspect kept, into ``out_size²``.

    ``pixel_aligned=False`` (official, the paper presets): :func:`corner_affine`, scale ``(out − 1)/(max(w, h) − 1)``,
    corner pixels onto corner pixels. ``pixel_aligned=True`` (laanet option ``data.pixel_aligned_framing``): scale
    ``out/max(w, h)`` and the centre ``((w − 1)/2, (h − 1)/2)`` onto ``(out − 1)/2``, so pixel *areas* map onto pixel
    areas and maps warped to different sizes (the 384-px image, the 96-px targets) stay exactly aligned.
    """
    if not pixel_aligned:
        return corner_affine(width, height, out_size)
    k = out_size / max(width, height)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    centre = (out_size - 1) / 2
    return np.array([[k, 0.0, centre - k * cx], [0.0, k, centre - k * cy]], dtype=np.float64)


def frame(
    image: np.ndarray,
    out_size: int,
    interpolation: int = cv2.INTER_LINEAR,
    *,
    reference: tuple[int, int] | None = None,
    pixel_aligned: bool = False,
) -> np.ndarray:
    """Warp ``image`` (H×W or H×W×C) into ``out_size × out_size`` with :func:`frame_affine`, zero border.

    ``reference`` = (width, height) the affine is computed for (default: the image's own size). A smaller
    image than its reference keeps its top-left corner in place and gets black right/bottom borders; a larger
    one is zoomed and cut at the right/bottom. ``pixel_aligned``: see :func:`frame_affine`.
    """
    height, width = image.shape[:2]
    ref_width, ref_height = reference if reference is not None else (width, height)
    matrix = frame_affine(ref_width, ref_height, out_size, pixel_aligned=pixel_aligned)
    return cv2.warpAffine(
        image, matrix, (out_size, out_size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
