"""The three LAA-Net heads (official ``pose_efficientNet.py``), each on the decoder's stride-4 map F (B×C×H/4×W/4).

Layer order and indices follow the official ``nn.Sequential`` heads, so state-dict keys map one-to-one.
"""
from __future__ import annotations

import torch
from torch import nn

HEATMAP_BIAS_INIT = -2.19  # CenterNet prior: sigmoid(-2.19) ≈ 0.1 (official ``init_weights``)


class HeatmapHead(nn.Sequential):
    """Vulnerable-point heatmap logits: Conv3×3 → BN → ReLU → Conv1×1 → B×1×H/4×W/4."""

    def __init__(self, in_chs: int, hidden: int = 64) -> None:
        super().__init__(
            nn.Conv2d(in_chs, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    @torch.no_grad()
    def init_weights(self) -> None:
        nn.init.constant_(self[3].bias, HEATMAP_BIAS_INIT)


class ClassificationHead(nn.Sequential):
    """Real/fake logit: Conv3×3 → BN → ReLU → global average pool → Linear → B×1."""

    def __init__(self, in_chs: int, hidden: int = 64) -> None:
        super().__init__(
            nn.Conv2d(in_chs, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(hidden, 1),
        )

    def init_weights(self) -> None:
        """PyTorch defaults (official code re-initialises nothing here)."""


class ConsistencyHead(nn.Sequential):
    """Per-pixel self-consistency embedding: Conv3×3 → BN → ReLU → Conv1×1 → B×D×H/4×W/4 (D = 256)."""

    def __init__(self, in_chs: int, hidden: int = 64, dim: int = 256) -> None:
        super().__init__(
            nn.Conv2d(in_chs, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, dim, 1),
        )

    @torch.no_grad()
    def init_weights(self) -> None:
        last = self[3]
        nn.init.normal_(last.weight, std=(2.0 / last.out_channels) ** 0.5)
        nn.init.zeros_(last.bias)
