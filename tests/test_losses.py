"""Losses against the official values of the fixture, and the weighted total."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from laanet.training.losses import (
    LAANetLoss,
    LossWeights,
    consistency_loss,
    consistency_similarity_logits,
    heatmap_focal_loss,
)

def test_focal_matches_official(official: dict) -> None:
    loss = heatmap_focal_loss(official["hm_logits"], official["heatmap"])
    expected = official["focal_loss_unweighted"]
    assert torch.allclose(loss, expected, rtol=1e-6, atol=0)
    # The corrected fixture (2026-12-01): the official training loss has no factor 1/4 (2.118650 was 0.25 x it).
    assert abs(float(expected) - 8.474601) < 1e-5
    assert abs(float(loss) - 8.474601) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_losses_keep_the_model_dtype(official: dict, dtype: torch.dtype) -> None:
    """float64 outputs give float64 losses (no cast to float32: it flips Adam's first-step signs); half → float32."""
    target = official["consistency"][:, :, ::4, ::4]
    focal = heatmap_focal_loss(official["hm_logits"].to(dtype), official["heatmap"])
    cst = consistency_loss(official["embedding"].to(dtype), target)
    want = torch.float64 if dtype == torch.float64 else torch.float32
    assert focal.dtype == want and cst.dtype == want
    out = SimpleNamespace(cls=torch.zeros(12, 1, dtype=dtype), heatmap=official["hm_logits"].to(dtype),
                          consistency=official["embedding"].to(dtype))
    terms = LAANetLoss.for_method("sbi")(out, {"label": torch.ones(12), "heatmap": official["heatmap"], "consistency": target})
    assert all(v.dtype == want for v in terms.values())
    if dtype == torch.float64:
        assert torch.allclose(focal, official["focal_loss_unweighted"].double(), rtol=1e-6, atol=0)
        # float64 keeps digits a float32 computation loses
        exact = heatmap_focal_loss(official["hm_logits"].double(), official["heatmap"].double())
        assert float(focal) == float(exact)


def test_consistency_matches_official(official: dict) -> None:
    target = official["consistency"][:, :, ::4, ::4]
    loss = consistency_loss(official["embedding"], target)
    assert torch.allclose(loss, official["consistency_loss_unweighted"], rtol=1e-6, atol=0)
    similarity = torch.sigmoid(consistency_similarity_logits(official["embedding"], target))
    assert torch.allclose(similarity, official["consistency_similarity"], atol=1e-5)


def test_focal_without_positives_is_negative_term_only() -> None:
    logits = torch.full((2, 1, 8, 8), -1.0)
    target = torch.zeros_like(logits)
    p = torch.sigmoid(logits)
    expected = -(torch.log(1 - p) * p**2).sum()
    assert torch.allclose(heatmap_focal_loss(logits, target), expected)


def test_consistency_anchor_is_first_argmax() -> None:
    emb = torch.randn(1, 4, 3, 3)
    target = torch.zeros(1, 1, 3, 3)
    target[0, 0, 1, 2] = 1.0
    target[0, 0, 2, 0] = 1.0  # a later tie: must not be chosen
    logits = consistency_similarity_logits(emb, target)
    expected = (emb[0, :, 1, 2][:, None, None] * emb[0]).sum(0) / 2.0
    assert torch.allclose(logits[0, 0], expected)


def test_combined_loss_weights_and_missing_heads(official: dict) -> None:
    target = official["consistency"][:, :, ::4, ::4]
    label = torch.tensor([0.0] + [1.0] * 11)
    out = SimpleNamespace(
        cls=torch.zeros(12, 1),
        heatmap=official["hm_logits"],
        consistency=official["embedding"],
    )
    # the hm target must match the hm logits size; the consistency target the embedding size
    targets = {"label": label, "heatmap": official["heatmap"], "consistency": target}
    terms = LAANetLoss.for_method("sbi")(out, targets)
    assert torch.allclose(terms["heatmap"], 100 * official["focal_loss_unweighted"], rtol=1e-6)
    assert torch.allclose(terms["heatmap_raw"], official["focal_loss_unweighted"], rtol=1e-6)
    assert torch.allclose(terms["consistency"], 100 * official["consistency_loss_unweighted"], rtol=1e-4)
    assert torch.allclose(terms["cls"], torch.log(torch.tensor(2.0)))
    assert torch.allclose(terms["total"], terms["heatmap"] + terms["cls"] + terms["consistency"])
    bi = LAANetLoss.for_method("bi")(out, targets)
    assert torch.allclose(bi["heatmap"], 10 * official["focal_loss_unweighted"], rtol=1e-6)
    only_cls = LAANetLoss(LossWeights())(SimpleNamespace(cls=out.cls, heatmap=None, consistency=None), targets)
    assert set(only_cls) == {"cls", "cls_raw", "total"}
    with pytest.raises(ValueError):
        LAANetLoss.for_method("xray")


def test_loss_backpropagates() -> None:
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    emb = torch.randn(2, 16, 8, 8, requires_grad=True)
    target = torch.zeros(2, 1, 8, 8)
    target[1, 0, 3, 3] = 1.0
    (heatmap_focal_loss(logits, target) + consistency_loss(emb, target)).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
