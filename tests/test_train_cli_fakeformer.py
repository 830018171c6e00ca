"""`laanet train --config fakeformer-vit-s8-sbi` end to end on the CPU (ViT-S/8 shrunk to 32 px by overrides)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the official recipe, made small: 32-px input (4×4 token grid, 4×4 heatmap), float32, 2 pairs per step
TINY = ["model.input_size=32", "model.pretrained=false", "train.dtype=float32", "train.batch_size=2", "train.epochs=2",
        "train.freeze_backbone_epochs=1", "data.frames_per_video=2", "data.val_frames_per_video=1", "data.workers=0",
        "train.hm_weight=10.0"]


def test_fakeformer_train_end_to_end(train_prep: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--config", "fakeformer-vit-s8-sbi", "--data", str(train_prep), "--out", str(out),
            "--max-steps", "3", "--no-progress", *TINY]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("last.pt", "best.pt", "config.yaml", "summary.csv"):
        assert (out / name).is_file(), name
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["family"] == "fakeformer" and ckpt["config"]["model"]["family"] == "fakeformer"
    assert ckpt["step"] == 3 and ckpt["config"]["train"]["optimizer"] == "adam"
    assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == 1e-4 and len(ckpt["optimizer"]["param_groups"]) == 1
    # epoch 0 froze the backbone: Adam has state only for the head's tensors after the first epoch's steps
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) >= 2

    from laanet.models.checkpoint import load_model

    model = load_model(out / "last.pt")
    assert model.family == "fakeformer" and model.heatmap_size == 4
    with torch.no_grad():
        output = model(torch.zeros(1, 3, 32, 32))
    assert output.cls.shape == (1, 1) and output.heatmap.shape == (1, 1, 4, 4) and output.consistency is None


def test_fakeformer_data_are_imagenet_normalised_token_grid_pairs(train_prep: Path) -> None:
    from laanet.config import load_config
    from laanet.models.family import build_model
    from laanet.training.dataset import build_datasets

    cfg = load_config("fakeformer-vit-s8-sbi", TINY)
    model = build_model(cfg.model)
    train_set, val_set = build_datasets(train_prep, cfg, heatmap_size=model.heatmap_size, preprocess=model.preprocess)
    item = train_set[0]
    assert item["image"].shape == (2, 3, 32, 32) and item["heatmap"].shape == (2, 1, 4, 4)
    assert item["label"].tolist() == [0.0, 1.0] and not item["heatmap"][0].any() and item["heatmap"][1].max() == 1.0
    # (x/255 − ImageNet mean)/std: un-normalised with the ImageNet mean/std, every value is a uint8 level again
    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    levels = (item["image"] * std + mean) * 255
    assert (levels - levels.round()).abs().max() < 1e-3 and levels.min() > -1e-3 and levels.max() < 255 + 1e-3
    with pytest.raises(ValueError, match="SBI only"):
        build_datasets(train_prep, load_config("fakeformer-vit-s8-sbi", [*TINY, "data.method=bi"]),
                       heatmap_size=model.heatmap_size, preprocess=model.preprocess)
