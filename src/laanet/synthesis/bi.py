"""Blended Images (BI, Face X-ray style): another person's face blended into the real one.

Li et al., "Face X-ray for More General Face Forgery Detection", CVPR 2020; parameters as used by LAA-Net's
BI path (official ``datasets/face_forensic_hm.py``). Per call, from one real face crop (the *background*)
and its 68 landmarks:

1. (train) BI colour augmentation of the background (:func:`~laanet.synthesis.augment.build_background_colour`);
2. the *foreground* is drawn uniformly among the ``k`` faces of **other identities** whose landmark
   configurations are nearest (:class:`PartnerIndex`, a k-NN index over normalised landmarks; the official
   code ranks 10,000 random frames instead); it is aligned to the background with a similarity transform
   fitted on the landmarks (laanet addition; ``align_partner=False`` to skip);
3. both faces are resampled to a random size ``s`` ∈ [0.404·H, H] (the official 128–317 px for 317-px faces,
   here relative to the actual crop size — no hard-coded 317);
4. mask = one of 4 hull types → piecewise-affine jitter (σ 0.01–0.15 of the side, 4×4 grid) → with p 0.5
   erosion (odd kernel 1–21), else dilation (odd kernel 1–5);
5. colour transfer (foreground mean matched to the background inside the mask), feathered blend with
   ``α = clip(distance_to_mask_edge / (0.2 · mask size), 0, 1)``; ``M = α``; both cast to uint8 by truncation
   as the official code stores them (``quantize="round"``: float transfer, rounded blend);
6. back to crop size; with p 0.5 real and fake are both down-sampled to a random 0.2–1× size (bilinear or
   nearest) and back;
7. shared margin crop, joint geometry, framing, targets (:mod:`laanet.synthesis.pipeline`).

The real half of the pair is the background after the same resampling as the fake (steps 3 and 6), so
resolution alone never tells the pair apart. An empty mask or a blend that changes nothing is re-drawn
(bounded, counted in ``info["redraws"]``).

:meth:`BISynthesizer.single` gives one image instead, as the official BI loaders do per item: the fake half of
a pair, or the real face alone (steps 1, 6 and 7, no blend-size resampling). The steps are methods
(``prepare``, ``partners``, ``blend``, ``downsample``, ``finish``, ``to_sample``) that
:class:`~laanet.synthesis.fakeformer_bi.FakeFormerBISynthesizer` overrides for FakeFormer's loader.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from laanet.synthesis.augment import GeometryConfig, build_background_colour, build_geometry, run_seeded
from laanet.synthesis.hull import HULL_TYPES, HullType, hull_mask
from laanet.synthesis.landmarks import SynthesisInputError, check_landmarks
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
from laanet.synthesis.sample import SynthesisError, SynthesizedImage, SynthesizedPair
from laanet.synthesis.sbi import check_image

logger = logging.getLogger(__name__)

__all__ = ["BIConfig", "BISynthesizer", "PartnerIndex", "PoolFace", "normalise_landmarks", "piecewise_affine"]


# ---------------------------------------------------------------------------------------------------- pool
@dataclass
class PoolFace:
    """One candidate foreground face: an image (path or H×W×3 uint8 RGB array), its 68 landmarks, identity."""

    image: str | Path | np.ndarray
    landmarks: np.ndarray
    identity: str


def normalise_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """68×2 → 136 float32: centred on the landmark mean and divided by the RMS distance to it.

    Removes position and scale, keeps pose and expression; the k-NN distance on these vectors is the RMS
    landmark distance between the two aligned shapes.
    """
    lm = np.asarray(landmarks, dtype=np.float64)[:68]
    centred = lm - lm.mean(axis=0)
    size = np.sqrt((centred**2).sum(axis=1).mean())
    if not np.isfinite(size) or size <= 0:
        raise SynthesisInputError("degenerate landmarks (all points coincide)")
    return (centred / size).astype(np.float32).reshape(-1)


def _normalise_many(landmarks: np.ndarray) -> np.ndarray:
    """:func:`normalise_landmarks` of N×68×2 landmarks at once → N×136 float32."""
    lm = landmarks.astype(np.float64)
    centred = lm - lm.mean(axis=1, keepdims=True)
    size = np.sqrt((centred**2).sum(axis=2).mean(axis=1))  # N
    bad = ~np.isfinite(size) | (size <= 0)
    if bad.any():
        raise SynthesisInputError(f"pool face {int(np.argmax(bad))}: degenerate landmarks (all points coincide)")
    return (centred / size[:, None, None]).astype(np.float32).reshape(len(lm), -1)


class PartnerIndex:
    """k-NN index of pool faces by landmark configuration, excluding the query's own identity.

    Build it once from (image, landmarks, identity) triples — for training, the real face crops of the
    training split with ``identity = video_id``. Queries are exact (brute force, one BLAS matrix-vector
    product over the pool: ~1 ms per 10k faces). Picklable; images are read lazily from their paths.
    """

    def __init__(self, faces: Sequence[PoolFace], *, root: str | Path | None = None) -> None:
        if len(faces) == 0:
            raise ValueError("BI needs a non-empty pool of faces")
        self.root = Path(root) if root is not None else None
        self.images = [f.image for f in faces]
        landmarks = [np.asarray(f.landmarks, dtype=np.float32)[:68] for f in faces]
        for i, lm in enumerate(landmarks):
            if lm.shape != (68, 2):
                raise SynthesisInputError(f"pool face {i}: landmarks must be 68×2, got {lm.shape}")
        self.landmarks = np.stack(landmarks)  # N, 68, 2
        names, codes = np.unique([str(f.identity) for f in faces], return_inverse=True)
        self.identity_names = [str(n) for n in names]
        self.identities = codes.astype(np.int64)  # N
        order = np.argsort(self.identities, kind="stable")
        bounds = np.searchsorted(self.identities[order], np.arange(len(names) + 1))
        self._members = [order[bounds[c] : bounds[c + 1]] for c in range(len(names))]  # pool rows per identity
        self.features = _normalise_many(self.landmarks)  # N, 136 float32
        self.sq_norms = (self.features**2).sum(axis=1)  # N
        if len(names) < 2:
            logger.warning("BI pool has a single identity (%s): every query from it will fail", names[0])

    @classmethod
    def from_records(cls, records: Iterable[Any], root: str | Path, *, reals_only: bool = True) -> "PartnerIndex":
        """From prepared-index records (``path``, ``landmarks``, ``video_id``, ``label``); paths under ``root``."""
        faces = [
            PoolFace(image=rec.path, landmarks=np.asarray(rec.landmarks, np.float32), identity=rec.video_id)
            for rec in records
            if rec.landmarks and (not reals_only or int(getattr(rec, "label", 0)) == 0)
        ]
        return cls(faces, root=root)

    def __len__(self) -> int:
        return len(self.images)

    def identity_code(self, identity: str | None) -> int | None:
        """Integer code of ``identity`` in this pool (None if absent or None)."""
        if identity is None:
            return None
        pos = int(np.searchsorted(self.identity_names, str(identity)))
        if pos < len(self.identity_names) and self.identity_names[pos] == str(identity):
            return pos
        return None

    def neighbours(self, landmarks: np.ndarray, *, identity: str | None = None, k: int = 30) -> np.ndarray:
        """Indices of the (up to) ``k`` pool faces nearest to ``landmarks``, nearest first.

        Faces of ``identity`` are excluded; without an identity, only exact duplicates (distance 0) are.

        Raises:
            SynthesisError: no face of another identity in the pool.
        """
        query = normalise_landmarks(landmarks)  # 136 float32
        dist2 = self.sq_norms - 2.0 * (self.features @ query) + float(query @ query)  # N
        code = self.identity_code(identity)
        if code is not None:
            dist2[self._members[code]] = np.inf
        else:
            dist2[dist2 <= 1e-8] = np.inf  # the query face itself
        valid = len(dist2) - (len(self._members[code]) if code is not None else int(np.isinf(dist2).sum()))
        if valid <= 0:
            raise SynthesisError(
                f"BI: no partner face of another identity than {identity!r} in the pool of {len(self)}"
            )
        k = min(k, valid)
        nearest = np.argpartition(dist2, k - 1)[:k]
        return nearest[np.argsort(dist2[nearest], kind="stable")]

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (H×W×3 uint8 RGB) and 68×2 landmarks of pool face ``i``."""
        image = self.images[i]
        if not isinstance(image, np.ndarray):
            from laanet.media import read_image

            path = Path(image)
            image = read_image(self.root / path if self.root is not None and not path.is_absolute() else path)
        return image, self.landmarks[i].copy()


