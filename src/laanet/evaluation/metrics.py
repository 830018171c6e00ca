"""Binary detection metrics, frame and video level, as the LAA-Net paper reports them.

The definitions follow the official ``lib/metrics.py`` and ``scripts/test.py``.

Scores are fake-probabilities ``sigmoid(logit)``; label 1 = fake. Per set:

- ``auc``: area under the ROC curve (scikit-learn ``roc_auc_score``; all scores below come from scikit-learn).
- ``ap``: average precision, the step-wise sum ``Σ (R_k − R_{k−1}) P_k`` (scikit-learn's definition).
- ``ar``: macro recall at threshold 0.5, i.e. (TPR + TNR) / 2 (the official ``recall_score(average='macro')``).
- ``mf1``: the paper's "mF1" = 2·AP·AR / (AP + AR), a harmonic mean of AP and AR (not an F1 score).
- ``f1``: the standard F1 of the fake class at 0.5, under its own name.
- ``eer``: equal error rate, FPR = FNR, linearly interpolated between the two ROC points around the crossing.
- ``acc``: accuracy at 0.5; ``n``, ``n_real``, ``n_fake``: counts.
- ``tpr_at_fpr1`` / ``tpr_at_fpr5``: the TPR at the lowest threshold whose empirical FPR (share of reals scoring
  at or above it) is at most 1 % / 5 % (a point of the ROC curve, not interpolated; :func:`threshold_at_fpr`).
- ``ece``: expected calibration error of P(fake) over 15 equal-width bins of [0, 1],
  ``Σ_b (n_b / N) · |mean label_b − mean P(fake)_b|`` (the binary, positive-class form: a reliability diagram of
  P(fake); not the "top-label confidence" form); ``brier``: mean squared error of P(fake) against the label.

Video level: the mean of the frame **logits** per video, then the sigmoid (the official test.py ranks by mean
logit). Videos are keyed by the index's unique ``video_id``, never by folder name (the official
code and DeepfakeBench merge same-named videos of different methods).
A set with one class only has ``auc``, ``ap``, ``eer``, ``mf1`` and the ``tpr_at_fpr*`` = ``None``.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

ECE_BINS = 15  # equal-width bins of [0, 1] for the ECE and the reliability diagram
TARGET_FPRS = (0.01, 0.05)  # the false-positive rates at which eval reports the TPR

__all__ = [
    "ECE_BINS",
    "TARGET_FPRS",
    "average_precision",
    "binary_metrics",
    "brier_score",
    "expected_calibration_error",
    "reliability_bins",
    "threshold_at_fpr",
    "tpr_at_fpr",
    "equal_error_rate",
    "frame_and_video_metrics",
    "roc_auc",
    "roc_curve",
    "sigmoid",
    "video_level",
]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _check(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if y.size == 0:
        raise ValueError("no samples to score")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {sorted(set(y.tolist()))}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    return y, s


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) from scikit-learn, all thresholds kept. Needs both classes."""
    from sklearn import metrics

    y, s = _check(labels, scores)
    if y.min() == y.max():
        raise ValueError("ROC needs both real and fake samples")
    return metrics.roc_curve(y, s, drop_intermediate=False)


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn ``roc_auc_score``)."""
    from sklearn import metrics

    y, s = _check(labels, scores)
    if y.min() == y.max():
        raise ValueError("ROC needs both real and fake samples")
    return float(metrics.roc_auc_score(y, s))


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Average precision, Σ (R_k − R_{k−1}) · P_k (scikit-learn ``average_precision_score``). Needs a fake sample."""
    from sklearn import metrics

    y, s = _check(labels, scores)
    if y.sum() == 0:
        raise ValueError("average precision needs at least one fake sample")
    return float(metrics.average_precision_score(y, s))


