"""Key mapping between the authors' FakeFormer / FakeSwin checkpoints and :class:`laanet.models.fakeformer.FakeFormer`.

The official model (``TopDownDetector`` of github.com/10Ring/LAA-Former, ``models/networks/detectors/topdown.py``)
saves ``backbone.*`` (its own ViT, ``backbones/vit.py``, or mmseg-style Swin, ``backbones/swin.py``) and
``keypoint_head.*`` (``heads/hm_simple_head.py``): ``hm.0.0`` conv3×3 (no bias), ``hm.0.1`` BatchNorm, ``hm.1``
conv3×3 → 1, ``cls.1`` Linear, and for Swin ``deconv_layers.0`` ConvTranspose2d + ``deconv_layers.1`` BatchNorm.
The ViT backbone has timm's ``vit_*`` parameter names exactly; the Swin backbone is renamed to timm's
``swin_*`` names, with the patch-merging 4·C axis reordered: the official merge (``nn.Unfold(2×2)``) lays the
vector out channel-major, each channel's 4 positions in the order (0,0), (0,1), (1,0), (1,1) (row, col); timm
(as the original Swin) position-major in the order (0,0), (1,0), (0,1), (1,1). The official per-stage norms
``norm0..norm2`` are unused by the model (dropped); ``norm3`` is timm's final ``norm``; the
``relative_position_index`` buffers are recomputed by timm (identical).
"""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from laanet.config import FakeFormerConfig

_HEAD = {
    "keypoint_head.cls.1.": "cls_head.",
    "keypoint_head.hm.0.0.": "heatmap_head.conv.0.",
    "keypoint_head.hm.0.1.": "heatmap_head.conv.1.",
    "keypoint_head.hm.1.": "heatmap_head.out.",
    "keypoint_head.deconv_layers.0.": "heatmap_head.deconv.0.",
    "keypoint_head.deconv_layers.1.": "heatmap_head.deconv.1.",
}
_SWIN_BLOCK = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.(.+)$")
_SWIN_DOWN = re.compile(r"^stages\.(\d+)\.downsample\.(.+)$")
_SWIN_BLOCK_NAMES = {"attn.w_msa.": "attn.", "ffn.layers.0.0.": "mlp.fc1.", "ffn.layers.1.": "mlp.fc2."}
_SWIN_DIMS = {96: ("swin_t", "swin_s"), 128: ("swin_b",)}
_VIT_ARCH = {384: "vit_s8", 768: "vit_b16", 1024: "vit_l16"}


def strip_module(state: dict[str, Any]) -> dict[str, Any]:
    """Drop the ``module.`` prefix ``nn.DataParallel`` adds (every key or none)."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def is_official_state_dict(state: dict[str, Any]) -> bool:
    keys = [k.removeprefix("module.") for k in state]
    return any(k.startswith("backbone.") for k in keys) and any(k.startswith("keypoint_head.") for k in keys)


def is_swin(state: dict[str, Any]) -> bool:
    return any(k.removeprefix("module.").startswith("backbone.stages.") for k in state)


def official_config(state: dict[str, Any]) -> FakeFormerConfig:
    """The :class:`FakeFormerConfig` of the model an official state dict fits: ViT vs Swin from the keys,
    S/B/L (T/S/B) and the patch size, input size and head widths from the shapes."""
    state = strip_module(state)
    has_hm = "keypoint_head.hm.1.weight" in state
    if is_swin(state):
        dim = state["backbone.patch_embed.projection.weight"].shape[0]
        if dim not in _SWIN_DIMS:
            raise KeyError(f"FakeSwin checkpoint with patch-embedding width {dim}: only 96 (T/S) and 128 (B) exist")
        depth3 = len({int(m.group(1)) for k in state if (m := re.match(r"^backbone\.stages\.2\.blocks\.(\d+)\.", k))})
        arch = "swin_t" if dim == 96 and depth3 == 6 else ("swin_s" if dim == 96 else "swin_b")
        deconv = state.get("keypoint_head.deconv_layers.0.weight")
        return FakeFormerConfig(
            arch=arch, input_size=224, drop_path_rate=0.2, heatmap_head=has_hm,
            deconv_channels=None if deconv is None else int(deconv.shape[1]), pretrained=False,
        )
    proj = state["backbone.patch_embed.proj.weight"]
    dim, patch = int(proj.shape[0]), int(proj.shape[-1])
    if dim not in _VIT_ARCH or (dim == 384) != (patch == 8):
        raise KeyError(f"FakeFormer ViT checkpoint with width {dim} and patch {patch}: expected ViT-S/8, B/16 or L/16")
    tokens = int(state["backbone.pos_embed"].shape[1]) - 1
    grid = int(round(tokens**0.5))
    if grid * grid != tokens:
        raise KeyError(f"backbone.pos_embed has {tokens} patch positions, not a square grid")
    arch = _VIT_ARCH[dim]
    return FakeFormerConfig(
        arch=arch, input_size=grid * patch, drop_path_rate={"vit_s8": 0.2, "vit_b16": 0.3, "vit_l16": 0.0}[arch],
        heatmap_head=has_hm, pretrained=False,
    )


def _merge_official_to_timm(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Reorder a 4·C axis from the official Unfold layout (C, row, col) to timm's (col, row, C)."""
    t = t.movedim(dim, -1)
    c = t.shape[-1] // 4
    t = t.reshape(*t.shape[:-1], c, 2, 2).permute(*range(t.dim() - 1), -1, -2, -3).reshape(*t.shape[:-1], 4 * c)
    return t.movedim(-1, dim).contiguous()