# ---------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class BIConfig:
    """BI synthesis; defaults follow the official ``datasets/face_forensic_hm.py``, scaled to the actual crop size."""

    input_size: int = 384
    train: bool = True  # background colour + joint geometry
    k: int = 30  # partners drawn among the k nearest other-identity faces (official: 30 best of 10,000)
    # None: the partner is drawn among all k; N: among the N nearest of them (FakeFormer: the first 21 of its 30).
    partner_choices: int | None = None
    align_partner: bool = True  # similarity-align the foreground to the background landmarks
    hull_types: tuple[HullType, ...] = HULL_TYPES
    blend_size: tuple[float, float] = (128 / 317, 1.0)  # s/H of the blending resolution
    piecewise_scale: tuple[float, float] = (0.01, 0.15)  # σ of the grid jitter, fraction of the side
    piecewise_grid: int = 4
    erode_p: float = 0.5
    erode_kernel: tuple[int, int] = (1, 21)  # odd
    dilate_kernel: tuple[int, int] = (1, 5)  # odd
    feather: float = 0.2  # feather width, fraction of the mask's larger side
    downsample_p: float = 0.5
    downsample_size: tuple[float, float] = (64 / 317, 1.0)  # fraction of the crop side
    margin: tuple[int, int] = (5, 24)  # same framing as SBI (official BI: fixed 317-px crop 60:317, 30:287)
    margin_reference: int = 256
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    max_redraws: int = 10
    quantize: Quantize = "truncate"  # uint8 casts of colour transfer, blend and boundary map (official: truncate)
    pixel_aligned_framing: bool = False  # True: scale out/W, targets exactly on the image (official: corner to corner)

    def __post_init__(self) -> None:
        check_common_config(self.input_size, self.hull_types, self.max_redraws, self.quantize)
        if self.k < 1:
            raise ValueError(f"k must be ≥ 1, got {self.k}")
        if self.partner_choices is not None and not 1 <= self.partner_choices <= self.k:
            raise ValueError(f"partner_choices must be in [1, k={self.k}], got {self.partner_choices}")


