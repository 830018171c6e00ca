"""One FakeFormer training step of laanet, recorded the way the official reference step is recorded.

The authors' training code (10Ring/LAA-Former, ``lib/core_function.py`` with ``configs/spatial/vit_sbi_small.yaml``)
was run for one step in float64 from a known checkpoint on a fixed batch, drop-path off, head BatchNorm in train
mode, in two scenarios: ``frozen`` (epoch 0, backbone ``requires_grad=False``) and ``unfrozen`` (epoch 5). Every
state-dict tensor's gradient and update ``W1 − W0`` were recorded (``tests/test_train_parity_fakeformer.py``
compares). :func:`run_fakeformer_step` runs laanet's own pieces on the same input: the preset's loss
(:func:`~laanet.training.losses.build_criterion`), optimizer (:func:`~laanet.training.engine.build_optimizer`) and
freezing for the scenario's epoch, and the real :func:`~laanet.training.engine.train_step`; it reports the same
quantities under the official key names. Nothing is read from the reference values but the batch and the scenario's
epoch, learning rate and optimizer settings.

Example::

    fixture = torch.load("train_step.pt", weights_only=True)
    got = run_fakeformer_step(fixture, "frozen", weights="checkpoint.pt")
    got["loss"]["total"], got["per_key"]["keypoint_head.cls.1.weight"]["update_norm"]
"""
from __future__ import annotations

from typing import Any

import torch

from laanet.config import load_config
from laanet.models.checkpoint import load_model
from laanet.training.engine import backbone_trainable_at, build_optimizer, set_backbone_trainable, train_step
from laanet.training.losses import build_criterion

__all__ = ["official_key_names", "run_fakeformer_step"]


def official_key_names(model: torch.nn.Module) -> dict[str, str]:
    """laanet state-dict key → the official FakeFormer key holding the same tensor (found by converting a probe:
    every tensor filled with its own index, so renames and the Swin merge permutation are both followed)."""
    from laanet.models.fakeformer_official import laanet_to_official

    keys = list(model.state_dict())
    probe = {k: torch.full_like(v, float(i), dtype=torch.float64) for i, (k, v) in enumerate(model.state_dict().items())}
    official = laanet_to_official(probe, swin=getattr(getattr(model, "arch", None), "kind", "vit") == "swin")
    names: dict[str, str] = {}
    for name, value in official.items():
        if value.numel():
            names[keys[int(value.flatten()[0])]] = name
    return names


def _batch(batch: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The fixture's collated batch as laanet's training batch (images already normalised, official order)."""
    return {
        "image": batch["img"].to(dtype),  # B, 3, 112, 112: (x/255 − ImageNet mean)/std
        "label": batch["label"].to(dtype).flatten(),  # B
        "heatmap": batch["heatmap"].to(dtype),  # B, 1, 14, 14
    }


def run_fakeformer_step(
    fixture: dict, scenario: str, *, weights: str, preset: str = "fakeformer-vit-s8-sbi", overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run laanet's real training step once, as the official FakeFormer step was run; report it per official key.

    Args:
        fixture: ``train_step.pt`` (``torch.load(..., weights_only=True)``); only ``batch`` and, of
            ``scenarios[scenario]``, ``epoch``, ``lr`` and ``optimizer`` (betas, eps, weight_decay) are read.
        scenario: ``"frozen"`` (epoch 0) or ``"unfrozen"`` (epoch 5).
        weights: a checkpoint :func:`laanet.models.checkpoint.load_model` reads (official layout or laanet's).
        preset: the training preset whose loss, optimizer kind and freezing are used; ``overrides`` on top of it.

    Returns:
        ``loss``: ``{hm, cls, total}`` (weighted terms, floats); ``outputs``: ``cls_logit``, ``hm_logit``;
        ``per_key[official key]``: ``kind``, ``trainable``, ``grad_norm``, ``grad_sum`` (None without a gradient),
        ``update_norm``, ``update_sum``, ``update_max_abs`` of ``W1 − W0``; ``update_full[official key]``: the exact
        update of every tensor (float64); ``n_trainable_params``; ``optimizer``: the class used.
    """
    if scenario not in fixture["scenarios"]:
        raise KeyError(f"scenario {scenario!r} not in the fixture ({', '.join(fixture['scenarios'])})")
    spec = fixture["scenarios"][scenario]
    opt = spec["optimizer"]
    tc = load_config(preset, list(overrides)).train

    model = load_model(weights, dtype=torch.float64)
    model.disable_stochastic_layers()
    model.train()
    set_backbone_trainable(model, backbone_trainable_at(int(spec["epoch"]), tc.freeze_backbone_epochs))
    criterion = build_criterion(tc)
    optimizer = build_optimizer(model, lr=float(spec["lr"]), weight_decay=float(opt["weight_decay"]), sam_rho=tc.sam_rho,
                                betas=tuple(opt["betas"]), eps=float(opt["eps"]), kind=tc.optimizer)
    batch = _batch(fixture["batch"], torch.float64)

    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = dict(model.named_parameters())
    grads: dict[str, torch.Tensor] = {}

    def keep_grads(*_: Any) -> None:  # the optimizer's step pre-hook: the gradients it is about to use
        grads.update({name: p.grad.detach().clone() for name, p in params.items() if p.grad is not None})

    base = optimizer.base if hasattr(optimizer, "base") else optimizer
    outputs: list[Any] = []
    hooks = [base.register_step_pre_hook(keep_grads),
             model.register_forward_hook(lambda _m, _i, out: outputs.append(out) if not outputs else None)]
    try:
        losses = train_step(model, criterion, batch, optimizer)
    finally:
        for hook in hooks:
            hook.remove()

    names = official_key_names(model)
    after = model.state_dict()
    per_key: dict[str, dict[str, Any]] = {}
    update_full: dict[str, torch.Tensor] = {}
    for key, w0 in before.items():
        delta = after[key].detach().double() - w0.double()
        param = params.get(key)
        grad = grads.get(key)
        official = names[key]
        per_key[official] = {
            "kind": "param" if param is not None else "buffer",
            "trainable": bool(param is not None and param.requires_grad),
            "grad_norm": float(grad.norm()) if grad is not None else None,
            "grad_sum": float(grad.sum()) if grad is not None else None,
            "update_norm": float(delta.norm()),
            "update_sum": float(delta.sum()),
            "update_max_abs": float(delta.abs().max()) if delta.numel() else 0.0,
        }
        if w0.is_floating_point():
            update_full[official] = delta
    out = outputs[0]
    return {
        "scenario": scenario,
        "loss": {"hm": float(losses.get("heatmap", torch.zeros(()))), "cls": float(losses["cls"]),
                 "total": float(losses["total"])},
        "outputs": {"cls_logit": out.cls.detach(), "hm_logit": out.heatmap.detach()},
        "per_key": per_key,
        "update_full": update_full,
        "n_trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "optimizer": type(base).__name__,
    }
