"""Training losses of both families: heatmap focal (or MSE) loss, self-consistency BCE and the weighted total.

The terms follow the official ``losses/losses.py`` of LAA-Net and of FakeFormer (``CombinedFocalLoss``,
``CombinedMSELoss``); the sum is in ``lib/core_function.py``. The two code bases share the focal loss except for its
positive weight (:func:`focal_positive_weight`: ε = 0.35 in LAA-Net, 0.1 in FakeFormer); FakeFormer has no
consistency head, and some of its configs use the MSE heatmap loss.

All single terms are **unweighted**; :class:`LAANetLoss` applies the paper's weights
(λ_hm 100, λ_cls 1, λ_cst 100 for SBI; λ_hm 10 for BI) and returns a dict of named terms plus ``total``.
The weight is the only factor: the official training passes its ``hm_lmda`` as the focal loss's weight, so
``L_hm = λ_hm · focal`` (the official focal function's default weight 0.25 is never used in training).

Every term is computed in the dtype of the network output, at least float32: a float64 model (as the official
code trains) gets float64 losses, a bf16/fp16 autocast output gets float32 ones. Casting a float64 loss down
to float32 is not harmless: Adam's first steps are ≈ lr·sign(ĝ), and the rounding flips the sign of the
update of elements whose gradient is near 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LAANetLoss",
    "LossWeights",
    "FAKEFORMER_POSITIVE_WEIGHT",
    "POSITIVE_WEIGHT",
    "build_criterion",
    "consistency_loss",
    "focal_positive_weight",
    "heatmap_mse_loss",
    "consistency_similarity_logits",
    "heatmap_focal_loss",
    "loss_dtype",
]

_PROB_EPS = 1e-4  # sigmoid(hm) is clamped to [1e-4, 1 − 1e-4]


def focal_positive_weight(eps: float) -> float:
    """Weight of the focal loss's positive term: ``(1 − ε) + 0.2·ε`` (the official "label smoothing" + "noise" terms)."""
    return (1.0 - eps) + 0.2 * eps


# LAA-Net's official focal loss uses ε = 0.35 (weight 0.72); FakeFormer's keeps the function's default ε = 0.1 (0.92).
POSITIVE_WEIGHT = 0.72
FAKEFORMER_POSITIVE_WEIGHT = 0.92


def loss_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype a loss on ``tensor`` is computed in: float64 stays float64, half types go up to float32."""
    return torch.promote_types(tensor.dtype, torch.float32)


def heatmap_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 4.0,
    positive_weight: float = POSITIVE_WEIGHT,
) -> torch.Tensor:
    """CornerNet-style focal loss on the vulnerable-point heatmap, normalised by the number of positives.

    With ``p = clamp(sigmoid(logits), 1e-4, 1 − 1e-4)``, positives ``Y == 1`` and negatives ``Y < 1``::

        S_pos = w · Σ_pos log(p)·(1 − p)^α
        S_neg = Σ_neg (1 − Y)^β · p^α · log(1 − p)
        L = −(S_pos + S_neg) / N_pos      (N_pos over the whole batch; −S_neg if N_pos = 0)

    with ``w`` = 0.72, α = 2, β = 4 (official ``_neg_loss``). No other factor: training multiplies by λ_hm.

    Args:
        logits: B×1×S×S heatmap logits.
        target: B×1×S×S Gaussian heatmap in [0, 1] (peaks exactly 1).

    Returns:
        Scalar loss (unweighted), in the dtype of ``logits`` (at least float32).
    """
    if logits.shape != target.shape:
        raise ValueError(f"heatmap logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    dtype = loss_dtype(logits)
    prob = torch.sigmoid(logits.to(dtype)).clamp(_PROB_EPS, 1 - _PROB_EPS)
    target = target.to(dtype)
    pos = target.eq(1).to(dtype)
    neg = target.lt(1).to(dtype)
    pos_sum = (torch.log(prob) * (1 - prob).pow(alpha) * pos).sum() * positive_weight
    neg_sum = (torch.log(1 - prob) * prob.pow(alpha) * (1 - target).pow(beta) * neg).sum()
    # N_pos is an integer count, so clamping at 1 equals the official "−S_neg when N_pos = 0" branch (pos_sum
    # is 0 then) without a host sync.
    n_pos = pos.sum().clamp(min=1)
    return -(pos_sum + neg_sum) / n_pos


def heatmap_mse_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``0.5 · mean((logits − target)²)`` on the **raw logits** (no sigmoid), as the official ``JointsMSELoss``
    with one joint and mean reduction (FakeFormer's ``CombinedMSELoss``; unweighted).

    Args:
        logits: B×1×G×G heatmap logits; target: B×1×G×G heatmap in [0, 1].

    Returns:
        Scalar loss, in the dtype of ``logits`` (at least float32).
    """
    if logits.shape != target.shape:
        raise ValueError(f"heatmap logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    dtype = loss_dtype(logits)
    return 0.5 * F.mse_loss(logits.to(dtype), target.to(dtype))


def consistency_similarity_logits(embedding: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Logits of the anchor similarity map: ``⟨e_anchor, e_p⟩ / sqrt(D)`` for every pixel p.

    The anchor of each sample is the first row-major argmax of its target (pixel 0 for an all-zero target).

    Args:
        embedding: B×D×H×W per-pixel embedding.
        target: B×1×H×W consistency target.

    Returns:
        B×1×H×W logits; ``sigmoid`` of them is the predicted similarity.
    """
    if embedding.ndim != 4 or target.ndim != 4 or target.shape[1] != 1:
        raise ValueError(
            f"expected embedding B×D×H×W and target B×1×H×W, got {tuple(embedding.shape)} and {tuple(target.shape)}"
        )
    if embedding.shape[0] != target.shape[0] or embedding.shape[2:] != target.shape[2:]:
        raise ValueError(f"embedding {tuple(embedding.shape)} and target {tuple(target.shape)} disagree on B, H or W")
    batch, dim, height, width = embedding.shape
    flat = embedding.to(loss_dtype(embedding)).reshape(batch, dim, height * width)  # B, D, HW
    anchor = target.reshape(batch, height * width).argmax(dim=1)  # B; torch returns the first maximum
    anchor_vec = flat.gather(2, anchor.view(batch, 1, 1).expand(batch, dim, 1))  # B, D, 1
    logits = (anchor_vec * flat).sum(dim=1) / math.sqrt(dim)  # B, HW
    return logits.view(batch, 1, height, width)


def consistency_loss(embedding: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean BCE between ``sigmoid(⟨e_anchor, e_p⟩ / sqrt(D))`` and the consistency target (unweighted).

    Args:
        embedding: B×D×H×W per-pixel embedding.
        target: B×1×H×W consistency target in [0, 1].

    Returns:
        Scalar loss, in the dtype of ``embedding`` (at least float32).
    """
    logits = consistency_similarity_logits(embedding, target)
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))


