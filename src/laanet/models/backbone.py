"""Backbone: a timm ``features_only`` model plus the C5 head conv, tapped at four scales.

LAA-Net taps EfficientNet-B4 (official ``models/networks/pose_efficientNet.py``, ``extract_endpoints``) at

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

ImageNet weights (``pretrained`` / ``pretrained_path``) are loaded from the *classification* checkpoint into
the feature extractor **and** the head conv: timm's ``features_only`` model drops ``conv_head``/``bn2``, so
loading through it would leave C5 random, whereas the official backbone loads them (only the classifier is
dropped) and freezes them with the rest of the backbone. See :meth:`Backbone.load_classification_state`.

The official backbone pads every convolution with *static* TF-"same" padding computed for a 380-px input
(``image_size`` is never overridden for 384 px). :func:`apply_static_same_padding` reproduces that for timm's
``tf_*`` models, which otherwise pad dynamically; at 384 px exactly one convolution differs (the first
stage-3 depthwise conv: (2, 2) instead of (1, 2)).
"""
from __future__ import annotations

import logging
import math
import socket
from pathlib import Path
from urllib.parse import urlparse

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


def read_classification_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A timm classification state dict from a local ``.pth``/``.pt``/``.bin`` or ``.safetensors`` file.

    A dict wrapping it under ``state_dict``/``model`` and ``module.`` prefixes are accepted.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained_path: no such file: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load/safetensors raise many types for foreign or truncated files
        raise ValueError(f"model.pretrained_path {path}: not a readable state dict ({err})") from err
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"model.pretrained_path {path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection (a failed DNS lookup fails at once)."""
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def download_classification_state(tag: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of the timm classification model ``tag`` (Hugging Face cache, else a download).

    Offline and not cached, this fails at once (instead of huggingface_hub's minute of retries) with an error
    that names ``model.pretrained_path``.
    """
    import huggingface_hub
    from huggingface_hub import constants

    cfg = timm.models.get_pretrained_cfg(tag)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    cached = hub_id is not None and any(
        isinstance(huggingface_hub.try_to_load_from_cache(hub_id, name), str)
        for name in ("model.safetensors", "pytorch_model.bin")
    )
    if not cached and (constants.HF_HUB_OFFLINE or not _hub_reachable()):
        raise OSError(
            f"the ImageNet weights of {tag!r} are not in the Hugging Face cache and the Hub cannot be reached "
            "(offline?): download them once on a machine with internet access, or pass "
            "model.pretrained_path=FILE (a timm state dict of the classification model), or model.pretrained=false"
        )
    return timm.create_model(tag, pretrained=True).state_dict()


class Backbone(nn.Module):
    """timm feature extractor (+ optional C5 head conv), returning its taps deepest first.

    Args:
        name: timm model name; must support ``features_only``.
        feature_indices: feature_info indices of the taps, shallowest first. LAA-Net/B4: C3, C4, C5-1
            (strides 8, 16, 32); the PoseResNet layout: C2, C3, C4, C5 (strides 4, 8, 16, 32).
        head_channels: output channels of a 1×1 conv + BN + SiLU on the deepest tap, appended as an extra
            deepest tap (EfficientNet's head conv, "C5" in the official ``pose_efficientNet.py``); 0 = no head conv.
        static_padding_size: if set, pad ``tf_*`` convs statically as for this input size (official code: 380).
        drop_path_rate: stochastic-depth rate of the backbone blocks.
        pretrained: load timm's ImageNet weights (network access, or ``pretrained_path``) into every backbone
            tensor, the head conv included (see :meth:`load_classification_state`).
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
        self.name = name
        try:
            self.body = timm.create_model(name, pretrained=False, **kwargs)
        except RuntimeError as err:  # timm raises RuntimeError for unknown models
            raise ValueError(f"cannot build timm backbone {name!r}: {err}") from err
        reductions = list(self.body.feature_info.reduction())
        if reductions[-3:] != [8, 16, 32]:
            raise ValueError(
                f"backbone {name!r} taps {list(feature_indices)} have reductions {reductions}; LAA-Net needs ..., 8, 16, 32"
            )
        if "efficientnet" in name:
            # Official B4: BN momentum 1 - 0.99 in PyTorch terms (TF decay 0.99), eps 1e-3 (official
            # ``models/networks/efficientNet.py``).
            for m in self.body.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 1 - 0.99
        self.padded_convs = apply_static_same_padding(self.body, static_padding_size) if static_padding_size else 0

        channels = list(self.body.feature_info.channels())
        if head_channels:
            # C5: 1x1 conv + BN + SiLU over the deepest tap (EfficientNet's head conv, as in the official B4).
            self.head = nn.Sequential(
                nn.Conv2d(channels[-1], head_channels, 1, bias=False),
                BatchNormAct2d(head_channels, eps=1e-3, momentum=1 - 0.99, act_layer=nn.SiLU),
            )
            channels.append(head_channels)
            reductions.append(reductions[-1])
        else:
            self.head = None
        self.channels = channels[::-1]  # deepest first, e.g. [1792, 448, 160, 56] for B4
        self.reductions = reductions[::-1]  # e.g. [32, 32, 16, 8]
        if pretrained:
            if pretrained_path:
                state = read_classification_checkpoint(pretrained_path)
            else:
                state = download_classification_state(PRETRAINED_TAGS.get(name, name))
            self.load_classification_state(state)

    def _classifier_prefix(self) -> str:
        """Module name of the ImageNet classifier in the full timm model (``classifier`` / ``fc`` / ``head.fc``)."""
        cfg = getattr(self.body, "pretrained_cfg", None) or {}
        return str(cfg.get("classifier") or "classifier")

    @torch.no_grad()
    def load_classification_state(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy a timm *classification* state dict into the backbone: every tensor except the classifier.

        Feature-extractor tensors keep their timm names; the head conv's ``conv_head.*`` / ``bn2.*`` go to
        ``head.0.*`` / ``head.1.*``. A backbone tensor the file lacks is an error. Only the head conv may be
        skipped, when ``head_channels`` differs from the file's (a narrower C5 head, e.g. a demo model); that is
        logged as a warning, as are file tensors of modules ``features_only`` dropped (blocks deeper than the
        deepest tap).

        Returns the file keys that were loaded.
        """
        classifier = self._classifier_prefix() + "."
        own = {f"body.{k}": v for k, v in self.body.state_dict().items()}
        if self.head is not None:
            own.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        head_names = {"conv_head.": "head.0.", "bn2.": "head.1."} if self.head is not None else {}
        targets: dict[str, str] = {}  # file key -> own key
        unexpected = []
        for key in state:
            if key.startswith(classifier):
                continue
            head_prefix = next((p for p in head_names if key.startswith(p)), None)
            mapped = head_names[head_prefix] + key[len(head_prefix):] if head_prefix else f"body.{key}"
            if mapped in own:
                targets[key] = mapped
            else:
                unexpected.append(key)
        missing = sorted(set(own) - set(targets.values()))
        if missing:
            raise ValueError(f"ImageNet weights do not fit backbone {self.name!r}: {len(missing)} backbone tensor(s) "
                             f"missing from the file (e.g. {', '.join(missing[:4])})")
        if unexpected:  # e.g. blocks deeper than the deepest tap, which features_only drops
            _log.warning("backbone %s: %d ImageNet tensor(s) have no place in the feature extractor and are not used "
                         "(e.g. %s)", self.name, len(unexpected), ", ".join(unexpected[:4]))
        head_keys = [k for k, t in targets.items() if t.startswith("head.")]
        if any(state[k].shape != own[targets[k]].shape for k in head_keys):
            _log.warning("backbone %s: the ImageNet head conv has %d channels, model.head_channels is %d: the C5 head "
                         "conv starts from random weights", self.name, state["conv_head.weight"].shape[0],
                         own["head.0.weight"].shape[0])
            targets = {k: t for k, t in targets.items() if k not in head_keys}
        bad = [f"{k} {tuple(state[k].shape)} vs {tuple(own[t].shape)}" for k, t in targets.items() if state[k].shape != own[t].shape]
        if bad:
            raise ValueError(f"ImageNet weights do not fit backbone {self.name!r}: shape mismatch {'; '.join(bad[:4])}")
        for key, target in targets.items():
            own[target].copy_(state[key])  # state_dict tensors share storage with the parameters and buffers
        return list(targets)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = self.body(x)  # shallowest first: B,56,H/8,W/8  B,160,H/16,W/16  B,448,H/32,W/32 (B4)
        if self.head is not None:
            taps.append(self.head(taps[-1]))  # B,1792,H/32,W/32 (B4)
        return taps[::-1]