def equal_error_rate(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """The rate at which FPR = FNR, interpolated on the segment of the ROC curve where FNR − FPR changes sign."""
    fpr, tpr, _ = roc_curve(labels, scores)
    diff = (1.0 - tpr) - fpr  # 1 at the start, −1 at the end, non-increasing
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def threshold_at_fpr(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, fpr: float
) -> tuple[float, float, float]:
    """(threshold, its FPR, its TPR): the lowest threshold ``t`` whose empirical FPR, the share of reals with
    score ≥ ``t``, is at most ``fpr`` (so the highest TPR that keeps the FPR within the target).

    ``t`` is one of the scores (a point of scikit-learn's ROC curve, not interpolated); when even the
    highest-scoring sample is real and ``fpr`` allows no real at all, it is the next float above that score.
    Needs both classes.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr is a rate in [0, 1], got {fpr!r}")
    rates, tprs, thresholds = roc_curve(labels, scores)
    i = int(np.flatnonzero(rates <= fpr + 1e-12)[-1])
    t = float(thresholds[i])
    if not np.isfinite(t):  # scikit-learn's first point (nothing flagged) has threshold inf
        t = float(np.nextafter(np.max(np.asarray(scores, dtype=np.float64)), np.inf))
    return t, float(rates[i]), float(tprs[i])


def tpr_at_fpr(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, fpr: float) -> float:
    """The TPR of :func:`threshold_at_fpr`: the most fakes caught with at most ``fpr`` of the reals flagged."""
    return threshold_at_fpr(labels, scores, fpr)[2]


def reliability_bins(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = ECE_BINS
) -> dict[str, np.ndarray]:
    """Per equal-width bin of [0, 1] (the last one closed): ``count``, ``mean_prob`` (mean P(fake)) and
    ``frac_fake`` (share of fakes); empty bins have NaN means. Also ``edges`` (bins + 1)."""
    y, p = _check(labels, probs)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, weights=p, minlength=bins) / count
        frac_fake = np.bincount(which, weights=y.astype(np.float64), minlength=bins) / count
    return {"edges": edges, "count": count, "mean_prob": mean_prob, "frac_fake": frac_fake}


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = ECE_BINS
) -> float:
    """``Σ_b (n_b / N) · |share of fakes in b − mean P(fake) in b|`` over ``bins`` equal-width bins of [0, 1]."""
    r = reliability_bins(labels, probs, bins)
    full = r["count"] > 0
    gap = np.abs(r["frac_fake"][full] - r["mean_prob"][full])
    return float((r["count"][full] * gap).sum() / r["count"].sum())


def brier_score(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray) -> float:
    """Mean of (P(fake) − label)² (scikit-learn ``brier_score_loss``)."""
    from sklearn import metrics

    y, p = _check(labels, probs)
    return float(metrics.brier_score_loss(y, p, pos_label=1))


def binary_metrics(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, *, threshold: float = 0.5) -> dict[str, float | int | None]:
    """All metrics of the module docstring for fake-probabilities ``probs`` (scikit-learn underneath)."""
    from sklearn import metrics

    y, p = _check(labels, probs)
    pred = (p >= threshold).astype(np.int64)
    n_fake, n_real = int(y.sum()), int((1 - y).sum())
    present = [c for c in (0, 1) if (y == c).any()]
    ar = float(metrics.recall_score(y, pred, labels=present, average="macro", zero_division=0))
    out: dict[str, float | int | None] = {
        "auc": None,
        "ap": None,
        "ar": ar,
        "mf1": None,
        "f1": float(metrics.f1_score(y, pred, pos_label=1, zero_division=0)),
        "eer": None,
        "acc": float(metrics.accuracy_score(y, pred)),
        **{f"tpr_at_fpr{100 * f:g}": None for f in TARGET_FPRS},
        "ece": expected_calibration_error(y, p),
        "brier": brier_score(y, p),
        "n": int(y.size),
        "n_real": n_real,
        "n_fake": n_fake,
    }
    if n_fake and n_real:
        out["auc"] = roc_auc(y, p)
        out["ap"] = average_precision(y, p)
        out["eer"] = equal_error_rate(y, p)
        ap = out["ap"]
        out["mf1"] = 2 * ap * ar / (ap + ar) if ap + ar > 0 else 0.0
        for f in TARGET_FPRS:
            out[f"tpr_at_fpr{100 * f:g}"] = tpr_at_fpr(y, p, f)
    else:
        logger.warning("only one class (%d real, %d fake): AUC, AP, EER and mF1 are undefined", n_real, n_fake)
    return out


def video_level(
    video_ids: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    logits: Sequence[float] | np.ndarray,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids in first-seen order, video labels, mean frame logit per video).

    Raises ``ValueError`` if the frames of one video disagree on the label (ids are expected to be unique across
    real and fake sources).
    """
    y = np.asarray(labels).astype(np.int64).ravel()
    z = np.asarray(logits, dtype=np.float64).ravel()
    if not (len(video_ids) == y.size == z.size):
        raise ValueError(f"video_ids, labels and logits differ in length: {len(video_ids)}, {y.size}, {z.size}")
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for i, vid in enumerate(video_ids):
        groups.setdefault(vid, []).append(i)
    ids, vlabels, vlogits = [], [], []
    for vid, rows in groups.items():
        lab = np.unique(y[rows])
        if lab.size != 1:
            raise ValueError(f"video {vid!r} has frames labelled both real and fake; video ids must be unique per label")
        ids.append(vid)
        vlabels.append(int(lab[0]))
        vlogits.append(float(z[rows].mean()))
    return ids, np.asarray(vlabels, dtype=np.int64), np.asarray(vlogits, dtype=np.float64)


def frame_and_video_metrics(
    video_ids: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    logits: Sequence[float] | np.ndarray,
) -> dict[str, dict[str, float | int | None]]:
    """``{"frame": binary_metrics(...), "video": binary_metrics(...)}`` from per-frame logits."""
    z = np.asarray(logits, dtype=np.float64)
    frame = binary_metrics(labels, sigmoid(z))
    _, vlabels, vlogits = video_level(video_ids, labels, z)
    return {"frame": frame, "video": binary_metrics(vlabels, sigmoid(vlogits))}
