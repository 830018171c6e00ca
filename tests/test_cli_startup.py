"""The command line starts fast: no torch, timm or torchvision for --help, --version, or ONNX detection.

Each case runs the CLI in a fresh interpreter and lists the heavy modules it imported (import-time cost is what
matters, so this is a check of what is imported, not a timed test; timings are in benchmarks/).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "timm", "torchvision")
PROBE = """
import json, sys
from laanet.cli import app
try:
    app(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
else:
    code = 0
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def run_cli(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["detect", "--help"], ["eval", "--help"], ["serve", "--help"]])
def test_help_and_version_import_no_torch(args):
    got = run_cli(*args)
    assert got == {"code": 0, "heavy": []}


def test_version_prints_the_package_version():
    from laanet import __version__

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-m", "laanet", "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"laanet {__version__}"


def test_onnx_detection_imports_no_torch(tmp_path, sample_arrays):
    import cv2
    import torch

    from laanet.config import load_config
    from laanet.export.onnx import export_onnx
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    onnx_path = export_onnx(LAANet(load_config("cpu-tiny").model).eval(), tmp_path / "tiny.onnx")
    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), sample_arrays["grace_hopper.jpg"][..., ::-1])
    got = run_cli("detect", str(image), "--weights", str(onnx_path), "--backend", "onnx", "--out", str(tmp_path / "o"))
    assert got["code"] == 0
    assert json.loads((tmp_path / "o" / "results.json").read_text())["results"][0]["status"] == "ok"
    assert got["heavy"] == [], f"imported {got['heavy']} for an ONNX model"
