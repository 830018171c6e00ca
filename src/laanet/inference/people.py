"""People: the faces of one person across a file's frames, scored as the paper scores a video.

A person is a track of faces (:mod:`laanet.inference.tracking` links them in a video; in an image each face is
its own person). Their score is the paper's video rule over their own frames: ``sigmoid(mean of the face
logits)``. The file's verdict is its most suspicious person's (the highest mean logit; ``FileResult.person``
says which). The representative face of a person is their most suspicious one (highest logit): its frame,
box, overlay, heatmap and a picture of the crop with its heatmap (``crop``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from laanet.inference.results import FaceResult, FrameResult

__all__ = ["PersonResult", "people_of", "person_crop_name"]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def person_crop_name(stem: str, person: int) -> str:
    return f"{stem}_person{person}.png"


@dataclass
class PersonResult:
    """One person of a file: their faces in frame order (one per frame at most) and their score.

    Attributes:
        id: 1, 2, ... (first appearance, then left to right).
        appearances: (frame, face position in that frame, face), in frame order.
        threshold: P(fake) at or above which the person is labelled ``fake``.
        crop: the representative face's crop with its heatmap (S×S×3 uint8 RGB), if rendered.
        crop_path: the PNG holding ``crop``, once written.
    """

    id: int
    appearances: list[tuple[FrameResult, int, FaceResult]] = field(repr=False)
    threshold: float = 0.5
    crop: np.ndarray | None = field(default=None, repr=False)
    crop_path: str | None = None

    @property
    def faces(self) -> list[FaceResult]:
        return [face for _, _, face in self.appearances]

    @property
    def logit(self) -> float:
        """Mean of the person's face logits (the paper's video rule, over this person's frames)."""
        return float(np.mean([face.logit for face in self.faces]))

    @property
    def score(self) -> float | None:
        logit = self.logit
        return _sigmoid(logit) if math.isfinite(logit) else None

    @property
    def label(self) -> str | None:
        score = self.score
        return None if score is None else ("fake" if score >= self.threshold else "real")

    @property
    def representative(self) -> tuple[FrameResult, int, FaceResult]:
        """The person's most suspicious face (highest logit; the first one on ties)."""
        return max(self.appearances, key=lambda a: a[2].logit)

    def to_dict(self) -> dict[str, Any]:
        frame, k, face = self.representative
        return {
            "id": self.id,
            "score": _round(self.score),
            "logit": _round(self.logit),
            "label": self.label,
            "frames": [fr.index for fr, _, _ in self.appearances],
            "timeline": [
                {"frame": fr.index, "time_s": _round(fr.time_s, 3), "score": _round(f.score)} for fr, _, f in self.appearances
            ],
            "representative": {
                "frame": frame.index,
                "face": k,
                "box": [round(float(v), 1) for v in face.box],
                "overlay": frame.overlay_path,
                "heatmap": face.heatmap_path,
                "crop": self.crop_path,
            },
        }


def people_of(frames: list[FrameResult], threshold: float) -> list[PersonResult]:
    """The people of a file from its faces' ``person`` ids (a face without one is a person of its own)."""
    groups: dict[int, list[tuple[FrameResult, int, FaceResult]]] = {}
    loose: list[tuple[FrameResult, int, FaceResult]] = []
    for frame in frames:
        for k, face in enumerate(frame.faces):
            (groups.setdefault(face.person, []) if face.person is not None else loose).append((frame, k, face))
    people = [PersonResult(pid, apps, threshold) for pid, apps in sorted(groups.items())]
    next_id = max(groups, default=0) + 1
    for i, appearance in enumerate(loose):
        appearance[2].person = next_id + i
        people.append(PersonResult(next_id + i, [appearance], threshold))
    return people


def most_suspicious(people: list[PersonResult]) -> PersonResult | None:
    """The person with the highest mean logit (the lowest id on ties), or None without people."""
    return max(people, key=lambda p: (p.logit, -p.id), default=None)


def person_picture(
    canvas: np.ndarray, scale: float, crop_matrix: np.ndarray, crop_size: int, margin: int, face: FaceResult, threshold: float,
    preprocess=None,
) -> np.ndarray:
    """The representative face of a person as a picture: its crop (cut from the overlay canvas) with its heatmap
    painted on, framed by the part the network sees and labelled with its P(fake). crop_size×crop_size×3 uint8.

    Args:
        canvas: the frame as the overlay draws it (:func:`laanet.inference.render.overlay_canvas`).
        scale: canvas pixels per original-frame pixel.
        crop_matrix: 2×3 affine, original-frame pixel → crop pixel.
        crop_size: side of the crop.
        margin: crop pixels cut from each side before the network input.
        face: the scored face.
        threshold: P(fake) at or above which the frame is drawn as fake.
        preprocess: the model's :class:`~laanet.models.family.Preprocess` (how its heatmap maps onto the crop);
            None: LAA-Net's.
    """
    import cv2

    from laanet.faces.crop import compose_affine
    from laanet.inference.render import OverlayFace, render_overlay

    canvas_to_original = np.array([[1 / scale, 0, 0.5 / scale - 0.5], [0, 1 / scale, 0.5 / scale - 0.5]])
    matrix = compose_affine(np.asarray(crop_matrix, np.float64), canvas_to_original)  # canvas → crop
    crop = cv2.warpAffine(canvas, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderValue=0)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    inner = [margin, margin, crop_size - 1 - margin, crop_size - 1 - margin]
    overlay_face = OverlayFace(inner, face.score or 0.0, face.heatmap, identity, crop_size, preprocess)
    return render_overlay(crop, [overlay_face], threshold, legend=False)
