"""Model runners: one call turns a batch of network inputs into cls logits and heatmaps, per backend.

``predict(x)`` takes B×3×S×S float32 in [-1, 1] and returns ``(logits (B,), heatmaps (B, S/4, S/4))`` with the
heatmaps as probabilities (sigmoid of the logits). With ``flip_test`` the input and its horizontal mirror go
through the network in one batch and their logits are averaged (cls and heatmap, as the official test).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch

_log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnx")


def _average_flip(cls: torch.Tensor, heatmap: torch.Tensor | None, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    logits = (cls[:n, 0] + cls[n:, 0]) / 2  # B
    heat = None
    if heatmap is not None:
        heat = torch.sigmoid((heatmap[:n, 0] + heatmap[n:, 0].flip(-1)) / 2)  # B, h, w
    return logits.float().numpy(), None if heat is None else heat.float().numpy()


class TorchRunner:
    """Eager PyTorch (float32; channels_last on CPU, which is ~1.5× faster there)."""

    name = "torch"

    def __init__(self, model, *, device: str = "cpu") -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.input_size = model.cfg.input_size
        self.meta = dict(getattr(model, "meta", {}))

    @torch.inference_mode()
    def predict(self, x: np.ndarray, *, flip_test: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        n = t.shape[0]
        if flip_test:
            t = torch.cat([t, t.flip(-1)])
        if self.device.type == "cpu":
            t = t.contiguous(memory_format=torch.channels_last)
        out = self.model(t)
        cls, heat = out.cls.float().cpu(), None if out.heatmap is None else out.heatmap.float().cpu()
        if flip_test:
            return _average_flip(cls, heat, n)
        return cls[:, 0].numpy(), None if heat is None else torch.sigmoid(heat[:, 0]).numpy()


class OnnxRunner:
    """ONNX Runtime on the CPU; exports the checkpoint once and caches the .onnx by content hash."""

    name = "onnx"

    def __init__(self, weights: str | os.PathLike, *, model=None) -> None:
        from laanet.export.onnx import OnnxLAANet

        path = Path(weights)
        if path.suffix != ".onnx":
            path = self._cached_export(path, model)
        self.session = OnnxLAANet(path)
        self.input_size = self.session.input_size
        self.meta = {**self.session.meta, "onnx": str(path)}

    @staticmethod
    def _cached_export(weights: Path, model) -> Path:
        from laanet.export.onnx import export_onnx
        from laanet.models.checkpoint import load_model

        digest = hashlib.sha256()
        with open(weights, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "laanet" / "onnx"
        target = cache / f"{digest.hexdigest()[:16]}.onnx"
        if not target.is_file():
            _log.info("exporting %s to ONNX (cached at %s)", weights, target)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            export_onnx(model if model is not None else load_model(weights), tmp)
            os.replace(tmp, target)
        return target

    def predict(self, x: np.ndarray, *, flip_test: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        n = x.shape[0]
        batch = np.concatenate([x, x[..., ::-1]]) if flip_test else x
        out = self.session(np.ascontiguousarray(batch, dtype=np.float32))
        if flip_test:
            return _average_flip(out.cls, out.heatmap, n)
        heat = None if out.heatmap is None else torch.sigmoid(out.heatmap[:, 0]).numpy()
        return out.cls[:, 0].numpy(), heat
