"""Model runners: one call turns a batch of network inputs into cls logits and heatmaps, per backend.

``predict(x)`` takes B×3×S×S float32 inputs (made with the runner's ``preprocess``) and returns
``(logits (B,), heatmaps (B, G, G))`` as numpy, the heatmaps as probabilities (sigmoid of the logits),
G = the model's heatmap grid (96 for LAA-Net-B4 at 384 px, 14 for FakeFormer ViT-S/8 at 112 px).

Every runner states the model it runs: ``family``, ``model_name``, ``preprocess``
(:class:`~laanet.models.family.Preprocess`), ``input_size``; from the model (torch) or from the ONNX metadata.

Flip test (both families): the input and its horizontal mirror go through the network in one batch and their
logits are averaged, as the official tests do. The mirrored heatmap is flipped back before averaging, so the map
stays aligned with the face: LAA-Net's official test does the same; FakeFormer's official test
(``scripts/test.py``) averages the mirrored map *without* flipping it back; laanet un-flips it for both (the
score, from ``cls``, is the same either way).

Importing this module imports neither torch nor onnxruntime: :class:`TorchRunner` imports torch when built,
and :class:`OnnxRunner` on a ``.onnx`` file never does (a ``.pt`` is exported once, with torch, and cached).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from laanet.inference.provenance import file_sha256
from laanet.models.errors import CheckpointError
from laanet.models.family import Preprocess, get_family

_log = logging.getLogger(__name__)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def combine_outputs(cls: np.ndarray, heatmap: np.ndarray | None, n: int, flip_test: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw network outputs → (B logits, B×h×w heatmap probabilities).

    ``cls``: (B or 2B)×1 logits; ``heatmap``: (B or 2B)×1×h×w logits or None. With ``flip_test`` the second
    half of the batch is the mirror of the first: logits are averaged, the mirrored heatmap flipped back first.
    """
    if not flip_test:
        return cls[:, 0].astype(np.float32), None if heatmap is None else _sigmoid(heatmap[:, 0])
    logits = (cls[:n, 0] + cls[n:, 0]) / 2
    heat = None if heatmap is None else _sigmoid((heatmap[:n, 0] + heatmap[n:, 0, :, ::-1]) / 2)
    return logits.astype(np.float32), heat


def _with_mirror(x: np.ndarray, flip_test: bool) -> np.ndarray:
    return np.concatenate([x, x[..., ::-1]]) if flip_test else x


class TorchRunner:
    """Eager PyTorch (float32; channels_last on CPU, which is ~1.5× faster there).

    Args:
        model: a model of any family (``laanet.models.family``), moved to ``device``, eval mode.
        device: a resolved device name (``laanet.device.resolve_device``).
    """

    name = "torch"

    def __init__(self, model, *, device: str = "cpu") -> None:
        import torch

        from laanet.device import resolve_device

        self.device = torch.device(resolve_device(device))
        self.model = model.to(self.device).eval()
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.preprocess: Preprocess = model.preprocess
        self.input_size = self.preprocess.input_size
        self.family: str = model.family
        self.model_name: str = get_family(model.family).model_name(model.cfg)
        self.meta: dict[str, Any] = dict(getattr(model, "meta", {}))

    def predict(self, x: np.ndarray, *, flip_test: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        n = x.shape[0]
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(_with_mirror(x, flip_test))).to(self.device)
            if self.device.type == "cpu":
                t = t.contiguous(memory_format=torch.channels_last)
            out = self.model(t)
            cls = out.cls.float().cpu().numpy()
            heat = None if out.heatmap is None else out.heatmap.float().cpu().numpy()
        return combine_outputs(cls, heat, n, flip_test)


class OnnxRunner:
    """ONNX Runtime on the CPU, on a ``.onnx`` file or on a checkpoint exported once and cached by content hash.

    Args:
        weights: a ``.onnx`` from ``laanet export`` (used as is, no torch), or a laanet/official checkpoint.
        sha256: the checkpoint's SHA-256 if already known (the cache key; computed otherwise).
        model: an already loaded model for ``weights`` (saves loading it again for the export).
    """

    name = "onnx"

    def __init__(self, weights: str | os.PathLike, *, sha256: str | None = None, model=None) -> None:
        from laanet.export.session import OnnxSession

        path = Path(weights)
        direct = path.suffix == ".onnx"
        if not direct:
            path = cached_export(path, sha256 or file_sha256(path), model)
        self.session = OnnxSession(path)
        self.preprocess = self.session.preprocess
        self.input_size = self.preprocess.input_size
        self.family = self.session.family
        self.model_name = self.session.model_name
        self.meta: dict[str, Any] = {**self.session.meta, "config": self.session.config, "onnx": str(path)}
        if direct:
            self._check_finite(path)

    def _check_finite(self, path: Path) -> None:
        """One forward pass on a blank input: weights holding NaN/inf give non-finite outputs. (Checkpoints are
        checked tensor by tensor when loaded; an exported ``.onnx`` is checked this way.)"""
        s = self.input_size
        outs = self.session.run(np.zeros((1, 3, s, s), dtype=np.float32))
        if not all(np.isfinite(v).all() for v in outs.values()):
            raise CheckpointError(f"{path}: the model returns non-finite values (NaN or inf); its weights are corrupt or diverged")

    def predict(self, x: np.ndarray, *, flip_test: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        outs = self.session.run(_with_mirror(x, flip_test))
        return combine_outputs(outs["cls"], outs.get("heatmap"), x.shape[0], flip_test)


def onnx_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/laanet/onnx`` (``~/.cache/laanet/onnx``): checkpoints exported by the onnx backend."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "laanet" / "onnx"


def cached_export(weights: Path, sha256: str, model=None) -> Path:
    """The ``.onnx`` export of checkpoint ``weights``, made on first use (needs torch) and reused after."""
    from laanet.export.session import INFERENCE_OUTPUTS

    target = onnx_cache_dir() / f"{sha256[:16]}-{'-'.join(INFERENCE_OUTPUTS)}.onnx"
    if target.is_file():
        return target
    from laanet.export.onnx import export_onnx
    from laanet.models.checkpoint import load_model

    _log.info("exporting %s to ONNX (cached at %s)", weights, target)
    model = model if model is not None else load_model(weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        export_onnx(model, tmp, outputs=INFERENCE_OUTPUTS)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
