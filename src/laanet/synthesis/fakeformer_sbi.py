"""FakeFormer's SBI training pairs: LAA-Net's self-blend, FakeFormer's per-item order and vulnerable-patch targets.

After the official ``datasets/fakesformer_sbi.py`` (``FakeSFormerSBI``) of FakeFormer (arXiv 2410.21964). The
blend itself is the SBI of :mod:`laanet.synthesis.sbi` (the two code bases share it); what differs, per item of
the train split:

1. landmark flip (p 0.5), random margin 5-24 px, self-blend, boundary map ``uint8(255·4M(1−M))`` computed in
   float32 (the mask's dtype);
2. the framing affine is taken from the cropped image **before** the geometry (a random crop then acts as a
   shift with black right/bottom borders), as in LAA-Net's SBI loader;
3. geometry, joint for real, fake and both maps, in FakeFormer's order: with p 0.5 **one of** a random crop to
   ``(1 − u)H × (1 − v)W`` (u, v ∈ {0, .01, …, .14}) or a random scale ±15 % (maps resized nearest, as
   albumentations 1.x did for masks), **then** a horizontal flip (p 0.5); no random erasing (its p is 0);
4. images warped to the input size (112 px for ViT-S/8) and the boundary map onto the G×G token grid (14×14) with
   the corner-to-corner affine (:func:`~laanet.synthesis.patch_targets.patch_map`);
5. version-0 vulnerable-patch targets (:func:`~laanet.synthesis.patch_targets.encode_patch_heatmap`); no
   consistency target (zeros, never used: FakeFormer has no consistency head);
6. SBI's shared colour/JPEG augmentation of the pair (the config's own colour block is not used on this path).

Normalisation (``/255`` then the model's mean/std, ImageNet for FakeFormer) is the data loader's job
(:func:`laanet.training.dataset.normalise`). The validation split uses steps 1-2 and 4-6 without flip and geometry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import albumentations as A
import numpy as np

from laanet.synthesis.augment import _PAIR_TARGETS, GeometryConfig, crop_or_scale
from laanet.synthesis.patch_targets import patch_sample
from laanet.synthesis.pipeline import FramedPair
from laanet.synthesis.sample import SynthesizedPair
from laanet.synthesis.sbi import SBIConfig, SBIDraw, SBISynthesizer

__all__ = ["FakeFormerSBIConfig", "FakeFormerSBISynthesizer", "build_fakeformer_geometry"]


@dataclass(frozen=True)
class FakeFormerSBIConfig:
    """FakeFormer SBI pairs. ``sbi`` holds the blend, margin, colour and framing options (SBI's official values);
    ``heatmap_size`` is the model's token grid (``model.heatmap_size``), never derived from the input size."""

    sbi: SBIConfig = field(default_factory=lambda: SBIConfig(input_size=112))
    heatmap_size: int = 14
    # True: official TARGET_OVERLAP (point sample on the token grid); False: the official non-overlap path (bug).
    target_overlap: bool = True

    def __post_init__(self) -> None:
        if self.heatmap_size < 2:
            raise ValueError(f"heatmap_size must be >= 2, got {self.heatmap_size}")
        if not self.target_overlap and self.sbi.input_size // self.heatmap_size < 1:
            raise ValueError(f"the non-overlap targets need input_size ≥ heatmap_size, got {self.sbi.input_size}")


def build_fakeformer_geometry(cfg: GeometryConfig | None = None) -> A.Compose:
    """FakeFormer's joint geometry (official ``datasets/pipelines/geo_transform.py`` with the ViT config):
    OneOf(crop, scale) with p ``one_of_p``, then HorizontalFlip(p ``hflip_p``); no erasing."""
    cfg = cfg or GeometryConfig()
    return A.Compose(
        [
            A.OneOf(crop_or_scale(cfg), p=cfg.one_of_p),
            A.HorizontalFlip(p=cfg.hflip_p),
        ],
        additional_targets=_PAIR_TARGETS,
    )


class FakeFormerSBISynthesizer(SBISynthesizer):
    """(real, SBI fake) pairs with FakeFormer's order and targets; ``synth(image, landmarks, rng)`` as
    :class:`~laanet.synthesis.sbi.SBISynthesizer` (same blend, same re-draw rule, same randomness contract)."""

    def __init__(self, config: FakeFormerSBIConfig | None = None) -> None:
        self.fakeformer = config or FakeFormerSBIConfig()
        super().__init__(self.fakeformer.sbi)
        self._geometry = build_fakeformer_geometry(self.config.geometry) if self.config.train else None

    def finish(
        self, real: np.ndarray, fake: np.ndarray, mask: np.ndarray, draw: SBIDraw, rng: np.random.Generator
    ) -> FramedPair:
        ff = self.fakeformer
        return super().finish(
            real, fake, mask, draw, rng,
            # the non-overlap path samples the map at input size and averages blocks of heatmap_size pixels
            heatmap_size=ff.heatmap_size if ff.target_overlap else self.config.input_size,
            boundary_dtype=np.float32,
            exact_boundary=True,
        )

    def to_sample(self, framed: FramedPair, info: dict) -> SynthesizedPair:
        """Version-0 vulnerable-patch targets (:func:`~laanet.synthesis.patch_targets.patch_sample`)."""
        ff = self.fakeformer
        return patch_sample(framed, info, heatmap_size=ff.heatmap_size, overlap=ff.target_overlap)
