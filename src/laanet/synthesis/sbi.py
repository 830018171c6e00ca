"""Self-Blended Images (SBI): a face blended with a slightly altered copy of itself.

Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022; parameters as used by
LAA-Net's SBI path (official ``datasets/face_forensic_sbi.py`` and ``datasets/sbi/utils.py``; SBI's own
``src/utils/sbi.py`` in github.com/mapooon/SelfBlendedImages). Per call, from one real face crop and its landmarks:

1. (train) with p 0.5 flip the face and its landmarks (indices re-mapped so each keeps its meaning);
2. with p 0.25 keep only the 68 inner landmarks (drops the forehead of 81-point input);
3. mask = one of 4 hull types, uniformly (:mod:`laanet.synthesis.hull`);
4. source = target = face; with p 0.5 the source gets the colour/frequency transform, else the target;
5. source and mask get a small random affine (translate x ±3 %, y ±1.5 %, scale 0.95–1/0.95); the mask
   alone an elastic deformation (α 50, σ 7);
6. blend mask: resize to a random 0.8–1.25× size, Gaussian blur (odd kernel 5–25), keep only the
   pixels at the maximum, blur again (odd kernel 5–25, σ 5–45), normalise, resize back → M;
7. fake = r·M·source + (1 − r·M)·target with r ∈ {0.25, 0.5, 0.75, 1, 1, 1}; real = target;
8. shared margin crop (5–24 px per side of a 256-px crop), joint geometry, framing (its affine taken from
   the size before the geometry, as the official loader does), colour, targets
   (:mod:`laanet.synthesis.pipeline`).

The blend and the boundary map are cast to uint8 by truncation, as the official code does
(``quantize="round"`` rounds instead).

A candidate whose mask is empty, whose blend changed nothing, or whose boundary is lost in the framing is
re-drawn (at most ``max_redraws`` times, counted in ``info["redraws"]``); an unblended "fake" is never
returned. The official code trains on such a fake (users saw accuracy stuck at 50 %).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import albumentations as A
import cv2
import numpy as np

from laanet.synthesis.augment import GeometryConfig, build_geometry, build_pair_colour, run_seeded
from laanet.synthesis.hull import HULL_TYPES, HullType, hull_mask
from laanet.faces.landmarks import flip_landmarks
from laanet.synthesis.landmarks import ForeheadOrder, SynthesisInputError, check_landmarks, forehead_to_arc
from laanet.synthesis.pipeline import (
    FramedPair,
    Quantize,
    check_common_config,
    draw_margin,
    finish_pair,
    resize,
    to_sample,
    to_uint8,
)
from laanet.synthesis.sample import SynthesisError, SynthesizedPair

logger = logging.getLogger(__name__)

__all__ = ["SBIConfig", "SBIDraw", "SBISynthesizer", "check_image"]


@dataclass(frozen=True)
class SBIConfig:
    """SBI synthesis and pair augmentation; defaults are the official LAA-Net SBI values (``datasets/sbi/utils.py``)."""

    input_size: int = 384  # network input (paper 384; cpu-tiny 128); targets are input_size / 4
    train: bool = True  # landmark flip + joint geometry (the official val split uses neither)
    pair_colour: bool = True  # shared post-blend colour/JPEG (official: train and val)
    flip_p: float = 0.5
    # Landmark flip x → W − x, as the official code (one pixel off the mirrored face); True: x → W − 1 − x (laanet
    # option, the exact mirror).
    exact_landmark_flip: bool = False
    subset68_p: float = 0.25  # drop the forehead points of 81-point landmarks
    forehead_order: ForeheadOrder = "arc"  # 81-point input: "arc" (laanet.faces) or "dlib81" (raw dlib model)
    hull_types: tuple[HullType, ...] = HULL_TYPES
    source_transform_p: float = 0.5  # P(colour/frequency transform on the source) vs on the target
    translate: tuple[float, float] = (0.03, 0.015)  # ± fraction of width, height
    scale: tuple[float, float] = (0.95, 1 / 0.95)
    elastic_alpha: float = 50.0
    elastic_sigma: float = 7.0
    mask_resize: tuple[float, float] = (0.8, 1 / 0.8)  # random mask size, fraction of the crop side
    blur_kernel: tuple[int, int] = (5, 25)  # odd kernels, both blurs
    blur_sigma: tuple[int, int] = (5, 45)  # σ of the second blur (integers)
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    margin: tuple[int, int] = (5, 24)  # px cut per side, for a margin_reference-px crop (scaled)
    margin_reference: int = 256
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    max_redraws: int = 10
    quantize: Quantize = "truncate"  # uint8 cast of the blend and the boundary map (official: truncate)
    # Framing affine from the size before the joint geometry (official SBI loader): a random crop becomes a
    # shift with black borders, a random scale a ±15 % zoom. False: fit the augmented image (laanet option).
    frame_before_geometry: bool = True
    # False: official corner-to-corner framing affine (scale (out−1)/(W−1), zero offset; the 96-px targets are up
    # to ±1.5 input px off the 384-px image at the edges). True: scale out/W, targets exactly on the image.
    pixel_aligned_framing: bool = False

    def __post_init__(self) -> None:
        check_common_config(self.input_size, self.hull_types, self.max_redraws, self.quantize)
        lo, hi = self.blur_kernel
        if lo < 1 or lo % 2 == 0 or hi % 2 == 0 or hi < lo:
            raise ValueError(f"blur_kernel must be two odd sizes lo ≤ hi, got {self.blur_kernel}")

    @property
    def heatmap_size(self) -> int:
        return self.input_size // 4


@dataclass(frozen=True)
class SBIDraw:
    """The discrete random choices of one SBI candidate (the continuous ones come from ``aug_seed``)."""

    flip: bool
    subset68: bool
    hull: HullType
    transform_source: bool
    mask_size: tuple[int, int]  # (height, width) the mask is blurred at
    kernel1: int
    kernel2: int
    sigma2: int
    blend_ratio: float
    margin: int


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` if it is H×W×3 uint8 with H, W ≥ 32, else raise ``SynthesisInputError``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise SynthesisInputError(f"face crop must be an H×W×3 uint8 RGB array, got shape {shape} dtype {dtype}")
    if min(image.shape[:2]) < 32:
        raise SynthesisInputError(f"face crop is too small for synthesis: {image.shape[1]}×{image.shape[0]}")
    return image


def _odd(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Uniform odd integer in [lo, hi] (lo, hi odd)."""
    return int(lo + 2 * rng.integers(0, (hi - lo) // 2 + 1))


class SBISynthesizer:
    """Make (real, SBI fake) pairs with targets; stateless apart from its config, picklable, seedable.

    ``synth(image, landmarks, rng)`` → :class:`~laanet.synthesis.sample.SynthesizedPair`. All randomness
    comes from ``rng`` (a ``numpy.random.Generator``): the same generator state gives the same pair.
    """

    def __init__(self, config: SBIConfig | None = None) -> None:
        self.config = config or SBIConfig()
        cfg = self.config
        # Colour/frequency transform of the source *or* the target (official ``source_transforms``).
        self._source_transform = A.Compose(
            [
                A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.3),
                A.HueSaturationValue(hue_shift_limit=0.3, sat_shift_limit=0.3, val_shift_limit=0.3, p=1.0),
                A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=1.0),
                A.OneOf(
                    [
                        # "RandomDownScale": factor 2 or 4, nearest down, bilinear up.
                        A.OneOf(
                            [
                                A.Downscale(
                                    scale_range=(f, f),
                                    interpolation_pair={"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_LINEAR},
                                    p=1.0,
                                )
                                for f in (0.5, 0.25)
                            ],
                            p=1.0,
                        ),
                        A.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1.0),
                    ],
                    p=1.0,
                ),
            ]
        )
        # Geometric mismatch between source and mask (official ``randaffine``); the mask uses nearest, as officially.
        self._affine = A.Compose(
            [
                A.Affine(
                    translate_percent={
                        "x": (-cfg.translate[0], cfg.translate[0]),
                        "y": (-cfg.translate[1], cfg.translate[1]),
                    },
                    scale=cfg.scale,
                    fit_output=False,
                    p=1.0,
                )
            ]
        )
        self._elastic = A.Compose(
            [
                A.ElasticTransform(
                    alpha=cfg.elastic_alpha,
                    sigma=cfg.elastic_sigma,
                    interpolation=cv2.INTER_NEAREST,
                    noise_distribution="uniform",  # albumentations 1.x behaviour
                    p=1.0,
                )
            ]
        )
        self._geometry = build_geometry(cfg.geometry) if cfg.train else None
        self._colour = build_pair_colour() if cfg.pair_colour else None

    # ------------------------------------------------------------------ random choices
    def draw(self, rng: np.random.Generator, image_shape: tuple[int, ...]) -> SBIDraw:
        """Draw the discrete choices of one candidate (cheap; used by the statistical tests)."""
        cfg = self.config
        height, width = image_shape[:2]
        lo, hi = cfg.mask_resize
        return SBIDraw(
            flip=bool(cfg.train and rng.random() < cfg.flip_p),
            subset68=bool(rng.random() < cfg.subset68_p),
            hull=cfg.hull_types[int(rng.integers(len(cfg.hull_types)))],
            transform_source=bool(rng.random() < cfg.source_transform_p),
            mask_size=(
                int(rng.integers(int(lo * height), int(hi * height))),
                int(rng.integers(int(lo * width), int(hi * width))),
            ),
            kernel1=_odd(rng, *cfg.blur_kernel),
            kernel2=_odd(rng, *cfg.blur_kernel),
            sigma2=int(rng.integers(cfg.blur_sigma[0], cfg.blur_sigma[1] + 1)),
            blend_ratio=float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))]),
            margin=draw_margin(rng, min(height, width), cfg.margin, cfg.margin_reference),
        )

    # ------------------------------------------------------------------ steps
    def blend_mask(self, mask: np.ndarray, draw: SBIDraw) -> np.ndarray:
        """Step 6: two-stage blurred blend mask M (H×W float32, max 1), or all zeros for an empty mask."""
        height, width = mask.shape
        if mask.max() <= 0:
            return np.zeros_like(mask, dtype=np.float32)
        m = resize(mask.astype(np.float32), draw.mask_size[1], draw.mask_size[0])
        m = cv2.GaussianBlur(m, (draw.kernel1, draw.kernel1), 0)
        peak = m.max()
        if peak <= 0:
            return np.zeros((height, width), np.float32)
        m = m / peak
        m[m < 1] = 0  # keep the interior only (erodes the hull by about the kernel radius)
        m = cv2.GaussianBlur(m, (draw.kernel2, draw.kernel2), draw.sigma2)
        peak = m.max()
        if peak <= 0:
            return np.zeros((height, width), np.float32)
        m = resize(m / peak, width, height)
        return np.clip(m, 0.0, 1.0).astype(np.float32)

    def self_blend(
        self, image: np.ndarray, landmarks: np.ndarray, draw: SBIDraw, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps 2-7 on an (already flipped) crop → (real, fake, M), all at crop size."""
        lm = landmarks[:68] if draw.subset68 else landmarks
        mask = hull_mask(lm, image.shape, draw.hull)
        source, target = image, image
        if draw.transform_source:
            source = run_seeded(self._source_transform, rng, image=image)["image"]
        else:
            target = run_seeded(self._source_transform, rng, image=image)["image"]
        out = run_seeded(self._affine, rng, image=source, mask=mask)
        source, mask = out["image"], out["mask"]
        mask = run_seeded(self._elastic, rng, image=mask[..., None])["image"][..., 0]
        m = self.blend_mask(mask, draw)
        alpha = (draw.blend_ratio * m.astype(np.float64))[..., None]  # H, W, 1
        fake = to_uint8(alpha * source + (1.0 - alpha) * target, self.config.quantize)
        return target, fake, m

    def finish(
        self, real: np.ndarray, fake: np.ndarray, mask: np.ndarray, draw: SBIDraw, rng: np.random.Generator,
        **extra: Any,
    ) -> FramedPair:
        """Step 8 up to the targets: margin, joint geometry, framing, colour (:func:`finish_pair`; ``extra``: more
        of its arguments, for subclasses)."""
        cfg = self.config
        return finish_pair(
            real,
            fake,
            mask,
            rng,
            margin=draw.margin,
            input_size=cfg.input_size,
            geometry=self._geometry,
            colour=self._colour,
            quantize=cfg.quantize,
            frame_before_geometry=cfg.frame_before_geometry,
            pixel_aligned=cfg.pixel_aligned_framing,
            **extra,
        )

    def to_sample(self, framed: FramedPair, info: dict) -> SynthesizedPair:
        """The targets of a framed pair (LAA-Net's vulnerable points and consistency, :func:`to_sample`)."""
        return to_sample(framed, info)

    # ------------------------------------------------------------------ entry point
    def __call__(self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> SynthesizedPair:
        """One (real, fake) pair from a real face crop.

        Args:
            image: H×W×3 uint8 RGB face crop (typically 256 px).
            landmarks: 68×2 or 81×2 (x, y) in crop pixels (81: forehead order per ``config.forehead_order``).
            rng: the source of all randomness.

        Raises:
            SynthesisInputError: unusable image or landmarks.
            SynthesisError: no valid fake after ``max_redraws`` re-draws.
        """
        cfg = self.config
        image = check_image(image)
        base_landmarks = forehead_to_arc(check_landmarks(landmarks, image.shape), cfg.forehead_order)
        reasons: list[str] = []
        for attempt in range(cfg.max_redraws + 1):
            draw = self.draw(rng, image.shape)
            face, lm = image, base_landmarks
            if draw.flip:
                face = np.ascontiguousarray(image[:, ::-1])
                lm = flip_landmarks(base_landmarks, image.shape[1], pixel_centres=cfg.exact_landmark_flip)
                lm = lm.astype(np.float32)
            real, fake, mask = self.self_blend(face, lm, draw, rng)
            if mask.max() <= 0:
                reasons.append("empty mask")
                continue
            if not (fake != real).any():
                reasons.append("blend changed nothing")
                continue
            framed = self.finish(real, fake, mask, draw, rng)
            if framed.boundary.max() == 0:
                reasons.append("boundary lost in framing")
                continue
            if attempt:
                logger.debug("SBI: %d re-draw(s) before a valid fake (%s)", attempt, ", ".join(reasons))
            info = {"method": "sbi", "redraws": attempt, **asdict(draw)}
            return self.to_sample(framed, info)
        raise SynthesisError(f"SBI: no valid fake after {cfg.max_redraws + 1} attempts ({', '.join(reasons)})")
