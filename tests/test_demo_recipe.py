"""The demo-weights recipe: training folder (no held-out photo in it) and the float16 export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from laanet.config import load_config
from laanet.demo.heldout import HELD_OUT
from laanet.demo.recipe import LOOKS, build_training_folder, export_weights, restyle
from laanet.models.checkpoint import load_model, save_model
from laanet.models.laanet import LAANet


def test_training_folder_holds_no_held_out_photo(tmp_path):
    files = build_training_folder(tmp_path / "train")
    names = {p.name for p in files}
    assert all(p.is_file() and p.parent == tmp_path / "train" for p in files)
    held = {h.rsplit(".", 1)[0] for h in HELD_OUT}
    assert not any(n.startswith(tuple(held)) for n in names)
    assert "obama_portrait_gray.jpg" in names and "astronaut_clip.mp4" in names and "clip_obama.mp4" in names


@pytest.mark.parametrize("look", LOOKS)
def test_restyle_keeps_shape_and_changes_the_photo(sample_arrays, look):
    image = sample_arrays["astronaut.jpg"]
    out = restyle(image, look, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    with pytest.raises(ValueError):
        restyle(image, "sepia", np.random.default_rng(0))


def test_export_is_float16_and_loads_back_close(tmp_path):
    torch.manual_seed(0)
    cfg = load_config("cpu-tiny", ["model.backbone=mobilenetv3_small_050", "model.input_size=64", "model.head_channels=32"])
    src = save_model(LAANet(cfg.model).eval(), tmp_path / "run.pt", step=7)
    out = export_weights(src, tmp_path / "demo.pt", name="laanet-demo")
    payload = torch.load(out, weights_only=True)
    assert all(v.dtype == torch.float16 for v in payload["model"].values() if v.is_floating_point())
    assert payload["meta"]["name"] == "laanet-demo" and payload["meta"]["step"] == 7
    a, b = load_model(src), load_model(out)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(a(x).cls, b(x).cls, atol=2e-2)
