"""What a synthesizer returns: a real/fake pair at network size with its targets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["SynthesisError", "SynthesizedImage", "SynthesizedPair", "Targets", "to_network_input"]


class SynthesisError(RuntimeError):
    """No valid pseudo-fake could be made from this face within the allowed number of re-draws."""


@dataclass
class Targets:
    """Dense targets of one image at heatmap size S (= input_size / 4).

    heatmap: 1×S×S float32, vulnerable-point Gaussians (peaks 1); zeros for a real image.
    consistency: 1×S×S float32, self-consistency target; zeros for a real image.
    label: 0 real, 1 fake.
    """

    heatmap: np.ndarray
    consistency: np.ndarray
    label: int

    @classmethod
    def real(cls, size: int) -> "Targets":
        zeros = np.zeros((1, size, size), dtype=np.float32)
        return cls(heatmap=zeros, consistency=zeros.copy(), label=0)


def to_network_input(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W float32 in [-1, 1], i.e. ``(x / 255 − 0.5) / 0.5`` as officially."""
    return (image.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


@dataclass
class SynthesizedPair:
    """One real face and its pseudo-fake, framed to the network input, with targets.

    real, fake: input_size×input_size×3 uint8 RGB; same geometry and colour augmentation.
    boundary: S×S uint8 boundary map T = warp(uint8(255·4M(1−M))) of the fake (the real's is all zero).
    mask: S×S float32 soft blend mask M of the fake, warped like ``boundary`` (previews, tests).
    real_targets, fake_targets: :class:`Targets` (labels 0 and 1).
    info: how the pair was drawn (method, hull type, blend ratio, margin, flips, ``redraws`` ...).
    """

    real: np.ndarray
    fake: np.ndarray
    boundary: np.ndarray
    mask: np.ndarray
    real_targets: Targets
    fake_targets: Targets
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def redraws(self) -> int:
        """How many candidate fakes were rejected (empty mask, no blend) before this one."""
        return int(self.info.get("redraws", 0))

    def to_arrays(self, to_input: Callable[[np.ndarray], np.ndarray] = to_network_input) -> dict[str, np.ndarray]:
        """Network-ready arrays, real first then fake (``default_collate`` turns them into tensors).

        ``to_input``: H×W×3 uint8 → 3×H×W float32, the model's normalisation (default LAA-Net's [-1, 1]).

        Returns:
            ``image`` 2×3×H×W float32; ``heatmap`` and ``consistency`` 2×1×S×S float32; ``label`` (2,) float32 =
            [0, 1]; ``redraws`` (2,) int64: rejected fake candidates per image (0 for the real).
        """
        return {
            "image": np.stack([to_input(self.real), to_input(self.fake)]),
            "heatmap": np.stack([self.real_targets.heatmap, self.fake_targets.heatmap]),
            "consistency": np.stack([self.real_targets.consistency, self.fake_targets.consistency]),
            "label": np.array([self.real_targets.label, self.fake_targets.label], dtype=np.float32),
            "redraws": np.array([0, self.redraws], dtype=np.int64),
        }

    def real_half(self) -> "SynthesizedImage":
        """The real face of the pair as a single training image (all-zero boundary, mask and targets)."""
        return SynthesizedImage(
            image=self.real,
            boundary=np.zeros_like(self.boundary),
            mask=np.zeros_like(self.mask),
            targets=self.real_targets,
            info={**self.info, "redraws": 0},
        )

    def fake_half(self) -> "SynthesizedImage":
        """The pseudo-fake of the pair as a single training image."""
        return SynthesizedImage(
            image=self.fake, boundary=self.boundary, mask=self.mask, targets=self.fake_targets, info=self.info
        )


@dataclass
class SynthesizedImage:
    """One training image framed to the network input, with its targets: the item of the official BI loaders
    (LAA-Net ``datasets/face_forensic_hm.py``, FakeFormer ``datasets/fakesformer_bi.py``), which give a real face
    or a pseudo-fake per item (p 0.5 each) instead of a (real, fake) pair.

    image: input_size×input_size×3 uint8 RGB.
    boundary: S×S uint8 boundary map (all zero for a real face); mask: S×S float32 soft blend mask.
    targets: :class:`Targets` (label 0 or 1).
    info: how the image was drawn (``redraws`` counts rejected fake candidates).
    """

    image: np.ndarray
    boundary: np.ndarray
    mask: np.ndarray
    targets: Targets
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> int:
        return int(self.targets.label)

    @property
    def redraws(self) -> int:
        return int(self.info.get("redraws", 0))

    def to_arrays(self, to_input: Callable[[np.ndarray], np.ndarray] = to_network_input) -> dict[str, np.ndarray]:
        """Network-ready arrays with a leading axis of 1 (as :meth:`SynthesizedPair.to_arrays` has 2).

        Returns:
            ``image`` 1×3×H×W float32 (``to_input``, default [-1, 1]); ``heatmap`` and ``consistency`` 1×1×S×S
            float32; ``label`` (1,) float32; ``redraws`` (1,) int64.
        """
        return {
            "image": to_input(self.image)[None],
            "heatmap": self.targets.heatmap[None],
            "consistency": self.targets.consistency[None],
            "label": np.array([self.targets.label], dtype=np.float32),
            "redraws": np.array([self.redraws], dtype=np.int64),
        }
