"""The official training bookkeeping in laanet's engine: freezing, optimizer, best-checkpoint rule, SAM info."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from laanet.training.engine import backbone_trainable_at, build_optimizer, is_improvement, set_backbone_trainable, train_step
from laanet.training.sam import SAM


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 1)

    def backbone_parameters(self):
        return list(self.backbone.parameters())

    def forward(self, x):
        return self.head(torch.relu(self.backbone(x)))


def _loss(out, batch):
    return {"total": ((out - batch["target"]) ** 2).mean()}


def test_frozen_backbone_gets_no_ascent_no_update_no_decay_but_bn_stats_move():
    torch.manual_seed(0)
    model = _Tiny().double().train()
    assert not backbone_trainable_at(5, 6) and backbone_trainable_at(6, 6)
    set_backbone_trainable(model, backbone_trainable_at(0, 6))
    opt = build_optimizer(model, lr=1e-3, weight_decay=1e-1, sam_rho=0.05)
    assert isinstance(opt, SAM) and opt.base.defaults["weight_decay"] == 1e-1 and not opt.base.defaults["amsgrad"]
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    info: dict = {}
    batch = {"image": torch.randn(6, 3, dtype=torch.float64), "target": torch.randn(6, 1, dtype=torch.float64)}
    losses = train_step(model, _loss, batch, opt, info=info)
    w1 = model.state_dict()
    for k in ("backbone.0.weight", "backbone.0.bias", "backbone.1.weight", "backbone.1.bias"):
        assert torch.equal(w0[k], w1[k]), k  # frozen: not even weight decay
    assert int(w1["backbone.1.num_batches_tracked"] - w0["backbone.1.num_batches_tracked"]) == 2  # both SAM passes
    assert not torch.equal(w0["head.weight"], w1["head.weight"])
    assert info["loss_pass2"]["total"].dtype == torch.float64 and math.isfinite(info["grad_norm"])
    assert float(info["loss_pass2"]["total"]) != float(losses["total"])  # pass 2 is at w + e
    assert build_optimizer(model, lr=1e-3, weight_decay=0, sam_rho=0).__class__ is torch.optim.Adam


@pytest.mark.parametrize(
    "best_by, metrics, best, expected",
    [
        ("acc_loss", {"acc": 0.8, "loss_total": 1.0, "auc": 0.5}, None, True),
        ("acc_loss", {"acc": 0.9, "loss_total": 0.9, "auc": 0.1}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, True),
        ("acc_loss", {"acc": 0.9, "loss_total": 1.1, "auc": 0.99}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, False),
        ("acc_loss", {"acc": 0.8, "loss_total": 0.5, "auc": 0.99}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, False),
        ("acc_loss", {"acc": 0.9, "loss_total": math.nan, "auc": 0.99}, None, False),
        ("auc", {"acc": 0.1, "loss_total": 9.0, "auc": 0.95}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, True),
        ("auc", {"acc": 0.9, "loss_total": 0.1, "auc": 0.85}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, False),
        ("auc", {"acc": 0.9, "loss_total": 0.1, "auc": math.nan}, None, False),
        ("acc", {"acc": 0.9, "loss_total": 9.0, "auc": 0.1}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, True),
        ("acc", {"acc": 0.8, "loss_total": 0.1, "auc": 0.99}, {"acc": 0.8, "loss": 1.0, "auc": 0.9}, False),
        ("acc", {"acc": math.nan, "loss_total": 0.1, "auc": 0.99}, None, False),
    ],
)
def test_best_checkpoint_rule(best_by, metrics, best, expected):
    """Official LAA-Net: accuracy up AND loss down, both at once; official FakeFormer: accuracy up; laanet option: AUC up."""
    assert is_improvement(metrics, best, best_by) is expected


def test_optimizer_kinds_adam_is_l2_adamw_is_decoupled():
    """FakeFormer's "AdamW" config builds torch.optim.Adam (L2 in the gradient, no SAM); "adamw" is the laanet option."""
    torch.manual_seed(0)
    model = _Tiny().double()
    adam = build_optimizer(model, lr=1e-3, weight_decay=1e-1, sam_rho=0.05, kind="adam")
    assert type(adam) is torch.optim.Adam and adam.defaults["weight_decay"] == 1e-1 and len(adam.param_groups) == 1
    assert type(build_optimizer(model, lr=1e-3, weight_decay=1e-1, sam_rho=0.05, kind="adamw")) is torch.optim.AdamW
    with pytest.raises(ValueError, match="train.optimizer"):
        build_optimizer(model, lr=1e-3, weight_decay=0, sam_rho=0, kind="sgd")
    # with a zero loss gradient, Adam+L2 moves a weight by ~lr (first step ≈ lr·sign), AdamW by lr·wd·w only
    w = {}
    for kind in ("adam", "adamw"):
        m = _Tiny().double()
        m.head.weight.data.fill_(0.5)
        opt = build_optimizer(m, lr=1e-3, weight_decay=1e-1, sam_rho=0, kind=kind)
        (m.head.weight.sum() * 0).backward()
        opt.step()
        w[kind] = float(m.head.weight.detach()[0, 0])
    assert w["adam"] == pytest.approx(0.5 - 1e-3, rel=1e-6)
    assert w["adamw"] == pytest.approx(0.5 * (1 - 1e-3 * 1e-1), rel=1e-9)
