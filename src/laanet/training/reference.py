"""One training step of laanet, recorded the way the official reference step is recorded.

The authors' training code (10Ring/LAA-Net, ``lib/core_function.py``, config ``efn4_fpn_sbi_adv.yaml``) was run
for one SAM(Adam) step in float64 from a known checkpoint on a fixed batch, with dropout and drop-connect off,
and every state-dict tensor's pass-2 gradient and update ``W1 − W0`` were recorded (``tests/test_train_parity.py``
compares). :func:`run_official_step` runs laanet's own pieces on the same input: the ``paper-sbi`` preset's
loss, optimizer and freezing for the scenario's epoch and the real :func:`laanet.training.engine.train_step`,
and reports the same quantities under the official key names. Nothing is copied from the reference values:
the function reads only the batch and the scenario's epoch, learning rate and optimizer settings.

Example::

    fixture = torch.load("official_step.pt", weights_only=True)
    got = run_official_step(fixture, "frozen", weights="official_b4/checkpoint.pt")
    got["loss_pass1"]["hm"], got["per_key"]["deconv_1.0.0.weight"]["update_norm"]
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from laanet.config import load_config
from laanet.models.checkpoint import load_model
from laanet.models.official import laanet_to_official_names
from laanet.training.engine import backbone_trainable_at, build_optimizer, set_backbone_trainable, train_step
from laanet.training.losses import LAANetLoss, LossWeights

__all__ = ["run_official_step", "fixture_batch"]

_TERMS = {"heatmap": "hm", "cls": "cls", "consistency": "cstency", "total": "total"}  # laanet → official names
_HEADS = ("hm.", "cls.", "cstency.")


def fixture_batch(batch: dict[str, Any], dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """The fixture's batch as laanet's training batch: images normalised as the official pipeline does.

    ``image = (uint8 / 255 − 0.5) / 0.5`` (ToTensor, then Normalize(0.5, 0.5)), computed in ``dtype``; labels,
    heatmaps and consistency targets in the batch's order.
    """
    image = (batch["image_uint8"].to(dtype) / 255 - 0.5) / 0.5  # B, 3, S, S in [-1, 1]
    return {
        "image": image,
        "label": batch["label"].to(dtype).flatten(),  # B
        "heatmap": batch["heatmap"].to(dtype),  # B, 1, S/4, S/4
        "consistency": batch["consistency"].to(dtype),  # B, 1, S/4, S/4
    }


def _terms(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {official: float(losses[name]) for name, official in _TERMS.items() if name in losses}


def run_official_step(fixture: dict, scenario: str, *, weights: str, preset: str = "paper-sbi") -> dict[str, Any]:
    """Run laanet's real training step once, as the official reference step was run; report it per official key.

    Args:
        fixture: the reference step file (``torch.load(..., weights_only=True)``); only ``batch`` and, of
            ``scenarios[scenario]``, ``epoch``, ``lr`` and ``optimizer`` (betas, eps, weight_decay, rho) are read.
        scenario: ``"frozen"`` (epoch 0) or ``"unfrozen"`` (epoch 6), or any scenario the fixture holds.
        weights: a checkpoint :func:`laanet.models.checkpoint.load_model` reads (official or laanet).
        preset: the training preset whose loss weights and freezing are used.

    Returns:
        ``loss_pass1`` / ``loss_pass2``: ``{hm, cls, cstency, total}`` (weighted terms, floats);
        ``grad_norm_first_step``: ‖g1‖ of the SAM ascent; ``per_key[official key]``: ``kind`` (param/buffer),
        ``trainable``, ``update_norm``, ``update_sum``, ``update_max_abs`` of ``W1 − W0`` and ``grad2_norm``,
        ``grad2_sum`` of the gradient Adam used (None for buffers and frozen parameters); the two names of the
        shared inception block carry the same entry; ``head_update[official key]``: the full ``W1 − W0``
        (float64) of every float tensor of the heads; ``outputs_pass1``: ``cls_logit`` and ``hm_logit`` of the
        first forward.
    """
    if scenario not in fixture["scenarios"]:
        raise KeyError(f"scenario {scenario!r} not in the fixture ({', '.join(fixture['scenarios'])})")
    spec = fixture["scenarios"][scenario]
    opt = spec["optimizer"]
    cfg = load_config(preset)
    tc = cfg.train

    model = load_model(weights, dtype=torch.float64)
    model.disable_stochastic_layers()
    model.train()
    set_backbone_trainable(model, backbone_trainable_at(int(spec["epoch"]), tc.freeze_backbone_epochs))
    criterion = LAANetLoss(LossWeights(heatmap=tc.hm_weight, cls=tc.cls_weight, consistency=tc.cst_weight))
    optimizer = build_optimizer(model, lr=float(spec["lr"]), weight_decay=float(opt["weight_decay"]),
                                sam_rho=float(opt["rho"]), betas=tuple(opt["betas"]), eps=float(opt["eps"]))
    batch = fixture_batch(fixture["batch"])

    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    names = dict(model.named_parameters())
    grads2: dict[str, torch.Tensor] = {}

    def keep_grads(*_: Any) -> None:  # Adam's step pre-hook: the gradients are g2, taken at w + e
        grads2.update({name: p.grad.detach().clone() for name, p in names.items() if p.grad is not None})

    base = optimizer.base if hasattr(optimizer, "base") else optimizer
    outputs: list[Any] = []
    hooks = [base.register_step_pre_hook(keep_grads),
             model.register_forward_hook(lambda _m, _i, out: outputs.append(out) if not outputs else None)]
    info: dict[str, Any] = {}
    try:
        losses_1 = train_step(model, criterion, batch, optimizer, info=info)
    finally:
        for hook in hooks:
            hook.remove()

    official_names = laanet_to_official_names(model)
    after = model.state_dict()
    per_key: dict[str, dict[str, Any]] = {}
    head_update: dict[str, torch.Tensor] = {}
    for key, w0 in before.items():
        delta = after[key].detach().double() - w0.double()
        param = names.get(key)
        grad = grads2.get(key)
        entry = {
            "kind": "param" if param is not None else "buffer",
            "trainable": bool(param is not None and param.requires_grad),
            "update_norm": float(delta.norm()),
            "update_sum": float(delta.sum()),
            "update_max_abs": float(delta.abs().max()) if delta.numel() else 0.0,
            "grad2_norm": float(grad.norm()) if grad is not None else None,
            "grad2_sum": float(grad.sum()) if grad is not None else None,
        }
        for official in official_names[key]:
            per_key[official] = entry
            if official.startswith(_HEADS) and w0.is_floating_point():
                head_update[official] = delta
    out = outputs[0]
    return {
        "scenario": scenario,
        "epoch": int(spec["epoch"]),
        "lr": float(spec["lr"]),
        "loss_pass1": _terms(losses_1),
        "loss_pass2": _terms(info["loss_pass2"]),
        "grad_norm_first_step": float(info["grad_norm"]),
        "per_key": per_key,
        "head_update": head_update,
        "outputs_pass1": {"cls_logit": out.cls.detach(), "hm_logit": out.heatmap.detach()},
        "n_trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "config": dataclasses.asdict(cfg.train),
    }
