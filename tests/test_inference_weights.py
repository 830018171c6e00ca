"""Weights that cannot work are refused at load with a clear error; the ONNX path never imports torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from laanet.config import load_config
from laanet.inference.detector import Detector
from laanet.models.checkpoint import load_model, save_model
from laanet.models.errors import CheckpointError
from laanet.models.laanet import LAANet


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = LAANet(load_config("cpu-tiny").model)
    with torch.no_grad():
        next(iter(model.decoder.parameters())).fill_(float("nan"))  # one tensor is enough to poison every output
    return save_model(model, tmp_path_factory.mktemp("nan") / "nan.pt")


def test_non_finite_checkpoint_is_refused(nan_weights, tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="non-finite.*decoder"):
        load_model(nan_weights)
    with pytest.raises(CheckpointError, match="non-finite"):
        Detector(nan_weights)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="non-finite"):
        Detector(nan_weights, backend="onnx")  # refused before the export
    assert not list(tmp_path.rglob("*.onnx"))


def test_non_finite_onnx_is_refused(nan_weights, tmp_path):
    from laanet.export.onnx import export_onnx

    model = LAANet(load_config("cpu-tiny").model)
    with torch.no_grad():
        next(iter(model.decoder.parameters())).fill_(float("nan"))
    path = export_onnx(model, tmp_path / "nan.onnx")
    with pytest.raises(CheckpointError, match="non-finite"):
        Detector(path, backend="onnx")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x08\x07" + os.urandom(300)])
def test_garbage_onnx_is_a_clear_error(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        Detector(path, backend="onnx")
    with pytest.raises(ValueError, match="backend='onnx'"):
        Detector(path)


def test_onnx_backend_never_imports_torch(tiny_weights, media_dir, tmp_path, monkeypatch):
    """With an exported .onnx, or a checkpoint whose export is cached, detect runs without torch or timm."""
    from laanet.inference.provenance import file_sha256
    from laanet.inference.runner import cached_export

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    exported = cached_export(tiny_weights, file_sha256(tiny_weights))  # with torch, here
    assert exported.parent == cache / "laanet" / "onnx"
    code = textwrap.dedent(
        f"""
        import json, sys
        from laanet import Detector
        out = {{}}
        for weights in ({str(exported)!r}, {str(tiny_weights)!r}):
            res = Detector(weights, backend="onnx", frames=2).detect({str(media_dir / "multi_face.jpg")!r})
            out[weights] = res.status
        out["heavy"] = sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)
        print(json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], out
    assert out[str(exported)] == out[str(tiny_weights)] == "ok"


def test_flip_test_averages_logits_and_unflips_the_mirrored_heatmap():
    from laanet.inference.runner import combine_outputs

    rng = np.random.default_rng(0)
    heat = rng.normal(size=(2, 1, 4, 5)).astype(np.float32)  # logits of the crop (asymmetric)
    cls = np.array([[1.0], [-3.0]], np.float32)
    mirrored = heat[..., ::-1]  # what the network gives for the mirrored crop of an equivariant model
    logits, prob = combine_outputs(np.concatenate([cls, cls + 1]), np.concatenate([heat, mirrored]), 2, True)
    assert np.allclose(logits, [1.5, -2.5])
    assert np.allclose(prob, 1 / (1 + np.exp(-heat[:, 0])), atol=1e-6)  # flipped back before averaging
    plain_logits, plain_prob = combine_outputs(cls, heat, 2, False)
    assert np.allclose(plain_logits, [1.0, -3.0]) and np.allclose(plain_prob, 1 / (1 + np.exp(-heat[:, 0])), atol=1e-6)
