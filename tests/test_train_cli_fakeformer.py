"""`laanet train --config fakeformer-vit-s8-sbi` end to end on the CPU (ViT-S/8 shrunk to 32 px by overrides)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"

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

    det = tmp_path / "detect"  # the training checkpoint is a weights file for detect
    result = CliRunner().invoke(app, ["detect", "--weights", str(out / "last.pt"), str(SAMPLES / "obama_portrait.jpg"),
                                      "--out", str(det)])
    assert result.exit_code == 0, result.output
    report = json.loads((det / "results.json").read_text())
    assert "obama_portrait" in json.dumps(report) and "fakeformer" in json.dumps(report)


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
    # BI pairs (laanet's pairing, data.bi_single_images=false) in FakeFormer's BI loader: the same item layout
    bi_set, _ = build_datasets(train_prep, load_config("fakeformer-vit-s8-sbi", [*TINY, "data.method=bi"]),
                               heatmap_size=model.heatmap_size, preprocess=model.preprocess)
    bi_item = bi_set[0]
    assert bi_item["image"].shape == (2, 3, 32, 32) and bi_item["heatmap"].shape == (2, 1, 4, 4)
    assert bi_item["label"].tolist() == [0.0, 1.0] and bi_item["heatmap"][1].max() == 1.0


def test_fakeswin_s_bi_trains_end_to_end(train_prep: Path, tmp_path: Path, caplog) -> None:
    """The full-size FakeSwin-S BI model (224 px, 768-channel head) for two steps of 2 single BI images each."""
    out = tmp_path / "run"
    args = ["train", "--config", "fakeswin-s-bi", "--data", str(train_prep), "--out", str(out), "--max-steps", "2",
            "--no-progress", "model.pretrained=false", "train.dtype=float32", "train.batch_size=2", "train.epochs=1",
            "data.frames_per_video=2", "data.val_frames_per_video=1", "data.workers=0"]
    with caplog.at_level("INFO", logger="laanet"):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "training images per epoch" in caplog.text  # one image per item: batch_size counts images
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["family"] == "fakeformer" and ckpt["step"] == 2
    cfg = ckpt["config"]
    assert cfg["model"]["arch"] == "swin_s" and cfg["data"]["method"] == "bi" and cfg["data"]["bi_single_images"]
    assert ckpt["model"]["heatmap_head.deconv.0.weight"].shape == (768, 768, 4, 4)
    # one epoch: start_decay 4 puts the peak at epoch 1 // 4 = 0, so epoch 0 runs at 250 × 1e-7
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2.5e-5)