# ---------------------------------------------------------------------------------------------------- steps
def piecewise_affine(mask: np.ndarray, scale: float, grid: int, rng: np.random.Generator) -> np.ndarray:
    """Jitter a ``grid × grid`` lattice of control points by N(0, scale·side) and warp ``mask`` accordingly.

    The displacement between control points is interpolated bilinearly (imgaug's PiecewiseAffine uses a
    triangulation; the result is the same kind of smooth, local deformation, ~100× faster).
    """
    height, width = mask.shape[:2]
    dy = rng.normal(0.0, scale * height, size=(grid, grid))
    dx = rng.normal(0.0, scale * width, size=(grid, grid))
    # Linear-interpolation weights from the control lattice (corners on the image corners) to every pixel.
    wy = _interp_weights(height, grid)  # H, G
    wx = _interp_weights(width, grid)  # W, G
    field_y = (wy @ dy @ wx.T).astype(np.float32)  # H, W
    field_x = (wy @ dx @ wx.T).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(mask, xs + field_x, ys + field_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _interp_weights(length: int, grid: int) -> np.ndarray:
    pos = np.linspace(0, grid - 1, length)
    lo = np.clip(np.floor(pos).astype(int), 0, grid - 2)
    frac = pos - lo
    weights = np.zeros((length, grid))
    weights[np.arange(length), lo] = 1 - frac
    weights[np.arange(length), lo + 1] = frac
    return weights


def _odd(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(lo + 2 * rng.integers(0, (hi - lo) // 2 + 1))


def colour_transfer(
    foreground: np.ndarray, background: np.ndarray, mask: np.ndarray, quantize: Quantize | None = None
) -> np.ndarray:
    """Shift each channel of ``foreground`` so its mean inside ``mask`` equals the background's there.

    ``quantize=None``: float32 result clipped to [0, 255] (laanet's ``quantize="round"`` path keeps it unrounded);
    ``"truncate"``: cast to uint8 by truncation, as the official ``colorTransfer`` stores its result in a uint8
    image (which wraps out-of-range values around instead of clipping them; laanet clips).
    """
    inside = mask > 0
    fg = foreground.astype(np.float32)
    shift = background[inside].astype(np.float32).mean(axis=0) - fg[inside].mean(axis=0)  # 3
    out = np.clip(fg + shift, 0, 255)
    return out if quantize is None else to_uint8(out, quantize)


def feathered_blend(
    foreground: np.ndarray, background: np.ndarray, mask: np.ndarray, feather: float, quantize: Quantize = "round"
) -> tuple[np.ndarray, np.ndarray]:
    """Blend with ``α = clip(dist_to_edge / (feather · max(mask w, h)), 0, 1)`` → (fake uint8, α float32).

    The blend is cast to uint8 by ``quantize``: ``"truncate"`` as the official ``blendImages`` (it assigns into a
    uint8 image), ``"round"`` to the nearest level.
    """
    binary = (mask > 0).astype(np.uint8)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    ys, xs = np.nonzero(binary)
    size = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    alpha = np.clip(dist / max(feather * size, 1e-6), 0.0, 1.0).astype(np.float32)
    a = alpha[..., None]
    fake = a * foreground.astype(np.float32) + (1 - a) * background.astype(np.float32)
    return to_uint8(fake, quantize), alpha


def _align(foreground: np.ndarray, fg_lm: np.ndarray, bg_lm: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Warp ``foreground`` so its landmarks land on the background's (similarity, least squares)."""
    matrix, _ = cv2.estimateAffinePartial2D(fg_lm.astype(np.float32), bg_lm.astype(np.float32), method=cv2.LMEDS)
    if matrix is None:
        return resize(foreground, shape[1], shape[0])
    size = (shape[1], shape[0])
    return cv2.warpAffine(foreground, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------------------------------------------- synthesizer
class BISynthesizer:
    """Make (real, BI fake) pairs with targets from a real face and a :class:`PartnerIndex` of other faces.

    ``synth(image, landmarks, rng, identity=...)`` → :class:`~laanet.synthesis.sample.SynthesizedPair`;
    all randomness comes from ``rng``. Picklable (the index holds arrays and paths).
    """

    def __init__(self, index: PartnerIndex, config: BIConfig | None = None) -> None:
        self.index = index
        self.config = config or BIConfig()
        self._colour = build_background_colour() if self.config.train else None
        self._geometry = build_geometry(self.config.geometry) if self.config.train else None

    def _mask(
        self, landmarks: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator
    ) -> tuple[np.ndarray, dict]:
        cfg = self.config
        hull = cfg.hull_types[int(rng.integers(len(cfg.hull_types)))]
        mask = hull_mask(landmarks, shape, hull)
        scale = float(rng.uniform(*cfg.piecewise_scale))
        mask = piecewise_affine(mask, scale, cfg.piecewise_grid, rng)
        binary = (mask > 0.5).astype(np.uint8)
        erode = bool(rng.random() < cfg.erode_p)
        kernel = _odd(rng, *(cfg.erode_kernel if erode else cfg.dilate_kernel))
        op = cv2.erode if erode else cv2.dilate
        binary = op(binary, np.ones((kernel, kernel), np.uint8))
        return binary, {"hull": hull, "piecewise_scale": scale, "erode": erode, "morph_kernel": kernel}

    # ------------------------------------------------------------------ steps of one candidate fake
    def partners(self, landmarks: np.ndarray, identity: str | None) -> np.ndarray:
        """Pool indices a foreground is drawn from, uniformly: the ``k`` nearest faces of other identities, or the
        first ``partner_choices`` of them."""
        cfg = self.config
        nearest = self.index.neighbours(landmarks, identity=identity, k=cfg.k)
        return nearest if cfg.partner_choices is None else nearest[: cfg.partner_choices]

    def blend(
        self, background: np.ndarray, landmarks: np.ndarray, partners: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict] | str:
        """Steps 2-5 for one candidate: (real, fake, soft mask M, info) at crop size, or why it was rejected.

        The real is the background after the same resampling as the fake (to the blend size and back).
        """
        cfg = self.config
        height, width = background.shape[:2]
        partner = int(partners[int(rng.integers(len(partners)))])
        fg, fg_lm = self.index.load(partner)
        if cfg.align_partner:
            fg = _align(fg, fg_lm, landmarks, background.shape)
        else:
            fg = resize(fg, width, height)
        # Blend at a random resolution s (relative to the crop side).
        s = float(rng.uniform(*cfg.blend_size))
        bw, bh = max(16, int(round(s * width))), max(16, int(round(s * height)))
        bg_s, fg_s = resize(background, bw, bh), resize(fg, bw, bh)
        lm_s = landmarks * np.array([bw / width, bh / height], np.float32)
        mask, mask_info = self._mask(lm_s, bg_s.shape, rng)
        if not mask.any():
            return "empty mask"
        # Official: colour transfer and blend each truncated into uint8; "round": float transfer, rounded blend.
        fg_s = colour_transfer(fg_s, bg_s, mask, "truncate" if cfg.quantize == "truncate" else None)
        fake_s, alpha = feathered_blend(fg_s, bg_s, mask, cfg.feather, cfg.quantize)
        fake, m = resize(fake_s, width, height), resize(alpha, width, height)
        real = resize(bg_s, width, height)
        if not (fake != real).any():
            return "blend changed nothing"
        info = {
            "partner": partner,
            "partner_identity": self.index.identity_names[self.index.identities[partner]],
            "blend_size": (bh, bw),
            **mask_info,
        }
        return real, fake, m, info

    def downsample(self, images: list[np.ndarray], rng: np.random.Generator) -> tuple[list[np.ndarray], bool]:
        """Step 6: with p ``downsample_p`` every image down to one random 0.2-1× size (bilinear or nearest) and back."""
        cfg = self.config
        if not rng.random() < cfg.downsample_p:
            return images, False
        height, width = images[0].shape[:2]
        f = float(rng.uniform(*cfg.downsample_size))
        dw, dh = max(8, int(round(f * width))), max(8, int(round(f * height)))
        interp = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_NEAREST
        return [resize(resize(im, dw, dh, interp), width, height) for im in images], True

    def finish(
        self, real: np.ndarray, fake: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[FramedPair, dict]:
        """Step 7 (random margin, joint geometry, framing; :func:`finish_pair`) → (framed pair, info about it)."""
        cfg = self.config
        height, width = real.shape[:2]
        margin = draw_margin(rng, min(height, width), cfg.margin, cfg.margin_reference)
        framed = finish_pair(
            real,
            fake,
            mask,
            rng,
            margin=margin,
            input_size=cfg.input_size,
            geometry=self._geometry,
            colour=None,
            quantize=cfg.quantize,
            pixel_aligned=cfg.pixel_aligned_framing,
        )
        return framed, {"margin": margin}

    def to_sample(self, framed: FramedPair, info: dict) -> SynthesizedPair:
        """The targets of a framed pair (LAA-Net's vulnerable points and consistency, :func:`to_sample`)."""
        return to_sample(framed, info)

    def prepare(
        self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 1: (background, its landmarks): the real face after BI's colour augmentation (train only)."""
        if self._colour is not None:
            image = run_seeded(self._colour, rng, image=image)["image"]
        return image, landmarks

    # ------------------------------------------------------------------ entry points
    def __call__(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        rng: np.random.Generator,
        *,
        identity: str | None = None,
    ) -> SynthesizedPair:
        """One (real, fake) pair; ``identity`` (e.g. the video id) keeps the partner from the same person.

        Raises:
            SynthesisInputError: unusable image or landmarks.
            SynthesisError: no partner of another identity, or no valid fake after ``max_redraws`` re-draws.
        """
        cfg = self.config
        image = check_image(image)
        background, lm = self.prepare(image, check_landmarks(landmarks, image.shape)[:68], rng)
        partners = self.partners(lm, identity)
        reasons: list[str] = []
        for attempt in range(cfg.max_redraws + 1):
            blended = self.blend(background, lm, partners, rng)
            if isinstance(blended, str):
                reasons.append(blended)
                continue
            real, fake, m, blend_info = blended
            (real, fake), downsampled = self.downsample([real, fake], rng)
            framed, frame_info = self.finish(real, fake, m, rng)
            if framed.boundary.max() == 0:
                reasons.append("boundary lost in framing")
                continue
            if attempt:
                logger.debug("BI: %d re-draw(s) before a valid fake (%s)", attempt, ", ".join(reasons))
            info = {"method": "bi", "redraws": attempt, **blend_info, "downsample": downsampled, **frame_info}
            return self.to_sample(framed, info)
        raise SynthesisError(f"BI: no valid fake after {cfg.max_redraws + 1} attempts ({', '.join(reasons)})")

    def single(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        rng: np.random.Generator,
        *,
        fake: bool,
        identity: str | None = None,
    ) -> SynthesizedImage:
        """One training image as the official BI loaders give it: a pseudo-fake (``fake``) or the real face alone.

        The fake is the fake half of :meth:`__call__`. The real face gets the background colour augmentation, the
        down-sampling and the framing of a fake (steps 1, 6 and 7), but no resampling to a blend size, as in the
        official loaders, where a real item never goes through the blend.
        """
        if fake:
            return self(image, landmarks, rng, identity=identity).fake_half()
        image = check_image(image)
        background, _ = self.prepare(image, check_landmarks(landmarks, image.shape)[:68], rng)
        (real,), downsampled = self.downsample([background], rng)
        no_blend = np.zeros(real.shape[:2], np.float32)
        # the fake slot carries the real too: the same geometry and framing, discarded with the fake half
        framed, frame_info = self.finish(real, real, no_blend, rng)
        info = {"method": "bi", "redraws": 0, "downsample": downsampled, **frame_info}
        return self.to_sample(framed, info).real_half()
