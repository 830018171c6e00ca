"""Fit a :class:`~laanet.calibration.file.Calibration` from labelled file logits."""
from __future__ import annotations

import math

import numpy as np

from laanet.calibration.file import Calibration, DataSummary, WeightsRef
from laanet.calibration.points import fit_bands, fit_operating_points, point_name
from laanet.calibration.scalers import fit_scaler
from laanet.evaluation.metrics import brier_score, expected_calibration_error, roc_auc, sigmoid

__all__ = ["DEFAULT_FPRS", "fit_calibration"]

DEFAULT_FPRS: tuple[float, ...] = (0.01, 0.05)


def _quality(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    return {"ece": expected_calibration_error(labels, probs), "brier": brier_score(labels, probs)}


def fit_calibration(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    weights: WeightsRef,
    data: DataSummary,
    scoring: dict,
    method: str = "platt",
    fprs: tuple[float, ...] = DEFAULT_FPRS,
    n_boot: int = 1000,
    seed: int = 0,
    band_rate: float | None = None,
) -> Calibration:
    """Fit the map ``method`` and the operating points and bands (see :mod:`laanet.calibration.points`).

    Args:
        logits, labels: one file logit and one label (1 = fake) per calibration file.
        fprs: target false-positive rates, each in (0, 0.5]; one ``fprN`` point each.
        n_boot, seed: bootstrap resamples for the intervals, and their seed.
        band_rate: the error rate of the band edges (default: the smallest of ``fprs``).

    Raises:
        ValueError: one class only, non-finite logits, bad rates.
    """
    from laanet import __version__
    from laanet.inference.provenance import utc_now

    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    fprs = tuple(sorted({float(f) for f in fprs}))
    if not fprs or any(not 0.0 < f <= 0.5 for f in fprs):
        raise ValueError(f"target false-positive rates must lie in (0, 0.5], got {list(fprs)}")
    rate = min(fprs) if band_rate is None else float(band_rate)
    if not 0.0 < rate <= 0.5:
        raise ValueError(f"band rate must lie in (0, 0.5], got {rate}")
    scaler = fit_scaler(method, z, y)  # checks both classes and finiteness
    points = fit_operating_points(z, y, scaler, fprs=fprs, n_boot=n_boot, seed=seed)
    bands = fit_bands(z, y, rate)

    n_real, n_fake = int((y == 0).sum()), int(y.sum())
    warnings: list[str] = []
    for f in fprs:
        if math.floor(f * n_real + 1e-9) < 1:
            warnings.append(f"{point_name(f)}: with {n_real} real files not one may score above the threshold, so an "
                            f"FPR of {100 * f:g} % is not measured (it needs at least {math.ceil(1 / f)} real files; "
                            "a few times more for a narrow interval)")
    if method == "isotonic" and min(n_real, n_fake) < 100:
        warnings.append(f"isotonic calibration on {min(n_real, n_fake)} files of one class overfits; "
                        "prefer platt below a few hundred per class")
    auc = roc_auc(y, z)
    if auc <= 0.5:
        warnings.append(f"the model does not rank fakes above reals on this data (AUC {auc:.3f}): "
                        "its verdicts are not informative here")
    calibrated = scaler.probability(z)
    return Calibration(
        weights=weights,
        data=data,
        scaler=scaler,
        operating_points=points,
        bands=bands,
        default_operating_point="fpr5" if 0.05 in fprs else "eer",
        scoring=dict(scoring, level="file"),
        bootstrap={"resamples": int(n_boot), "seed": int(seed), "confidence": 0.95, "stratified": True,
                   "interval": "percentile"},
        fit_metrics={"auc": auc, "before": _quality(y, sigmoid(z)), "after": _quality(y, calibrated),
                     "note": "on the calibration data itself (optimistic); see docs/calibration.md"},
        warnings=tuple(warnings),
        laanet_version=__version__,
        created=utc_now(),
    )
