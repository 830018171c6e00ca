"""The official ResNet-50 E-FPN variant (``PoseResNet``, official ``models/networks/mrsa_resnet.py``): an older
LAA-Net layout kept for ablations.

Taps C5 2048@/32, C4 1024@/16, C3 512@/8, C2 256@/4 (input 256 px, heatmap 64×64). Each lateral map goes
through a pointwise block before the gated fusion::

    u4 = BN(ConvT4x4s2( pw(2048 -> 1024)(C5) ))       # B, 256, H/16, W/16
    z4 = fuse(u4, pw(1024 -> 256)(C4))                 # B, 512, H/16, W/16
    u3 = BN(ConvT4x4s2( pw(512 -> 512)(z4) ))          # B, 128, H/8, W/8
    z3 = fuse(u3, pw(512 -> 128)(C3))                  # B, 256, H/8, W/8
    u2 = BN(ConvT4x4s2( Inception(256)(z3) ))          # B, 256, H/4, W/4
    F  = pw(512 -> 256)( fuse(u2, C2) )                # B, 256, H/4, W/4

With ``model.layout=pose_resnet``, ``backbone=resnet50``, ``feature_indices=[1,2,3,4]``, ``head_channels=0`` and
``input_size=256`` the whole model has 33,238,914 parameters, as the official module with ``use_c2=True``.
"""
from __future__ import annotations

import torch
from torch import nn

from laanet.models.decoder import ConcatFusion, Decoder, GatedFusion, InceptionBlock, conv_bn_relu, upsample


class PoseResNetDecoder(nn.Module):
    """``forward([c5, c4, c3, c2])`` → B×C2×H/4×W/4 (256 for ResNet-50)."""

    def __init__(self, in_channels: list[int], *, fpn: str = "efpn", inception_pw_once: bool = False) -> None:
        super().__init__()
        fusions = {"efpn": GatedFusion, "fpn": ConcatFusion}
        if fpn not in fusions or len(in_channels) != 4:
            raise ValueError(f"the pose_resnet layout needs fpn in {sorted(fusions)} and 4 taps (C5..C2), got {fpn!r}, {in_channels}")
        c5, c4, c3, c2 = in_channels
        self.fuse = fusions[fpn]()
        self.up4 = nn.Sequential(conv_bn_relu(c5, c5 // 2, 1), *upsample(c5 // 2, c4 // 4))
        self.lateral4 = conv_bn_relu(c4, c4 // 4, 1)
        self.up3 = nn.Sequential(conv_bn_relu(c4 // 2, c4 // 2, 1), *upsample(c4 // 2, c3 // 4))
        self.lateral3 = conv_bn_relu(c3, c3 // 4, 1)
        self.up2 = nn.Sequential(InceptionBlock(c3 // 2, pw_once=inception_pw_once), *upsample(c3 // 2, c2))
        self.project = conv_bn_relu(2 * c2, c2, 1)
        self.out_channels = c2

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        c5, c4, c3, c2 = feats
        z4 = self.fuse(self.up4(c5), self.lateral4(c4))  # B, 512, H/16, W/16
        z3 = self.fuse(self.up3(z4), self.lateral3(c3))  # B, 256, H/8, W/8
        z2 = self.fuse(self.up2(z3), c2)  # B, 512, H/4, W/4
        return self.project(z2)  # B, 256, H/4, W/4

    @torch.no_grad()
    def init_weights(self) -> None:
        """ConvT ~ N(0, sqrt(2/(k·k·out))), BN weight 1 / bias 0 (the official loop over pw blocks is a no-op)."""
        Decoder.init_weights(self)

