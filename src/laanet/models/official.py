"""Key mapping between the official LAA-Net checkpoints and :class:`laanet.models.laanet.LAANet`.

The official state dict (what ``PoseEfficientNet`` in the official ``models/networks/pose_efficientNet.py``
saves) has 803 keys: the lukemelas
EfficientNet backbone (``_conv_stem``, ``_bn0``, ``_blocks.<i>``, ``_conv_head``, ``_bn1``), the decoder
``deconv_1..4``, the heads ``hm``/``cls``/``cstency``, and the inception block a second time under
``inception_block.*`` (one shared module registered twice). Released files store float64 values and may
prefix every key with ``module.`` (``nn.DataParallel``).
"""
from __future__ import annotations

import re

import torch
from torch import nn

# lukemelas block attribute -> timm attribute, for blocks with an expansion conv (InvertedResidual) ...
_IR_NAMES = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# ... and without one (expand ratio 1: DepthwiseSeparableConv).
_DS_NAMES = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_TOP_NAMES = {
    "_conv_stem": "backbone.body.conv_stem",
    "_bn0": "backbone.body.bn1",
    "_conv_head": "backbone.head.0",
    "_bn1": "backbone.head.1",
}
_HEAD_NAMES = {"hm": "heatmap_head", "cls": "cls_head", "cstency": "consistency_head"}
SHARED_PREFIX = "inception_block."  # duplicate of deconv_4.0.*
_BLOCK_RE = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


def is_official_state_dict(state: dict[str, torch.Tensor]) -> bool:
    keys = [k.removeprefix("module.") for k in state]
    return any(k.startswith("_blocks.") for k in keys) and any(k.startswith("deconv_1.") for k in keys)


def _flat_blocks(model: nn.Module) -> list[tuple[str, bool]]:
    """(timm block path, has expansion conv) for every backbone block, in order."""
    blocks = []
    for s, stage in enumerate(model.backbone.body.blocks):
        for j, block in enumerate(stage):
            blocks.append((f"backbone.body.blocks.{s}.{j}", hasattr(block, "conv_pwl")))
    return blocks


def official_to_laanet(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an official state dict to ``model``'s keys.

    Drops the duplicated ``inception_block.*`` keys after checking they equal ``deconv_4.0.*``.
    Raises ``KeyError`` naming any key that has no counterpart.
    """
    state = {k.removeprefix("module."): v for k, v in state.items()}
    blocks = _flat_blocks(model)
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key.startswith(SHARED_PREFIX):
            twin = "deconv_4.0." + key[len(SHARED_PREFIX):]
            if twin in state and not torch.equal(state[twin], value):
                raise ValueError(f"official checkpoint: shared inception weights differ ({key} vs {twin})")
            continue
        m = _BLOCK_RE.match(key)
        if m:
            idx, attr, rest = int(m.group(1)), m.group(2), m.group(3)
            if idx >= len(blocks):
                unknown.append(key)
                continue
            path, expands = blocks[idx]
            names = _IR_NAMES if expands else _DS_NAMES
            if attr not in names:
                unknown.append(key)
                continue
            out[f"{path}.{names[attr]}.{rest}"] = value
            continue
        head, _, rest = key.partition(".")
        if head in _TOP_NAMES:
            out[f"{_TOP_NAMES[head]}.{rest}"] = value
        elif head.startswith("deconv_"):
            out[f"decoder.{key}"] = value
        elif head in _HEAD_NAMES:
            out[f"{_HEAD_NAMES[head]}.{rest}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"{len(unknown)} official key(s) have no LAA-Net counterpart: {', '.join(unknown[:8])}")
    return out


def laanet_to_official_names(model: nn.Module) -> dict[str, list[str]]:
    """``model``'s state-dict key → its official key(s): the inverse of :func:`official_to_laanet`'s renaming.

    ``decoder.deconv_4.0.*`` (the shared inception block) maps to two official keys, ``deconv_4.0.*`` and
    ``inception_block.*``, in that order; every other key to one. Only for the official layout (B4 E-FPN).
    """
    blocks = {path: (i, expands) for i, (path, expands) in enumerate(_flat_blocks(model))}
    inverse = {v: k for k, v in _IR_NAMES.items()}, {v: k for k, v in _DS_NAMES.items()}
    top = {v: k for k, v in _TOP_NAMES.items()}
    heads = {v: k for k, v in _HEAD_NAMES.items()}
    out: dict[str, list[str]] = {}
    for key in model.state_dict():
        names: list[str] = []
        prefix = next((p for p in top if key.startswith(p + ".")), None)
        if prefix:
            names.append(top[prefix] + key[len(prefix):])
        elif key.startswith("backbone.body.blocks."):
            parts = key.split(".")
            path, rest = ".".join(parts[:5]), ".".join(parts[5:])
            if path not in blocks:
                raise KeyError(f"{key} has no official counterpart")
            index, expands = blocks[path]
            table = inverse[0] if expands else inverse[1]
            attr = next((a for a in table if rest.startswith(a + ".")), None)
            if attr is None:
                raise KeyError(f"{key} has no official counterpart")
            names.append(f"_blocks.{index}.{table[attr]}{rest[len(attr):]}")
        elif key.startswith("decoder.deconv_"):
            names.append(key.removeprefix("decoder."))
            if key.startswith("decoder.deconv_4.0."):
                names.append(SHARED_PREFIX + key.removeprefix("decoder.deconv_4.0."))
        elif key.split(".")[0] in heads:
            head, _, rest = key.partition(".")
            names.append(f"{heads[head]}.{rest}")
        else:
            raise KeyError(f"{key} has no official counterpart")
        out[key] = names
    return out
