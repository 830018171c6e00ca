"""Held-out scores → AUCs: each kind of fake against the held-out reals (scikit-learn ``roc_auc_score``)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["KindScore", "score_kinds"]


@dataclass
class KindScore:
    """How well one kind of fake separates from the held-out reals."""

    kind: str  # "sbi", "swap" or "all" (every fake)
    n_real: int
    n_fake: int
    auc: float  # NaN when a class is empty
    mean_real: float  # mean P(fake) of the reals
    mean_fake: float  # mean P(fake) of the fakes
    accuracy: float  # balanced accuracy at ``threshold``
    threshold: float
    no_face: int  # images of either class where no face was found (left out)

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def score_kinds(rows: list[dict], threshold: float = 0.5) -> list[KindScore]:
    """One :class:`KindScore` per fake kind present in ``rows`` (in order of appearance), then ``all``.

    Args:
        rows: dicts with ``kind`` ("real" or a fake kind) and ``score`` (P(fake), or None when no face).
        threshold: probability at or above which an image counts as fake (for ``accuracy``).
    """
    from sklearn.metrics import roc_auc_score

    reals = [r for r in rows if r["kind"] == "real"]
    real_scores = np.array([r["score"] for r in reals if r["score"] is not None], dtype=np.float64)
    real_missing = sum(r["score"] is None for r in reals)
    kinds = list(dict.fromkeys(r["kind"] for r in rows if r["kind"] != "real"))
    out = []
    for kind in kinds + (["all"] if len(kinds) > 1 else []):
        fakes = [r for r in rows if r["kind"] != "real" and (kind == "all" or r["kind"] == kind)]
        fake_scores = np.array([r["score"] for r in fakes if r["score"] is not None], dtype=np.float64)
        missing = real_missing + sum(r["score"] is None for r in fakes)
        if len(real_scores) and len(fake_scores):
            labels = np.r_[np.zeros(len(real_scores)), np.ones(len(fake_scores))]
            auc = float(roc_auc_score(labels, np.r_[real_scores, fake_scores]))
            accuracy = 0.5 * (float(np.mean(real_scores < threshold)) + float(np.mean(fake_scores >= threshold)))
        else:
            auc = accuracy = float("nan")
        out.append(
            KindScore(
                kind=kind,
                n_real=len(real_scores),
                n_fake=len(fake_scores),
                auc=auc,
                mean_real=float(real_scores.mean()) if len(real_scores) else float("nan"),
                mean_fake=float(fake_scores.mean()) if len(fake_scores) else float("nan"),
                accuracy=accuracy,
                threshold=threshold,
                no_face=missing,
            )
        )
    return out