@dataclass(frozen=True)
class LossWeights:
    """λ of each term (official ``configs/efn4_fpn_sbi_adv.yaml``): SBI 100 / 1 / 100; the BI config uses hm 10."""

    heatmap: float = 100.0
    cls: float = 1.0
    consistency: float = 100.0


class LAANetLoss(nn.Module):
    """Weighted sum of the heatmap, classification and consistency terms (both families).

    A term is skipped only when its head output is None. A weight of 0 still computes the term (times 0), as the
    official code does: the head then gets zero gradients, so Adam's L2 weight decay still moves its weights
    (FakeFormer's headline config trains with λ_hm = 0 and its heatmap head only decays).

    ``forward(output, targets)`` takes an :class:`~laanet.models.laanet.LAANetOutput` (or anything with
    ``cls``, ``heatmap``, ``consistency`` attributes) and a mapping with ``label`` (B or B×1, 0 real / 1 fake),
    ``heatmap`` (B×1×S×S) and ``consistency`` (B×1×S×S). It returns ``{"cls", "heatmap", "consistency",
    "total"}`` (present terms only, each already weighted; unweighted values under ``*_raw``).
    """

    def __init__(
        self,
        weights: LossWeights | None = None,
        *,
        heatmap_loss: str = "focal",
        positive_weight: float = POSITIVE_WEIGHT,
    ) -> None:
        super().__init__()
        if heatmap_loss not in ("focal", "mse"):
            raise ValueError(f"heatmap_loss must be 'focal' or 'mse', got {heatmap_loss!r}")
        self.weights = weights or LossWeights()
        self.heatmap_loss = heatmap_loss
        self.positive_weight = positive_weight

    @classmethod
    def for_method(cls, method: str) -> "LAANetLoss":
        """Paper weights for ``"sbi"`` (100/1/100) or ``"bi"`` (10/1/100)."""
        if method == "sbi":
            return cls(LossWeights(heatmap=100.0))
        if method == "bi":
            return cls(LossWeights(heatmap=10.0))
        raise ValueError(f"unknown synthesis method {method!r}; expected 'sbi' or 'bi'")

    def forward(self, output, targets) -> dict[str, torch.Tensor]:  # noqa: ANN001 - duck-typed output/targets
        cls_logits = output.cls.to(loss_dtype(output.cls))
        label = targets["label"].to(cls_logits.dtype).reshape(cls_logits.shape)
        raw = {"cls": F.binary_cross_entropy_with_logits(cls_logits, label)}
        if output.heatmap is not None:
            if self.heatmap_loss == "mse":
                raw["heatmap"] = heatmap_mse_loss(output.heatmap, targets["heatmap"])
            else:
                raw["heatmap"] = heatmap_focal_loss(output.heatmap, targets["heatmap"], positive_weight=self.positive_weight)
        if getattr(output, "consistency", None) is not None:
            raw["consistency"] = consistency_loss(output.consistency, targets["consistency"])
        lam = {"cls": self.weights.cls, "heatmap": self.weights.heatmap, "consistency": self.weights.consistency}
        terms = {name: lam[name] * value for name, value in raw.items()}
        result: dict[str, torch.Tensor] = dict(terms)
        result.update({f"{name}_raw": value.detach() for name, value in raw.items()})
        result["total"] = sum(terms.values())  # type: ignore[assignment]
        return result


def build_criterion(train_config) -> LAANetLoss:  # noqa: ANN001 - laanet.config.TrainConfig (no import cycle)
    """The loss a run trains with: ``train.hm_weight/cls_weight/cst_weight``, ``train.heatmap_loss`` and the focal
    positive weight of ``train.focal_eps`` (LAA-Net 0.35, FakeFormer 0.1)."""
    weights = LossWeights(heatmap=train_config.hm_weight, cls=train_config.cls_weight, consistency=train_config.cst_weight)
    return LAANetLoss(weights, heatmap_loss=train_config.heatmap_loss,
                      positive_weight=focal_positive_weight(train_config.focal_eps))
