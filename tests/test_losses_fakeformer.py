"""FakeFormer's loss terms against the official loss objects (``../shared/fixtures/fakeformer/targets.pt``)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from laanet.training.losses import (
    FAKEFORMER_POSITIVE_WEIGHT,
    LAANetLoss,
    LossWeights,
    focal_positive_weight,
    heatmap_focal_loss,
    heatmap_mse_loss,
)

@pytest.fixture(scope="module")
def official(fakeformer_targets) -> dict:
    return fakeformer_targets  # conftest: skips without ../shared


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = float(a), float(b)
    return abs(a - b) / abs(b) if b else abs(a)


def test_focal_positive_weight_is_the_official_eps_0_1() -> None:
    assert focal_positive_weight(0.1) == FAKEFORMER_POSITIVE_WEIGHT == 0.92
    assert focal_positive_weight(0.35) == 0.72  # LAA-Net's copy of the loss


def test_focal_unweighted_matches_official(official: dict) -> None:
    losses = official["losses"]
    got = heatmap_focal_loss(losses["hm_logits"], official["heatmap"], positive_weight=FAKEFORMER_POSITIVE_WEIGHT)
    assert got.dtype == torch.float64
    assert _rel(got, losses["focal_unweighted"]) < 1e-12
    laanet_weight = heatmap_focal_loss(losses["hm_logits"], official["heatmap"])  # 0.72: not FakeFormer's loss
    assert _rel(laanet_weight, losses["focal_unweighted"]) > 1e-3


@pytest.mark.parametrize("name", ["vit_sbi_small", "vit_bi_small", "vit_sbi_base", "swin_sbi_small", "swin_sbi_tiny", "swin_bi_small"])
def test_each_official_config_loss(official: dict, name: str) -> None:
    """Every config's loss as training calls it: λ_hm·(focal | 0.5·MSE on raw logits) + λ_cls·BCE(sigmoid(cls), y)."""
    losses = official["losses"]
    ref = losses["configs"][name]
    kind = {"CombinedFocalLoss": "focal", "CombinedMSELoss": "mse"}[ref["loss_type"]]
    criterion = LAANetLoss(LossWeights(heatmap=ref["hm_lmda"], cls=ref["cls_lmda"], consistency=0.0),
                           heatmap_loss=kind, positive_weight=FAKEFORMER_POSITIVE_WEIGHT)
    out = SimpleNamespace(cls=losses["cls_logits"], heatmap=losses["hm_logits"], consistency=None)
    terms = criterion(out, {"label": official["label"].flatten(), "heatmap": official["heatmap"]})
    assert terms["total"].dtype == torch.float64
    for term, key in (("heatmap", "hm"), ("cls", "cls"), ("total", "total")):
        assert _rel(terms[term], ref[key]) < 1e-12, f"{name} {term}: {float(terms[term])!r} vs {float(ref[key])!r}"
    if ref["hm_lmda"] == 0:  # the headline config: the heatmap term is exactly 0, the total is the BCE alone
        assert float(terms["heatmap"]) == 0.0 and float(terms["total"]) == float(terms["cls"])


def test_mse_is_on_raw_logits() -> None:
    logits = torch.tensor([[[[2.0, -1.0]]]], dtype=torch.float64)
    target = torch.tensor([[[[1.0, 0.0]]]], dtype=torch.float64)
    assert float(heatmap_mse_loss(logits, target)) == 0.5 * (1.0 + 1.0) / 2


def test_zero_weight_still_gives_the_head_zero_gradients() -> None:
    """λ_hm = 0 computes 0·term, as the official code: the heatmap head gets zero gradients (not None), so Adam's L2
    weight decay still moves it."""
    logits = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    cls = torch.randn(2, 1, dtype=torch.float64, requires_grad=True)
    criterion = LAANetLoss(LossWeights(heatmap=0.0, cls=1.0, consistency=0.0), positive_weight=FAKEFORMER_POSITIVE_WEIGHT)
    terms = criterion(SimpleNamespace(cls=cls, heatmap=logits, consistency=None),
                      {"label": torch.tensor([0.0, 1.0]), "heatmap": torch.zeros(2, 1, 4, 4)})
    terms["total"].backward()
    assert logits.grad is not None and not logits.grad.any() and cls.grad.abs().sum() > 0
