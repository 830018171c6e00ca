"""Maps from a file's logit to a calibrated P(fake): temperature scaling, Platt scaling, isotonic regression.

Each map is a frozen dataclass with ``fit(logits, labels)`` (a classmethod), ``probability(logits)`` and
``parameters()`` (JSON-ready); :data:`SCALERS` lists them by name. All three act on the *logit* of the score
(the video's mean frame logit, an image's highest face logit), the quantity laanet averages and thresholds.

- ``temperature``: ``P = sigmoid(z / T)``, one parameter fitted by minimising the log loss (Guo et al., "On
  Calibration of Modern Neural Networks", ICML 2017). It rescales confidence but cannot move the 0.5 point.
- ``platt``: ``P = sigmoid(a · z + b)``, a one-feature logistic regression on the logit (scikit-learn
  ``LogisticRegression``, unpenalised) with Platt's targets (Platt, "Probabilistic Outputs for Support Vector
  Machines", 1999): a fake counts as ``(N₊ + 1) / (N₊ + 2)`` fake and a real as ``1 / (N₋ + 2)`` fake, given
  to the regression as sample weights on a fake and a real copy of each file. The targets keep ``a`` finite
  when the calibration data are separable or tiny, and vanish as the data grow. The default: unlike the
  temperature it also corrects a shift of the score on data unlike the training data.
- ``isotonic``: a non-decreasing step-linear map fitted by scikit-learn ``IsotonicRegression`` on the logit,
  applied by linear interpolation between its knots and clipped outside them (as scikit-learn predicts). It
  needs more data (hundreds per class) and gives flat stretches with equal probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from laanet.evaluation.metrics import sigmoid

__all__ = ["SCALERS", "IsotonicScaling", "PlattScaling", "Scaler", "TemperatureScaling", "fit_scaler", "scaler_from_dict"]


class Scaler(Protocol):
    method: ClassVar[str]

    def probability(self, logits: np.ndarray) -> np.ndarray: ...

    def parameters(self) -> dict[str, Any]: ...


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    if z.shape != y.shape or z.size == 0:
        raise ValueError(f"logits and labels must be non-empty and of one length, got {z.size} and {y.size}")
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or infinity")
    if not np.isin(y, (0, 1)).all() or y.min() == y.max():
        raise ValueError("calibration needs labels 0 (real) and 1 (fake), both present")
    return z, y


@dataclass(frozen=True)
class TemperatureScaling:
    """``P(fake) = sigmoid(logit / temperature)``."""

    temperature: float
    method: ClassVar[str] = "temperature"

    @classmethod
    def fit(cls, logits: np.ndarray, labels: np.ndarray) -> TemperatureScaling:
        from scipy.optimize import minimize_scalar

        z, y = _check(logits, labels)

        def log_loss(log_t: float) -> float:  # mean binary cross-entropy of sigmoid(z / T), stable
            u = z / np.exp(log_t)
            return float(np.mean(np.logaddexp(0.0, u) - y * u))

        res = minimize_scalar(log_loss, bounds=(-7.0, 7.0), method="bounded", options={"xatol": 1e-8})
        return cls(temperature=float(np.exp(res.x)))

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(logits, dtype=np.float64) / self.temperature)

    def parameters(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


@dataclass(frozen=True)
class PlattScaling:
    """``P(fake) = sigmoid(slope · logit + intercept)``."""

    slope: float
    intercept: float
    method: ClassVar[str] = "platt"

    @classmethod
    def fit(cls, logits: np.ndarray, labels: np.ndarray) -> PlattScaling:
        import sklearn
        from sklearn.linear_model import LogisticRegression

        z, y = _check(logits, labels)
        n_fake, n_real = int(y.sum()), int((1 - y).sum())
        target = np.where(y == 1, (n_fake + 1) / (n_fake + 2), 1 / (n_real + 2))  # Platt's targets
        x = np.concatenate([z, z])[:, None]
        yy = np.concatenate([np.ones_like(y), np.zeros_like(y)])
        weights = np.concatenate([target, 1 - target])
        major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
        # Unpenalised: C=inf from scikit-learn 1.8 (penalty= is deprecated there), penalty=None before.
        unpenalised = {"C": np.inf} if (major, minor) >= (1, 8) else {"penalty": None}
        model = LogisticRegression(**unpenalised, solver="lbfgs", max_iter=1000, tol=1e-10)
        model.fit(x, yy, sample_weight=weights)
        return cls(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(self.slope * np.asarray(logits, dtype=np.float64) + self.intercept)

    def parameters(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}


@dataclass(frozen=True)
class IsotonicScaling:
    """Non-decreasing map given by knots ``(x[i], y[i])`` (logit → P(fake)), linear between them, flat outside."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: ClassVar[str] = "isotonic"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("isotonic calibration: x and y must be non-empty and of one length")
        if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
            raise ValueError("isotonic calibration: x and y must be non-decreasing")

    @classmethod
    def fit(cls, logits: np.ndarray, labels: np.ndarray) -> IsotonicScaling:
        from sklearn.isotonic import IsotonicRegression

        z, y = _check(logits, labels)
        model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(z, y)
        return cls(x=tuple(float(v) for v in model.X_thresholds_), y=tuple(float(v) for v in model.y_thresholds_))

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(logits, dtype=np.float64), self.x, self.y)

    def parameters(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y)}


SCALERS: dict[str, type] = {"temperature": TemperatureScaling, "platt": PlattScaling, "isotonic": IsotonicScaling}


def fit_scaler(method: str, logits: np.ndarray, labels: np.ndarray) -> Scaler:
    """Fit the map named ``method`` (a key of :data:`SCALERS`) on file logits and labels (1 = fake)."""
    if method not in SCALERS:
        raise ValueError(f"calibration method must be one of {', '.join(SCALERS)}, got {method!r}")
    return SCALERS[method].fit(logits, labels)


def scaler_from_dict(method: str, parameters: dict[str, Any]) -> Scaler:
    """The map of a calibration file's ``method`` and ``parameters``."""
    if method not in SCALERS:
        raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(SCALERS)}")
    try:
        if method == "isotonic":
            return IsotonicScaling(x=tuple(map(float, parameters["x"])), y=tuple(map(float, parameters["y"])))
        return SCALERS[method](**{k: float(v) for k, v in parameters.items()})
    except (KeyError, TypeError) as err:
        raise ValueError(f"bad {method} calibration parameters {sorted(parameters)}: {err}") from None
