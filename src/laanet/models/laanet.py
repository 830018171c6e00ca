"""LAA-Net: backbone taps → (E-)FPN decoder → classification, heatmap and self-consistency heads.

Paper: "LAA-Net: Localized Artifact Attention Network for Quality-Agnostic and Generalizable Deepfake
Detection", Nguyen et al., CVPR 2024, https://arxiv.org/abs/2401.13856. Behaviour follows the official code
(github.com/10Ring/LAA-Net, ``models/networks/pose_efficientNet.py``); with the ``paper-*`` presets the module
has exactly 27,128,786 parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from laanet.config import ModelConfig
from laanet.models.backbone import Backbone
from laanet.models.decoder import Decoder
from laanet.models.family import ModelOutput, Preprocess
from laanet.models.heads import ClassificationHead, ConsistencyHead, HeatmapHead
from laanet.models.resnet_decoder import PoseResNetDecoder


# The output type of every family (laanet.models.family.ModelOutput); for LAA-Net: cls B×1, heatmap
# B×1×H/4×W/4 vulnerable-point logits, consistency B×256×H/4×W/4 (each None if its head is off).
LAANetOutput = ModelOutput
TEST_MARGIN = 5  # pixels of the 256-px crop cut per side at test time (official datasets/face_forensic_sbi.py)


class LAANet(nn.Module):
    """LAA-Net for one square input size (``cfg.input_size``); see :class:`laanet.config.ModelConfig`.

    Attributes of the family seam: ``family`` ("laanet"), ``preprocess`` (mean = std = 0.5, 5-px test margin,
    ``cv2.resize``), ``heatmap_size`` (input_size / 4), ``heads``.
    """

    family = "laanet"

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        if cfg.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {cfg.input_size}")
        self.backbone = Backbone(
            cfg.backbone,
            feature_indices=tuple(cfg.feature_indices),
            head_channels=cfg.head_channels,
            static_padding_size=cfg.static_padding_size,
            drop_path_rate=cfg.drop_path_rate,
            pretrained=cfg.pretrained,
            pretrained_path=cfg.pretrained_path,
        )
        self.tap_dropout = nn.Dropout(cfg.tap_dropout)  # element-wise, on all four taps, training only
        decoder_cls = PoseResNetDecoder if cfg.layout == "pose_resnet" else Decoder
        self.decoder = decoder_cls(self.backbone.channels, fpn=cfg.fpn, inception_pw_once=cfg.inception_pw_once)
        chs = self.decoder.out_channels
        self.cls_head = ClassificationHead(chs, cfg.head_conv)
        self.heatmap_head = HeatmapHead(chs, cfg.head_conv) if cfg.heatmap_head else None
        self.consistency_head = ConsistencyHead(chs, cfg.head_conv, cfg.consistency_dim) if cfg.consistency_head else None
        self.heatmap_size = cfg.input_size // 4
        self.preprocess = Preprocess(input_size=cfg.input_size, crop_size=256, margin=TEST_MARGIN, framing="resize")
        self.init_weights()

    @property
    def heads(self) -> tuple[str, ...]:
        """The outputs this model produces: "cls" and those of "heatmap", "consistency" whose head is on."""
        on = {"heatmap": self.heatmap_head, "consistency": self.consistency_head}
        return ("cls", *(name for name, head in on.items() if head is not None))

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official initialisation (``PoseEfficientNet.init_weights``); the backbone keeps its own (ImageNet or timm
        default)."""
        self.decoder.init_weights()
        for head in (self.cls_head, self.heatmap_head, self.consistency_head):
            if head is not None:
                head.init_weights()

    def disable_stochastic_layers(self) -> None:
        """Switch off tap dropout and the backbone's drop-path (stochastic depth) for deterministic training steps."""
        from timm.layers import DropPath

        self.tap_dropout.p = 0.0
        for m in self.backbone.modules():
            if isinstance(m, DropPath):
                m.drop_prob = 0.0

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters frozen during the first training epochs (backbone incl. the C5 head conv)."""
        return list(self.backbone.parameters())

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: B×3×H×W in [-1, 1] (RGB, (pixel/255 - 0.5) / 0.5) → :class:`ModelOutput`."""
        feats = [self.tap_dropout(f) for f in self.backbone(x)]  # C5, C5-1, C4, C3
        f = self.decoder(feats)  # B, 112, H/4, W/4 (B4)
        return ModelOutput(
            cls=self.cls_head(f),  # B, 1
            heatmap=self.heatmap_head(f) if self.heatmap_head is not None else None,  # B, 1, H/4, W/4
            consistency=self.consistency_head(f) if self.consistency_head is not None else None,  # B, 256, H/4, W/4
        )


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (shared modules counted once)."""
    return sum(p.numel() for p in model.parameters())
