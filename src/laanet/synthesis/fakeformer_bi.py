"""FakeFormer's BI training images: LAA-Net's Blended Images, FakeFormer's framing and vulnerable-patch targets.

After the official ``datasets/fakesformer_bi.py`` of FakeFormer (arXiv 2410.21964; configs
``configs/spatial/swin_bi_small.yaml`` and ``vit_bi_small.yaml``). The blend is the BI of
:mod:`laanet.synthesis.bi` (hull, piecewise-affine jitter, erosion/dilation, colour transfer, feathered blend,
random blend resolution and down-sampling); what differs from LAA-Net's BI loader:

1. the face is treated as the official loader's **317-px** face: after BI's colour augmentation (the config's
   ColorJitter pipeline, the same values as LAA-Net's BI config, applied before blending) the crop and its
   landmarks are resized to ``reference_size`` (317), so the blend resolution (128-317 px) and the
   down-sampling (64-317 px) are the official pixel sizes. (The official code assumes 317-px faces but is fed
   256-px crops, so its hull is drawn with landmarks scaled by s/317 for an image scaled by s/256; laanet scales
   the landmarks with the image.)
2. the foreground is drawn among the **21** nearest of the 30 best partner faces
   (``FakeFormerBIConfig.partner_choices``; the official ``randint(0, len − 10)`` over its 30 best matches);
3. the 257×257 box is cut at a **random offset**: rows and columns ``[30 + s, 287 + s)`` with
   ``s ∈ {−30, …, 29}`` (LAA-Net's BI: fixed rows 60:317, columns 30:287). One ``s`` moves the box along the
   diagonal: the spec of the official code gives one offset for rows and columns, which is what is done here;
4. FakeFormer's joint geometry (a crop or a ±15 % scale with p 0.5, then a flip; no erasing,
   :func:`~laanet.synthesis.fakeformer_sbi.build_fakeformer_geometry`), the framing affine taken after it (as
   LAA-Net's BI loader), images to the input size (224 px for Swin), the boundary map point-sampled onto the G×G
   token grid and the version-0 encoder (:mod:`laanet.synthesis.patch_targets`), no consistency target;
5. the item is **one image**, real or fake with p 0.5 (:meth:`~laanet.synthesis.bi.BISynthesizer.single`), not a
   pair; a (real, fake) pair (:meth:`~laanet.synthesis.bi.BISynthesizer.__call__`) is the laanet option.

Normalisation (``/255`` then the model's mean/std, ImageNet for FakeFormer) is the data loader's job
(:func:`laanet.training.dataset.normalise`). Validation (``bi.train=False``) has no colour augmentation and no
geometry; the box offset is drawn either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex
from laanet.synthesis.fakeformer_sbi import build_fakeformer_geometry
from laanet.synthesis.patch_targets import patch_sample
from laanet.synthesis.pipeline import FramedPair, finish_pair, resize
from laanet.synthesis.sample import SynthesizedPair

__all__ = ["FakeFormerBIConfig", "FakeFormerBISynthesizer"]


@dataclass(frozen=True)
class FakeFormerBIConfig:
    """FakeFormer BI images. ``bi`` holds the blend options (LAA-Net BI's official values, at 317-px scale here);
    ``heatmap_size`` is the model's token grid (``model.heatmap_size``)."""

    bi: BIConfig = field(default_factory=lambda: BIConfig(input_size=224))
    heatmap_size: int = 14
    partner_choices: int = 21  # official: the first 21 of the 30 best matches (replaces ``bi.partner_choices``)
    target_overlap: bool = True  # official TARGET_OVERLAP (swin_bi_small, vit_bi_small)
    reference_size: int = 317  # the official loader's face size: the crop is resized to it before blending
    box_size: int = 257  # side of the box cut from the reference-size face
    box_start: int = 30  # the box's top-left row and column: box_start + s, s uniform in box_shift (inclusive)
    box_shift: tuple[int, int] = (-30, 29)

    def __post_init__(self) -> None:
        if self.heatmap_size < 2:
            raise ValueError(f"heatmap_size must be >= 2, got {self.heatmap_size}")
        lo, hi = self.box_start + self.box_shift[0], self.box_start + self.box_shift[1]
        if not (0 <= lo <= hi and hi + self.box_size <= self.reference_size):
            raise ValueError(f"box {self.box_size} px at {lo}..{hi} does not fit a {self.reference_size}-px face")


class FakeFormerBISynthesizer(BISynthesizer):
    """BI images or pairs with FakeFormer's framing and targets; the same calls as
    :class:`~laanet.synthesis.bi.BISynthesizer` (``synth(image, landmarks, rng, identity=...)`` for a pair,
    ``synth.single(..., fake=...)`` for one image), the same re-draw rule and randomness contract."""

    def __init__(self, index: PartnerIndex, config: FakeFormerBIConfig | None = None) -> None:
        self.fakeformer = config or FakeFormerBIConfig()
        super().__init__(index, replace(self.fakeformer.bi, partner_choices=self.fakeformer.partner_choices))
        self._geometry = build_fakeformer_geometry(self.config.geometry) if self.config.train else None

    def prepare(
        self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Colour augmentation at crop size, then face and landmarks resized to the 317-px reference."""
        background, landmarks = super().prepare(image, landmarks, rng)
        side = self.fakeformer.reference_size
        height, width = background.shape[:2]
        scale = np.array([side / width, side / height], np.float32)
        return resize(background, side, side), (np.asarray(landmarks, np.float32) * scale).astype(np.float32)

    def finish(
        self, real: np.ndarray, fake: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[FramedPair, dict]:
        """The randomly placed 257-px box, FakeFormer's geometry, framing after it, the exact token-grid sample."""
        ff, cfg = self.fakeformer, self.config
        shift = int(rng.integers(ff.box_shift[0], ff.box_shift[1] + 1))
        start = ff.box_start + shift
        box = (slice(start, start + ff.box_size), slice(start, start + ff.box_size))
        framed = finish_pair(
            real[box],
            fake[box],
            mask[box],
            rng,
            margin=0,
            input_size=cfg.input_size,
            geometry=self._geometry,
            colour=None,
            quantize=cfg.quantize,
            frame_before_geometry=False,
            pixel_aligned=cfg.pixel_aligned_framing,
            heatmap_size=ff.heatmap_size if ff.target_overlap else cfg.input_size,
            exact_boundary=True,
        )
        return framed, {"box_shift": shift}

    def to_sample(self, framed: FramedPair, info: dict) -> SynthesizedPair:
        """Version-0 vulnerable-patch targets (:func:`~laanet.synthesis.patch_targets.patch_sample`)."""
        ff = self.fakeformer
        return patch_sample(framed, info, heatmap_size=ff.heatmap_size, overlap=ff.target_overlap)
