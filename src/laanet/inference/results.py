"""Result records of ``laanet detect`` / :class:`laanet.Detector`, and how scores aggregate.

Aggregation (the paper's test protocol, spec §5, with probabilities instead of raw logits):

- a face's score is ``sigmoid(logit)`` (with flip test: the mean of the logits of the crop and its mirror);
- a frame's score is the max over its faces (its logit is the max face logit);
- a video's score is ``sigmoid(mean of its frame logits)``; frames without a face do not count;
- a file with no face in any frame is ``no_face``; a file that cannot be read is ``error``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass
class FaceResult:
    box: list[float]  # x1, y1, x2, y2 in original-frame pixels
    logit: float
    detector_score: float
    heatmap: np.ndarray | None = field(default=None, repr=False)  # h×w probabilities over the network input
    heatmap_path: str | None = None

    @property
    def score(self) -> float:
        return sigmoid(self.logit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 6),
            "logit": round(self.logit, 6),
            "detector_score": round(self.detector_score, 4),
            "heatmap": self.heatmap_path,
        }


@dataclass
class FrameResult:
    index: int
    time_s: float | None
    faces: list[FaceResult] = field(default_factory=list)
    overlay: np.ndarray | None = field(default=None, repr=False)  # H×W×3 uint8 heatmap overlay, if rendered

    @property
    def logit(self) -> float | None:
        return max((f.logit for f in self.faces), default=None)

    @property
    def score(self) -> float | None:
        return None if self.logit is None else sigmoid(self.logit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time_s": None if self.time_s is None else round(self.time_s, 3),
            "score": None if self.score is None else round(self.score, 6),
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass
class FileResult:
    path: str
    kind: str  # "image" | "video"
    status: str = "ok"  # "ok" | "no_face" | "error"
    error: str | None = None
    frames: list[FrameResult] = field(default_factory=list)
    threshold: float = 0.5
    timeline_path: str | None = None

    @property
    def logit(self) -> float | None:
        logits = [fr.logit for fr in self.frames if fr.logit is not None]
        return float(np.mean(logits)) if logits else None

    @property
    def score(self) -> float | None:
        return None if self.logit is None else sigmoid(self.logit)

    @property
    def label(self) -> str | None:
        return None if self.score is None else ("fake" if self.score >= self.threshold else "real")

    def finalize(self) -> FileResult:
        if self.status == "ok" and self.logit is None:
            self.status = "no_face"
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "score": None if self.score is None else round(self.score, 6),
            "label": self.label,
            "frames": [fr.to_dict() for fr in self.frames],
            **({"timeline": self.timeline_path} if self.timeline_path else {}),
        }
