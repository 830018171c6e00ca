"""E-FPN decoder: gated fusion of low-level features into an upsampling path.

The layout is that of the official ``models/networks/pose_efficientNet.py``.

With the B4 taps C5 1792@/32, C5-1 448@/32, C4 160@/16, C3 56@/8 and ``fpn="efpn"``::

    y1 = ConvBNReLU3x3(1792 -> 448)(C5)                     # B, 448, H/32, W/32
    z1 = fuse(y1, C5-1)                                     # B, 896, H/32, W/32
    y2 = BN(ConvT4x4s2( ConvBNReLU3x3(896 -> 160)(z1) ))    # B, 160, H/16, W/16
    z2 = fuse(y2, C4)                                       # B, 320, H/16, W/16
    y3 = BN(ConvT4x4s2( ConvBNReLU3x3(320 -> 56)(z2) ))     # B, 56, H/8, W/8
    z3 = fuse(y3, C3)                                       # B, 112, H/8, W/8
    y4 = BN(ConvT4x4s2( Inception(112)(z3) ))               # B, 112, H/4, W/4
    F  = ReLU(y4)

where ``fuse(U, L) = concat(U, (1 - sigmoid(U)) * L)`` (E-FPN), ``concat(ReLU(U), L)`` (plain FPN) or just
``U`` (no FPN: lateral features unused, channel widths halve).
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_chs: int, out_chs: int, kernel_size: int) -> nn.Sequential:
    """Conv k×k (no bias, 'same' padding) → BN → ReLU; indices 0/1/2 as in the official state dict."""
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_chs),
        nn.ReLU(inplace=True),
    )


class InceptionBlock(nn.Module):
    """Four-branch inception block whose branches all reuse ONE pointwise block (official
    ``models/networks/common.py``).

    b1 = pw(x); b2 = conv3(pw(x)); b3 = conv5(pw(x)); b4 = pw(maxpool3(x)); out = concat(b1..b4).
    B×C×H×W → B×C×H×W, with C divisible by 4.

    In training the official block evaluates ``pw(x)`` three times (once per branch), so the running statistics
    of its BatchNorm move four times per forward (x, x, x, maxpool(x)) and ``num_batches_tracked`` grows by 4.
    That is the default. ``pw_once=True`` (laanet option) computes ``pw(x)`` once and reuses it: the same
    outputs and gradients, less compute, but the running statistics move twice per forward. In eval mode the
    three calls are identical, so ``pw(x)`` is always computed once there (outputs and ONNX graphs are the same
    either way).
    """

    def __init__(self, channels: int, *, pw_once: bool = False) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(f"inception channels must be divisible by 4, got {channels}")
        branch = channels // 4
        self.pw_once = pw_once
        self.pw_block = conv_bn_relu(channels, branch, 1)
        self.conv3_block = conv_bn_relu(branch, branch, 3)
        self.conv5_block = conv_bn_relu(branch, branch, 5)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self.pw_once:  # official: one pw call per branch (BN running stats move 3x on x)
            b1, b2, b3 = self.pw_block(x), self.conv3_block(self.pw_block(x)), self.conv5_block(self.pw_block(x))
        else:
            p = self.pw_block(x)  # B, C/4, H, W
            b1, b2, b3 = p, self.conv3_block(p), self.conv5_block(p)
        return torch.cat([b1, b2, b3, self.pw_block(self.pool(x))], dim=1)  # B, C, H, W


def upsample(channels: int, out_channels: int | None = None) -> list[nn.Module]:
    """ConvTranspose 4×4 stride 2 (no bias) → BN, without ReLU (as in the official decoder)."""
    out_channels = out_channels or channels
    return [nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_channels)]


class GatedFusion(nn.Module):
    """E-FPN redundancy filter: ``concat(U, (1 - sigmoid(U)) * L)``; B×C×H×W, B×C×H×W → B×2C×H×W."""

    def forward(self, up: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        return torch.cat([up, (1 - torch.sigmoid(up)) * lateral], dim=1)


class ConcatFusion(nn.Module):
    """Plain FPN fusion: ``concat(ReLU(U), L)``; B×C×H×W, B×C×H×W → B×2C×H×W."""

    def forward(self, up: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(up), lateral], dim=1)


class NoFusion(nn.Module):
    """No lateral connection: returns ``U`` unchanged."""

    def forward(self, up: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        return up


class Decoder(nn.Module):
    """E-FPN / FPN / plain decoder from the four backbone taps to a stride-4 feature map.

    Args:
        in_channels: channels of ``[C5, C5-1, C4, C3]`` (e.g. ``[1792, 448, 160, 56]``).
        fpn: ``"efpn"`` (gated fusion), ``"fpn"`` (concat without gate) or ``"none"``.
        inception_pw_once: compute the inception block's shared point-wise block once (see
            :class:`InceptionBlock`; official: once per branch).

    ``forward([c5, c5_1, c4, c3])`` returns B×``out_channels``×H/4×W/4 (112 for B4 with a FPN).
    Module names follow the official ``deconv_1..4`` stages so checkpoints map one-to-one.
    """

    def __init__(self, in_channels: list[int], *, fpn: str = "efpn", inception_pw_once: bool = False) -> None:
        super().__init__()
        fusions = {"efpn": GatedFusion, "fpn": ConcatFusion, "none": NoFusion}
        if fpn not in fusions:
            raise ValueError(f"fpn must be one of {sorted(fusions)}, got {fpn!r}")
        c5, c5_1, c4, c3 = in_channels
        widen = 1 if fpn == "none" else 2  # fusion concatenates U with a same-width lateral map
        self.fuse = fusions[fpn]()
        self.deconv_1 = nn.Sequential(conv_bn_relu(c5, c5_1, 3))  # no upsampling at /32
        self.deconv_2 = nn.Sequential(conv_bn_relu(widen * c5_1, c4, 3), *upsample(c4))
        self.deconv_3 = nn.Sequential(conv_bn_relu(widen * c4, c3, 3), *upsample(c3))
        self.deconv_4 = nn.Sequential(InceptionBlock(widen * c3, pw_once=inception_pw_once), *upsample(widen * c3))
        self.out_channels = widen * c3

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        c5, c5_1, c4, c3 = feats
        y1 = self.deconv_1(c5)  # B, 448, H/32, W/32 (post-ReLU, so sigmoid(y1) in [0.5, 1))
        z1 = self.fuse(y1, c5_1)  # B, 896, H/32, W/32
        y2 = self.deconv_2(z1)  # B, 160, H/16, W/16
        z2 = self.fuse(y2, c4)  # B, 320, H/16, W/16
        y3 = self.deconv_3(z2)  # B, 56, H/8, W/8
        z3 = self.fuse(y3, c3)  # B, 112, H/8, W/8
        return torch.relu(self.deconv_4(z3))  # B, 112, H/4, W/4

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official init (``PoseEfficientNet.init_weights``): ConvT ~ N(0, sqrt(2/(k·k·out))), BN weight 1 / bias 0;
        convs keep defaults."""
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, std=(2.0 / (k * m.out_channels)) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
