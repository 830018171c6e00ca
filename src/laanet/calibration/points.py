"""Operating points and score bands, fitted on labelled file logits (label 1 = fake).

An **operating point** is a decision threshold on the file's logit (a file is labelled fake when its logit is at
or above it; equivalently its uncalibrated score sigmoid(logit) at or above ``score``) with what it did on the
calibration data:

- ``fprN`` (``--fpr 0.0N``): the lowest threshold whose empirical false-positive rate (share of the real files
  scoring at or above it) is at most N % (:func:`laanet.evaluation.metrics.threshold_at_fpr`), so the most fakes
  caught within that budget; with its TPR;
- ``eer``: the threshold where the false-positive and false-negative rates are closest (the equal-error point),
  with the equal error rate interpolated on the ROC curve (:func:`laanet.evaluation.metrics.equal_error_rate`).

Each carries 95 % percentile bootstrap intervals: real and fake files are resampled with replacement, each class
on its own (stratified), ``n`` times with a seeded generator, and for every resample one computes the FPR and TPR
*of this threshold* (how much they would move on another sample of the same kind of data), the threshold
itself fitted anew (``threshold_ci``, on the uncalibrated score) and, for ``eer``, the equal error rate.

**Bands** split the score line in three with two edges set by one error rate ``r`` (by default the smallest
target FPR, 1 %):

- ``likely fake``: logit ≥ ``fake_from``, the ``fprR`` threshold: at most ``r`` of the real files land there;
- ``likely real``: logit < ``real_below``, the highest threshold below which at most ``r`` of the fake files
  fall (the mirror point, FNR ≤ r);
- ``uncertain``: in between.

When the classes are so well separated that ``real_below`` would exceed ``fake_from``, both edges are set to the
``eer`` threshold (no uncertain band), so the bands are always ordered.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from laanet.evaluation.metrics import equal_error_rate, roc_curve, sigmoid, threshold_at_fpr

__all__ = ["BANDS", "Bands", "Interval", "OperatingPoint", "fit_bands", "fit_operating_points", "point_name"]

BANDS: tuple[str, ...] = ("likely real", "uncertain", "likely fake")  # in increasing score order
CONFIDENCE = 0.95


def point_name(fpr: float) -> str:
    """``fpr1`` for 0.01, ``fpr5`` for 0.05, ``fpr0.5`` for 0.005."""
    return f"fpr{100 * fpr:g}"


def _score(logit: float) -> float:
    return float(sigmoid(np.array([logit]))[0])


@dataclass(frozen=True)
class Interval:
    """A two-sided 95 % percentile bootstrap interval."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_list(self) -> list[float]:
        return [self.low, self.high]

    @classmethod
    def of(cls, values: np.ndarray) -> Interval:
        a = (1 - CONFIDENCE) / 2
        low, high = np.percentile(np.asarray(values, dtype=np.float64), [100 * a, 100 * (1 - a)])
        return cls(float(low), float(high))


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and how it did on the calibration data (module docstring)."""

    name: str  # "fpr1", "fpr5", "eer"
    target_fpr: float | None  # None for "eer"
    logit: float  # label fake when the file logit >= this
    score: float  # the same threshold on the uncalibrated score sigmoid(logit)
    probability: float  # the calibrated P(fake) at the threshold
    fpr: float  # on the calibration data
    tpr: float
    fpr_ci: Interval
    tpr_ci: Interval
    threshold_ci: Interval  # of ``score``, refitted on each resample
    eer: float | None = None  # "eer" only: the equal error rate, interpolated
    eer_ci: Interval | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("fpr_ci", "tpr_ci", "threshold_ci", "eer_ci"):
            value = getattr(self, key)
            out[key] = None if value is None else value.to_list()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperatingPoint:
        values = dict(data)
        for key in ("fpr_ci", "tpr_ci", "threshold_ci", "eer_ci"):
            if values.get(key) is not None:
                values[key] = Interval(*map(float, values[key]))
        return cls(**values)


@dataclass(frozen=True)
class Bands:
    """Edges of the three score bands, on the file logit (module docstring)."""

    rate: float  # the error rate r that set the edges
    real_below: float  # logit < this: "likely real"
    fake_from: float  # logit >= this: "likely fake"
    collapsed: bool = False  # True: the r-edges crossed and both are the eer threshold

    def __post_init__(self) -> None:
        if not self.real_below <= self.fake_from:
            raise ValueError(f"bands out of order: likely real below {self.real_below} > likely fake from {self.fake_from}")

    def band(self, logit: float | None) -> str | None:
        if logit is None or not math.isfinite(logit):
            return None
        if logit >= self.fake_from:
            return "likely fake"
        return "likely real" if logit < self.real_below else "uncertain"

    def to_dict(self, scaler=None) -> dict[str, Any]:
        out: dict[str, Any] = {**asdict(self), "real_below_score": _score(self.real_below), "fake_from_score": _score(self.fake_from)}
        if scaler is not None:
            probs = scaler.probability(np.array([self.real_below, self.fake_from]))
            out["real_below_probability"], out["fake_from_probability"] = float(probs[0]), float(probs[1])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bands:
        return cls(rate=float(data["rate"]), real_below=float(data["real_below"]), fake_from=float(data["fake_from"]),
                   collapsed=bool(data.get("collapsed", False)))


def _split(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    return z[y == 0], z[y == 1]


def _eer_threshold(labels: np.ndarray, logits: np.ndarray) -> tuple[float, float, float]:
    """(threshold, FPR, TPR) of the ROC point where FNR and FPR are closest (the first such, highest threshold)."""
    fpr, tpr, thresholds = roc_curve(labels, logits)
    i = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    t = float(thresholds[i])
    if not math.isfinite(t):
        t = float(np.nextafter(np.max(logits), np.inf))
    return t, float(fpr[i]), float(tpr[i])


def _fnr_threshold(fake_logits: np.ndarray, rate: float) -> float:
    """The highest threshold below which at most ``rate`` of the fakes fall (FNR ≤ rate)."""
    f = np.sort(fake_logits)
    k = int(math.floor(rate * f.size + 1e-9))
    return float(f[min(k, f.size - 1)]) if k < f.size else float(np.nextafter(f[-1], np.inf))


def fit_operating_points(
    logits: np.ndarray,
    labels: np.ndarray,
    scaler,
    *,
    fprs: tuple[float, ...] = (0.01, 0.05),
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[OperatingPoint, ...]:
    """The ``fprN`` points (in the order of ``fprs``) then ``eer``, with bootstrap intervals (module docstring)."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    real, fake = _split(z, y)
    if real.size == 0 or fake.size == 0:
        raise ValueError("operating points need real and fake files")
    if n_boot < 10:
        raise ValueError(f"bootstrap resamples must be at least 10, got {n_boot}")
    thresholds = [threshold_at_fpr(y, z, f) for f in fprs]
    eer_t, eer_fpr, eer_tpr = _eer_threshold(y, z)
    eer = equal_error_rate(y, z)

    rng = np.random.default_rng(seed)
    boot_fpr = np.empty((len(fprs) + 1, n_boot))
    boot_tpr = np.empty_like(boot_fpr)
    boot_thr = np.empty_like(boot_fpr)
    boot_eer = np.empty(n_boot)
    fixed = np.array([t for t, _, _ in thresholds] + [eer_t])
    yb = np.concatenate([np.zeros(real.size, np.int64), np.ones(fake.size, np.int64)])
    for b in range(n_boot):
        rb = real[rng.integers(0, real.size, real.size)]
        fb = fake[rng.integers(0, fake.size, fake.size)]
        boot_fpr[:, b] = (rb[None, :] >= fixed[:, None]).mean(axis=1)
        boot_tpr[:, b] = (fb[None, :] >= fixed[:, None]).mean(axis=1)
        zb = np.concatenate([rb, fb])
        for k, f in enumerate(fprs):
            boot_thr[k, b] = threshold_at_fpr(yb, zb, f)[0]
        boot_thr[-1, b] = _eer_threshold(yb, zb)[0]
        boot_eer[b] = equal_error_rate(yb, zb)

    def point(k: int, name: str, target: float | None, t: float, fpr: float, tpr: float, **extra: Any) -> OperatingPoint:
        return OperatingPoint(
            name=name, target_fpr=target, logit=t, score=_score(t), probability=float(scaler.probability(np.array([t]))[0]),
            fpr=fpr, tpr=tpr, fpr_ci=Interval.of(boot_fpr[k]), tpr_ci=Interval.of(boot_tpr[k]),
            threshold_ci=Interval.of(sigmoid(boot_thr[k])), **extra,
        )

    points = [point(k, point_name(f), float(f), *thresholds[k]) for k, f in enumerate(fprs)]
    points.append(point(len(fprs), "eer", None, eer_t, eer_fpr, eer_tpr, eer=eer, eer_ci=Interval.of(boot_eer)))
    return tuple(points)


def fit_bands(logits: np.ndarray, labels: np.ndarray, rate: float) -> Bands:
    """The band edges for error rate ``rate`` (module docstring)."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    _, fake = _split(z, y)
    fake_from = threshold_at_fpr(y, z, rate)[0]
    real_below = _fnr_threshold(fake, rate)
    if real_below > fake_from:
        t = _eer_threshold(y, z)[0]
        return Bands(rate=float(rate), real_below=t, fake_from=t, collapsed=True)
    return Bands(rate=float(rate), real_below=real_below, fake_from=fake_from)
