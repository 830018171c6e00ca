"""Learning-rate schedule of LAA-Net and FakeFormer: linear warm-up to ``booster x lr``, then linear decay to 0.

Both official code bases always use this schedule (``lib/scheduler/linear_decay.py``, ``LinearDecayLR``;
``scripts/train.py`` never reads the YAML scheduler block: it compares the dict to a string) and step it once
per epoch. The peak is at ``s = epochs // start_decay``.
With the LAA-Net paper settings (lr 5e-5, booster 4, start_decay 4, 100 epochs) it gives 5e-5 at epoch 0, 2e-4 at
epoch 25, 1.33e-4 at epoch 50 and 2.7e-6 at epoch 99. FakeFormer's ViT-S/8 config (lr 5e-5, booster 1,
start_decay 8, 200 epochs) holds 5e-5 to epoch 25, then decays: 2.857e-5 at epoch 100, 2.857e-7 at epoch 199.
"""
from __future__ import annotations

__all__ = ["lr_at"]


def lr_at(epoch: float, *, base_lr: float, booster: float, epochs: int, start_decay: int = 4) -> float:
    """Learning rate for ``epoch`` (0-based; fractional values interpolate).

    Args:
        epoch: the current epoch, 0 <= epoch.
        base_lr: learning rate at epoch 0.
        booster: peak multiplier reached at ``epochs // start_decay``.
        epochs: total number of epochs; the rate reaches 0 at ``epoch == epochs``.
        start_decay: divisor of ``epochs`` that gives the peak epoch (official ``TRAIN.start_decay``).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if start_decay < 1:
        raise ValueError(f"start_decay must be >= 1, got {start_decay}")
    peak_epoch = epochs // start_decay
    # 1) warm-up: linear from base_lr (epoch 0) to booster * base_lr (epoch peak_epoch)
    if epoch < peak_epoch:
        return base_lr * (1.0 + (booster - 1.0) * epoch / peak_epoch)
    # 2) decay: linear from booster * base_lr (peak_epoch) to 0 (epochs); clamped at 0 past the end
    remaining = max(0.0, 1.0 - (epoch - peak_epoch) / (epochs - peak_epoch))
    return booster * base_lr * remaining
