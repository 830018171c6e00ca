"""laanet's own checkpoints, ONNX export and the model CLI commands, on the tiny preset."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app
from laanet.config import load_config
from laanet.models.checkpoint import CheckpointError, load_model, save_model
from laanet.models.laanet import LAANet


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = LAANet(load_config("cpu-tiny").model).eval()
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_model(model, path, note="test")
    return path, model


def test_save_load_roundtrip(tiny_ckpt):
    path, model = tiny_ckpt
    loaded = load_model(path)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x).heatmap, model(x).heatmap)
    assert loaded.cfg == model.cfg and loaded.meta["note"] == "test"


def test_wrong_model_config_is_named(tmp_path, tiny_ckpt):
    path, _ = tiny_ckpt
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["fpn"] = "none"  # decoder widths change -> shape mismatches
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_model(tmp_path / "bad.pt")


def test_onnx_matches_eager(tmp_path, tiny_ckpt):
    from laanet.export.onnx import OnnxLAANet, export_onnx

    path, model = tiny_ckpt
    onnx_path = export_onnx(model, tmp_path / "tiny.onnx")
    runner = OnnxLAANet(onnx_path)
    assert runner.output_names == ["cls", "heatmap", "consistency"]
    assert runner.input_size == 128
    for batch in (1, 3):  # dynamic batch
        x = torch.rand(batch, 3, 128, 128) * 2 - 1
        with torch.no_grad():
            ref = model(x)
        got = runner(x)
        for a, b in zip(ref, got):
            assert a.shape == b.shape
            assert (a - b).abs().max() < 1e-3
    assert not model.training  # export must not flip the model to train mode


def test_cli_export_info_bench(tmp_path, tiny_ckpt):
    path, _ = tiny_ckpt
    runner = CliRunner()
    res = runner.invoke(app, ["export", "--weights", str(path), "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.onnx").is_file() and "max |onnx - eager|" in res.output
    res = runner.invoke(app, ["info", str(path)])
    assert res.exit_code == 0 and json.loads(res.output)["format"] == "laanet"
    res = runner.invoke(app, ["bench", "--weights", str(path), "--backends", "torch,onnx", "--batch-size", "2", "--runs", "1", "--warmup", "0", "--json"])
    assert res.exit_code == 0, res.output
    cpu, *rows = [json.loads(line) for line in res.output.strip().splitlines()]
    assert isinstance(cpu["cpu"]["flags"], list)
    assert [r["backend"] for r in rows] == ["torch", "onnx"]
    assert all(r["faces_per_s"] > 0 and r["peak_rss_mb"] > 0 and r["cpu_s"] > 0 for r in rows)


def test_cli_errors(tmp_path):
    runner = CliRunner()
    (tmp_path / "junk.pt").write_bytes(b"junk")
    res = runner.invoke(app, ["export", "--weights", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "not a readable" in res.output and "Expected a laanet checkpoint" in res.output
    res = runner.invoke(app, ["convert", str(tmp_path / "missing.pth"), str(tmp_path / "o.pt")])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["bench", "--backends", "tensorrt"])
    assert res.exit_code == 2


def test_saved_checkpoint_is_world_readable(tiny_ckpt):
    import os
    import stat

    path, _ = tiny_ckpt
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
