"""Learning-rate schedule of LAA-Net: linear warm-up to ``booster x lr``, then linear decay to 0.

The official code always uses this schedule (``lib/scheduler/linear_decay.py``; ``scripts/train.py`` never reads
the YAML scheduler block) and steps it once per epoch.
With the paper settings (lr 5e-5, booster 4, 100 epochs) it gives 5e-5 at epoch 0, 2e-4 at epoch 25, 1.33e-4 at
epoch 50 and 2.7e-6 at epoch 99.
"""
from __future__ import annotations

__all__ = ["lr_at"]


def lr_at(epoch: float, *, base_lr: float, booster: float, epochs: int) -> float:
    """Learning rate for ``epoch`` (0-based; fractional values interpolate).

    Args:
        epoch: the current epoch, 0 <= epoch.
        base_lr: learning rate at epoch 0.
        booster: peak multiplier reached at ``epochs // 4``.
        epochs: total number of epochs; the rate reaches 0 at ``epoch == epochs``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    peak_epoch = epochs // 4
    # 1) warm-up: linear from base_lr (epoch 0) to booster * base_lr (epoch peak_epoch)
    if epoch < peak_epoch:
        return base_lr * (1.0 + (booster - 1.0) * epoch / peak_epoch)
    # 2) decay: linear from booster * base_lr (peak_epoch) to 0 (epochs); clamped at 0 past the end
    remaining = max(0.0, 1.0 - (epoch - peak_epoch) / (epochs - peak_epoch))
    return booster * base_lr * remaining
