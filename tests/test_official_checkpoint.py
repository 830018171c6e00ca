"""The authors' checkpoint layout loads and reproduces the official outputs (fixtures from the official code)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from laanet.models.checkpoint import CheckpointError, convert_official, load_model, save_model

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "official_b4"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")


@pytest.fixture(scope="module")
def io():
    return torch.load(FIXTURES / "io.pt", weights_only=True)


@pytest.fixture(scope="module")
def official64():
    return load_model(FIXTURES / "checkpoint.pt", dtype=torch.float64)


def test_keys_cover_official_layout(official64):
    keys = [line.split("\t")[0] for line in (FIXTURES / "keys.tsv").read_text().splitlines()[1:]]
    assert len(keys) == 803
    assert len(official64.state_dict()) == 803 - 18  # the shared inception block is stored once
    assert official64.meta["format"] == "official"


def test_parity_float64(official64, io):
    with torch.no_grad():
        out = official64(io["input"].double())
        flipped = official64(io["input"].double().flip(-1))
    assert (out.cls - io["cls"]).abs().max() < 1e-5
    assert (out.heatmap - io["hm"]).abs().max() < 1e-5
    assert (out.consistency[:, :, ::4, ::4] - io["cstency_every4th_pixel"]).abs().max() < 1e-5
    assert ((out.cls + flipped.cls) / 2 - io["cls_flip_test_mean_logit"]).abs().max() < 1e-5


def test_dynamic_padding_would_break_parity(io):
    """Guard: the static-380 padding quirk matters; timm's dynamic padding does not reproduce the outputs."""
    from laanet.models.laanet import LAANet
    from laanet.models.official import official_to_laanet

    from laanet.config import ModelConfig

    model = LAANet(ModelConfig(pretrained=False, static_padding_size=None)).double().eval()
    state = torch.load(FIXTURES / "checkpoint.pt", weights_only=True)["state_dict"]
    model.load_state_dict({k: v.double() for k, v in official_to_laanet(state, model).items()})
    with torch.no_grad():
        out = model(io["input"].double())
    assert (out.heatmap - io["hm"]).abs().max() > 1e-4


def test_module_prefix_and_float64(tmp_path, io):
    ckpt = torch.load(FIXTURES / "checkpoint.pt", weights_only=True)
    sd = {f"module.{k}": (v.double() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    path = tmp_path / "released.pth"
    torch.save({"epoch": 19, "state_dict": sd}, path)
    model = load_model(path)
    assert model.meta["epoch"] == 19 and next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        out = model(io["input"])
    assert (out.cls - io["cls"]).abs().max() < 1e-3


def test_convert_roundtrip(tmp_path, io, official64):
    dst = convert_official(FIXTURES / "checkpoint.pt", tmp_path / "converted.pt")
    model = load_model(dst, dtype=torch.float64)
    assert model.meta["format"] == "laanet" and model.meta["converted_from"] == "official"
    with torch.no_grad():
        assert torch.equal(model(io["input"].double()).cls, official64(io["input"].double()).cls)


def test_bad_checkpoints(tmp_path):
    ckpt = torch.load(FIXTURES / "checkpoint.pt", weights_only=True)
    missing = dict(ckpt["state_dict"])
    del missing["hm.3.bias"]
    torch.save({"epoch": 1, "state_dict": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="heatmap_head.3.bias"):
        load_model(tmp_path / "missing.pth")
    extra = dict(ckpt["state_dict"], **{"offset.0.weight": torch.zeros(1)})
    torch.save({"epoch": 1, "state_dict": extra}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="offset.0.weight"):
        load_model(tmp_path / "extra.pth")
    data = (FIXTURES / "checkpoint.pt").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(tmp_path / "truncated.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "junk.pth")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="unknown checkpoint layout"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pt")
