"""Load and save the weights of every model family: laanet's own checkpoints and the authors' official ones.

laanet checkpoint (a plain dict, loads with ``torch.load(weights_only=True)``)::

    {"format_version": 2, "family": "laanet" | "fakeformer", "model": state_dict,
     "config": {"model": {...}, ...}, "meta": {...}, ...}

Format 1 files (no ``family``) are LAA-Net. Training checkpoints (``OUT/last.pt``, ``OUT/best.pt``) use the same
``model``/``config`` keys plus optimizer state, so every laanet checkpoint loads here. Official layouts, detected
from the keys (any float dtype, optional ``module.`` prefix of ``nn.DataParallel``, extra entries such as
``optimizer`` ignored):

- LAA-Net: ``{"epoch", "state_dict"}`` with 803 keys (``_blocks.*``, ``deconv_*``, ``hm``/``cls``/``cstency``);
- FakeFormer / FakeSwin: ``backbone.*`` + ``keypoint_head.*`` in ``{"epoch", "state_dict"[, "optimizer"]}``,
  ``{"model"}`` or a bare state dict; ViT vs Swin from the keys, the size (S/B/L, T/S/B) from the shapes.
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
from torch import nn

from laanet.config import ModelConfig, model_config_from_dict
from laanet.models.errors import CheckpointError
from laanet.models.family import FAMILIES, Family, family_of_config, get_family

_log = logging.getLogger(__name__)
FORMAT_VERSION = 2  # 2: adds "family"; 1 (no family) = laanet
__all__ = ["CheckpointError", "check_finite", "convert_official", "load_model", "read_checkpoint", "save_model"]
EXPECTED_CHECKPOINTS = (
    "a laanet checkpoint (written by laanet train or laanet convert, either family), one of the authors' LAA-Net "
    ".pth checkpoints ({'epoch', 'state_dict'} with _blocks.*/deconv_* keys) or FakeFormer/FakeSwin checkpoints "
    "(backbone.* + keypoint_head.* keys, in {'epoch', 'state_dict'}, {'model'} or a bare state dict); an exported "
    "model (.onnx) needs --backend onnx"
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


def _is_laanet_checkpoint(ckpt: dict[str, Any]) -> bool:
    return isinstance(ckpt.get("model"), dict) and ("config" in ckpt or "format_version" in ckpt or "family" in ckpt)


def _candidate_state(ckpt: dict[str, Any]) -> dict[str, Any] | None:
    """The state dict of an official-layout file: ``state_dict``, ``model`` or the dict itself (``module.`` stripped)."""
    for key in ("state_dict", "model"):
        if isinstance(ckpt.get(key), dict):
            state = ckpt[key]
            break
    else:
        state = ckpt
    if not state or not all(isinstance(k, str) for k in state):
        return None
    return {k.removeprefix("module."): v for k, v in state.items()}


def _model_state(ckpt: dict[str, Any], path: Path) -> tuple[dict[str, torch.Tensor], Family, Any, bool]:
    """(state dict, family, model config, is_official) from a loaded checkpoint dict."""
    if _is_laanet_checkpoint(ckpt):
        config = ckpt.get("config") or {}
        section = config.get("model", config) if isinstance(config, dict) else {}
        section = dict(section or {})
        family = get_family(str(ckpt.get("family") or section.get("family") or "laanet"))
        section["family"] = family.name
        try:
            model_cfg = model_config_from_dict(section)
        except ValueError as err:
            raise CheckpointError(f"{path}: its model config does not fit this laanet version: {err}") from None
        model_cfg.pretrained = False  # the checkpoint already holds the backbone weights
        model_cfg.pretrained_path = None
        return ckpt["model"], family, model_cfg, False
    state = _candidate_state(ckpt)
    if state is not None:
        for family in FAMILIES.values():
            if family.is_official(state):
                try:
                    return state, family, family.official_config(state), True
                except (KeyError, IndexError, AttributeError) as err:
                    raise CheckpointError(f"{path}: {family.name} official layout with an unexpected shape: {err}") from None
    raise CheckpointError(
        f"{path}: unknown checkpoint layout (top-level keys: {', '.join(map(str, list(ckpt)[:8]))}); expected "
        f"{EXPECTED_CHECKPOINTS}"
    )


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
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
) -> nn.Module:
    """Build the model of any family (:data:`laanet.models.family.FAMILIES`) from a laanet or official
    checkpoint, in eval mode.

    ``weights``: a local file, an ``https://`` URL or ``hf://OWNER/REPO/FILE[@REVISION]`` (fetched once into its
    cache, :func:`laanet.hub.resolve_weights`). ``model.meta`` holds what was loaded (path, format, family, config,
    training metadata).
    """
    from laanet.hub import is_hf, is_url, resolve_weights

    path = resolve_weights(weights) if is_url(weights) or is_hf(weights) else Path(weights)
    ckpt = read_checkpoint(path)
    state, family, model_cfg, official = _model_state(ckpt, path)
    model = family.build(model_cfg)
    if official:
        try:
            state = family.from_official(state, model)
        except KeyError as err:
            raise CheckpointError(f"{path}: {err.args[0]}") from err
    load_state_strict(model, state, str(path))
    model.meta = {
        "path": str(path),
        "format": "official" if official else "laanet",
        "family": family.name,
        "config": asdict(model_cfg),
        **({"epoch": ckpt.get("epoch")} if official else dict(ckpt.get("meta") or {})),
    }
    return model.to(device=device, dtype=dtype).eval()


def model_config_dict(model: nn.Module) -> dict[str, Any]:
    """``model.cfg`` as plain builtins (tuples as lists), with its ``family``."""
    from laanet.config import _to_plain

    return _to_plain(asdict(model.cfg))


def save_model(model: nn.Module, path: str | os.PathLike, *, config: dict[str, Any] | None = None, **meta: Any) -> Path:
    """Write a laanet checkpoint atomically (temp file + rename). ``meta`` must be builtins/tensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    family = family_of_config(model.cfg).name
    payload = {
        "format_version": FORMAT_VERSION,
        "family": family,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config if config is not None else {"model": model_config_dict(model)},
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
    """Write a laanet checkpoint (float32) from an official LAA-Net or FakeFormer file."""
    model = load_model(src)
    if model.meta["format"] != "official":
        raise CheckpointError(f"{src}: already a laanet checkpoint")
    return save_model(model, dst, source=str(src), converted_from="official", epoch=model.meta.get("epoch"))
