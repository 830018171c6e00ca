"""Backbone: a timm ``features_only`` model plus the C5 head conv, tapped at four scales.

LAA-Net taps EfficientNet-B4 (spec §1.2) at

=====  ===============================================  ====================
tap    source                                           B4 @ 384 px
=====  ===============================================  ====================
C3     end of stage 3                                   56 × 48 × 48  (/8)
C4     end of stage 5                                   160 × 24 × 24 (/16)
C5-1   last MBConv block (linear BN output)             448 × 12 × 12 (/32)
C5     head conv 1×1 448→1792 + BN + swish              1792 × 12 × 12 (/32)
=====  ===============================================  ====================

The first three come from timm's ``feature_info``; the head conv is not a timm feature, so it is added here
with its channels and reduction declared next to the others.

The official backbone pads every convolution with *static* TF-"same" padding computed for a 380-px input
(``image_size`` is never overridden for 384 px). :func:`apply_static_same_padding` reproduces that for timm's
``tf_*`` models, which otherwise pad dynamically; at 384 px exactly one convolution differs (the first
stage-3 depthwise conv: (2, 2) instead of (1, 2)).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d
from torch import nn

_log = logging.getLogger(__name__)

# timm name of the AdvProp ImageNet weights the paper's backbone starts from.
PRETRAINED_TAGS = {"tf_efficientnet_b4": "tf_efficientnet_b4.ap_in1k"}


class Conv2dStaticSame(nn.Conv2d):
    """``nn.Conv2d`` with a fixed asymmetric zero padding (left, right, top, bottom) applied before it.

    Keeps the parameter names of ``nn.Conv2d`` so that state dicts are interchangeable with timm's ``Conv2dSame``.
    """

    def __init__(self, conv: nn.Conv2d, pad: tuple[int, int, int, int]) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=0,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        self.pad = pad
        self.weight = conv.weight
        if conv.bias is not None:
            self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", static_pad={self.pad}"


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF "same" padding (before, after) for one spatial dimension of ``size`` pixels."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@torch.no_grad()
def apply_static_same_padding(body: nn.Module, image_size: int) -> int:
    """Replace every dynamic-"same" conv of ``body`` by a static one padded as for ``image_size`` px.

    The input size seen by each conv is recorded by one dummy forward at ``image_size``. Returns the number of
    convolutions replaced (0 for models without timm ``Conv2dSame``, e.g. non-``tf_`` variants).
    """
    from timm.layers import Conv2dSame

    targets = {name: m for name, m in body.named_modules() if isinstance(m, Conv2dSame)}
    if not targets:
        return 0
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:])))
        for name, m in targets.items()
    ]
    was_training = body.training
    body.eval()
    try:
        body(torch.zeros(1, 3, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
        body.train(was_training)
    for name, conv in targets.items():
        h, w = sizes[name]
        pad_h = _same_pad(h, conv.kernel_size[0], conv.stride[0], conv.dilation[0])
        pad_w = _same_pad(w, conv.kernel_size[1], conv.stride[1], conv.dilation[1])
        parent_name, _, child = name.rpartition(".")
        parent = body.get_submodule(parent_name) if parent_name else body
        setattr(parent, child, Conv2dStaticSame(conv, (pad_w[0], pad_w[1], pad_h[0], pad_h[1])))
    return len(targets)


class Backbone(nn.Module):
    """timm feature extractor (+ optional C5 head conv), returning its taps deepest first.

    Args:
        name: timm model name; must support ``features_only``.
        feature_indices: feature_info indices of the taps, shallowest first. LAA-Net/B4: C3, C4, C5-1
            (strides 8, 16, 32); the PoseResNet layout: C2, C3, C4, C5 (strides 4, 8, 16, 32).
        head_channels: output channels of a 1×1 conv + BN + SiLU on the deepest tap, appended as an extra
            deepest tap (EfficientNet's head conv, "C5" in spec §1.2); 0 = no head conv.
        static_padding_size: if set, pad ``tf_*`` convs statically as for this input size (official code: 380).
        drop_path_rate: stochastic-depth rate of the backbone blocks.
        pretrained: load timm's ImageNet weights (network access, or ``pretrained_path``).
        pretrained_path: local file holding a timm state dict for the full classification model.

    ``forward(x)`` takes B×3×H×W and returns the taps deepest first, e.g. ``[c5, c5_1, c4, c3]`` for B4.
    """

    def __init__(
        self,
        name: str,
        *,
        feature_indices: tuple[int, ...] = (2, 3, 4),
        head_channels: int = 1792,
        static_padding_size: int | None = None,
        drop_path_rate: float = 0.0,
        pretrained: bool = False,
        pretrained_path: str | None = None,
    ) -> None:
        super().__init__()
        kwargs: dict = {"features_only": True, "out_indices": tuple(feature_indices)}
        if drop_path_rate:
            kwargs["drop_path_rate"] = drop_path_rate
        if pretrained and pretrained_path:
            kwargs["pretrained_cfg_overlay"] = {"file": str(Path(pretrained_path).expanduser())}
        model_name = PRETRAINED_TAGS.get(name, name) if pretrained else name
        try:
            self.body = timm.create_model(model_name, pretrained=pretrained, **kwargs)
        except RuntimeError as err:  # timm raises RuntimeError for unknown models
            raise ValueError(f"cannot build timm backbone {name!r}: {err}") from err
        reductions = list(self.body.feature_info.reduction())
        if reductions[-3:] != [8, 16, 32]:
            raise ValueError(
                f"backbone {name!r} taps {list(feature_indices)} have reductions {reductions}; LAA-Net needs ..., 8, 16, 32"
            )
        if "efficientnet" in name:
            # Official B4: BN momentum 0.01 in PyTorch terms (TF decay 0.99), eps 1e-3 (spec §1.2).
            for m in self.body.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 0.01
        self.padded_convs = apply_static_same_padding(self.body, static_padding_size) if static_padding_size else 0

        channels = list(self.body.feature_info.channels())
        if head_channels:
            # C5: 1x1 conv + BN + SiLU over the deepest tap (EfficientNet's head conv; spec §1.2).
            self.head = nn.Sequential(
                nn.Conv2d(channels[-1], head_channels, 1, bias=False),
                BatchNormAct2d(head_channels, eps=1e-3, momentum=0.01, act_layer=nn.SiLU),
            )
            channels.append(head_channels)
            reductions.append(reductions[-1])
        else:
            self.head = None
        self.channels = channels[::-1]  # deepest first, e.g. [1792, 448, 160, 56] for B4
        self.reductions = reductions[::-1]  # e.g. [32, 32, 16, 8]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = self.body(x)  # shallowest first: B,56,H/8,W/8  B,160,H/16,W/16  B,448,H/32,W/32 (B4)
        if self.head is not None:
            taps.append(self.head(taps[-1]))  # B,1792,H/32,W/32 (B4)
        return taps[::-1]