def _merge_timm_to_official(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Inverse of :func:`_merge_official_to_timm`."""
    t = t.movedim(dim, -1)
    c = t.shape[-1] // 4
    t = t.reshape(*t.shape[:-1], 2, 2, c).permute(*range(t.dim() - 1), -1, -2, -3).reshape(*t.shape[:-1], 4 * c)
    return t.movedim(-1, dim).contiguous()


def _swin_backbone_key(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    """Official Swin backbone key (without ``backbone.``) → timm key and value; None = dropped."""
    if key.startswith("patch_embed.projection."):
        return "patch_embed.proj." + key.removeprefix("patch_embed.projection."), value
    if key.startswith("patch_embed.norm."):
        return key, value
    if key.startswith("norm3."):
        return "norm." + key.removeprefix("norm3."), value
    if re.match(r"^norm[012]\.", key):
        return None  # per-stage output norms the model never uses
    m = _SWIN_BLOCK.match(key)
    if m:
        stage, block, rest = m.groups()
        if rest.endswith("relative_position_index"):
            return None  # timm recomputes the same buffer
        for old, new in _SWIN_BLOCK_NAMES.items():
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        return f"layers.{stage}.blocks.{block}.{rest}", value
    m = _SWIN_DOWN.match(key)
    if m:
        stage, rest = int(m.group(1)), m.group(2)
        if rest == "reduction.weight":
            value = _merge_official_to_timm(value, dim=1)
        elif rest in ("norm.weight", "norm.bias"):
            value = _merge_official_to_timm(value, dim=0)
        else:
            raise KeyError(key)
        return f"layers.{stage + 1}.downsample.{rest}", value
    raise KeyError(key)


def official_to_laanet(state: dict[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Rename an official state dict to :class:`~laanet.models.fakeformer.FakeFormer` keys (values unchanged except
    the Swin merge reorder). Raises ``KeyError`` naming the keys that have no counterpart."""
    state = strip_module(state)
    swin = is_swin(state)
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key.startswith("backbone."):
            sub = key.removeprefix("backbone.")
            if not swin:
                out["backbone." + sub] = value
                continue
            try:
                mapped = _swin_backbone_key(sub, value)
            except KeyError:
                unknown.append(key)
                continue
            if mapped is not None:
                out["backbone." + mapped[0]] = mapped[1]
            continue
        prefix = next((p for p in _HEAD if key.startswith(p)), None)
        if prefix is None:
            unknown.append(key)
            continue
        out[_HEAD[prefix] + key[len(prefix):]] = value
    if unknown:
        raise KeyError(f"{len(unknown)} official key(s) have no FakeFormer counterpart: {', '.join(unknown[:8])}")
    return out


def laanet_to_official(state: dict[str, torch.Tensor], *, swin: bool) -> dict[str, torch.Tensor]:
    """Inverse renaming (laanet FakeFormer keys → official keys), e.g. to compare with official per-key figures.
    The official Swin's unused ``norm0..2`` and the ``relative_position_index`` buffers are not produced."""
    head = {v: k for k, v in _HEAD.items()}
    block = {v: k for k, v in _SWIN_BLOCK_NAMES.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        prefix = next((p for p in head if key.startswith(p)), None)
        if prefix is not None:
            out[head[prefix] + key[len(prefix):]] = value
            continue
        if not key.startswith("backbone."):
            raise KeyError(f"{key} has no official counterpart")
        sub = key.removeprefix("backbone.")
        if not swin:
            out[key] = value
            continue
        if sub.startswith("patch_embed.proj."):
            sub = "patch_embed.projection." + sub.removeprefix("patch_embed.proj.")
        elif sub.startswith("norm."):
            sub = "norm3." + sub.removeprefix("norm.")
        elif m := re.match(r"^layers\.(\d+)\.downsample\.(.+)$", sub):
            stage, rest = int(m.group(1)), m.group(2)
            value = _merge_timm_to_official(value, dim=1 if rest == "reduction.weight" else 0)
            sub = f"stages.{stage - 1}.downsample.{rest}"
        elif m := re.match(r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$", sub):
            stage, blk, rest = m.groups()
            for new, old in block.items():
                if rest.startswith(new):
                    rest = old + rest[len(new):]
                    break
            sub = f"stages.{stage}.blocks.{blk}.{rest}"
        out["backbone." + sub] = value
    return out
