"""`laanet prepare folder` → `laanet train --config cpu-tiny --max-steps 3` → `OUT/last.pt` → `laanet detect`;
CLI errors; `python -m laanet`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def prep(train_prep) -> Path:
    return train_prep


def test_prepare_train_detect_end_to_end(prep, tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", "cpu-tiny", "--data", str(prep), "--out", str(out), "--max-steps", "3", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "done: 3 steps" in result.output
    for name in ("last.pt", "best.pt", "config.yaml", "summary.csv"):
        assert (out / name).is_file(), name
    assert list((out / "tb").iterdir()), "no TensorBoard events"
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["config"]["model"]["backbone"] == "efficientnet_b0"
    assert set(ckpt["rng"][0]) == {"python", "numpy", "torch", "cuda"}

    from laanet.models.checkpoint import load_model

    model = load_model(out / "last.pt")
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 128, 128)).cls
    assert logits.shape == (1, 1) and torch.isfinite(logits).all()

    det_out = tmp_path / "detect"
    result = runner.invoke(app, ["detect", "--weights", str(out / "last.pt"), str(SAMPLES / "obama_portrait.jpg"), "--out", str(det_out)])
    assert result.exit_code == 0, result.output
    report = json.loads((det_out / "results.json").read_text())
    assert "obama_portrait" in json.dumps(report)


def test_cli_errors(prep, tmp_path):
    runner = CliRunner()
    base = ["train", "--config", "cpu-tiny", "--data", str(prep), "--out", str(tmp_path / "run"), "--no-progress"]
    result = runner.invoke(app, base + ["train.lr_typo=1"])
    assert result.exit_code == 2 and "train.lr" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--config", "cpu-tiny", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no prepared index" in result.output
    result = runner.invoke(app, base + ["--resume"])
    assert result.exit_code == 1 and "no checkpoint" in result.output
    result = runner.invoke(app, ["train", "--config", "no-such-preset", "--data", str(prep), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown config" in result.output


def test_python_dash_m_laanet():
    result = subprocess.run([sys.executable, "-m", "laanet", "train", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--max-steps" in result.stdout
