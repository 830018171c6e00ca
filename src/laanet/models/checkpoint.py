"""Load and save LAA-Net weights: laanet's own checkpoints and the authors' official ones.

laanet checkpoint (a plain dict, loads with ``torch.load(weights_only=True)``)::

    {"format_version": 1, "model": state_dict, "config": {"model": {...}, ...}, "meta": {...}, ...}

Training checkpoints (``OUT/last.pt``, ``OUT/best.pt``) use the same ``model``/``config`` keys plus optimizer
state, so every laanet checkpoint loads here. The official layout is ``{"epoch", "state_dict"}`` with 803 keys,
any float dtype, optional ``module.`` prefix (``nn.DataParallel``); it is detected automatically.
"""
from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from laanet.config import ModelConfig, model_config_from_dict
from laanet.models.errors import CheckpointError
from laanet.models.laanet import LAANet
from laanet.models.official import is_official_state_dict, official_to_laanet

_log = logging.getLogger(__name__)
FORMAT_VERSION = 1
__all__ = ["CheckpointError", "check_finite", "convert_official", "load_model", "read_checkpoint", "save_model"]
EXPECTED_CHECKPOINTS = (
    "a laanet checkpoint (written by laanet train or laanet convert) or one of the authors' LAA-Net .pth "
    "checkpoints ({'epoch', 'state_dict'}); an exported model (.onnx) needs --backend onnx"
)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with clear errors for missing, truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on the pickle protocol of foreign files
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refused something: torch's advice would be to unpickle it
        raise CheckpointError(
            f"{path}: not a weights file laanet can load: the safe loader (weights_only=True: tensors and plain "
            f"containers only) refused its content, and laanet never unpickles arbitrary objects. Expected {EXPECTED_CHECKPOINTS}"
        ) from None
    except Exception as err:  # torch.load raises many types for foreign/truncated files (KeyError, RuntimeError, ...)
        detail = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated, or not a weights file: {detail}). "
            f"Expected {EXPECTED_CHECKPOINTS}"
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def paper_model_config() -> ModelConfig:
    """The configuration of the authors' released EfficientNet-B4 checkpoints (no download)."""
    return ModelConfig(pretrained=False)


def _model_state(ckpt: dict[str, Any], path: Path) -> tuple[dict[str, torch.Tensor], ModelConfig, bool]:
    """(state dict, model config, is_official) from a loaded checkpoint dict."""
    if "model" in ckpt and isinstance(ckpt["model"], dict):
        config = ckpt.get("config") or {}
        model_cfg = model_config_from_dict(config.get("model", config) if isinstance(config, dict) else {})
        model_cfg.pretrained = False  # the checkpoint already holds the backbone weights
        model_cfg.pretrained_path = None
        return ckpt["model"], model_cfg, False
    state = ckpt.get("state_dict", ckpt)
    if isinstance(state, dict) and is_official_state_dict(state):
        return state, paper_model_config(), True
    raise CheckpointError(
        f"{path}: unknown checkpoint layout (top-level keys: {', '.join(map(str, list(ckpt)[:8]))}); "
        "expected a laanet checkpoint ('model', 'config') or an official one ('epoch', 'state_dict')"
    )


def load_state_strict(model: LAANet, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``model`` (cast to the model's dtypes); any missing, unexpected or mis-shaped key fails."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {', '.join(missing[:6])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:6])}")
        raise CheckpointError(f"{source}: weights do not fit the model; " + "; ".join(parts))
    bad = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"{source}: {len(bad)} shape mismatch(es): {'; '.join(bad[:4])}")
    check_finite(state, source)
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own}, strict=True)


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` when any floating-point tensor of ``state`` holds NaN or ±inf.

    Such weights give NaN scores for every input (a corrupt download, or a run that diverged).
    """
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} weight tensor(s) hold non-finite values, NaN or inf ({', '.join(bad[:4])}"
            f"{', ...' if len(bad) > 4 else ''}); the file is corrupt or comes from a training run that diverged"
        )


def load_model(
    weights: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LAANet:
    """Build an :class:`LAANet` from a laanet or official checkpoint, in eval mode.

    ``model.meta`` holds what was loaded (path, format, config, training metadata).
    """
    path = Path(weights)
    ckpt = read_checkpoint(path)
    state, model_cfg, official = _model_state(ckpt, path)
    model = LAANet(model_cfg)
    if official:
        try:
            state = official_to_laanet(state, model)
        except KeyError as err:
            raise CheckpointError(f"{path}: {err.args[0]}") from err
    load_state_strict(model, state, str(path))
    model.meta = {
        "path": str(path),
        "format": "official" if official else "laanet",
        "config": asdict(model_cfg),
        **({"epoch": ckpt.get("epoch")} if official else dict(ckpt.get("meta") or {})),
    }
    return model.to(device=device, dtype=dtype).eval()


def save_model(model: LAANet, path: str | os.PathLike, *, config: dict[str, Any] | None = None, **meta: Any) -> Path:
    """Write a laanet checkpoint atomically (temp file + rename). ``meta`` must be builtins/tensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_cfg = asdict(model.cfg)
    model_cfg["feature_indices"] = list(model_cfg["feature_indices"])
    payload = {
        "format_version": FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config if config is not None else {"model": model_cfg},
        "meta": meta,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a weights file is as readable as any other file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def convert_official(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write a laanet checkpoint (float32) from an official ``{'epoch', 'state_dict'}`` file."""
    model = load_model(src)
    if model.meta["format"] != "official":
        raise CheckpointError(f"{src}: already a laanet checkpoint")
    return save_model(model, dst, source=str(src), converted_from="official", epoch=model.meta.get("epoch"))
