"""Training checkpoints: ``OUT/last.pt`` and ``OUT/best.pt``.

A checkpoint is one plain dict (style point 12)::

    format_version  int
    family          str   model family ("laanet", "fakeformer"); also config["model"]["family"]
    model           state_dict of the unwrapped module (no "module." prefixes)
    config          RunConfig.to_dict()
    optimizer       base optimizer state_dict (SAM has no state of its own)
    scheduler       {"kind": "linear_warmup_decay", "lr": float}  (the schedule itself is the pure ``lr_at``)
    scaler          GradScaler state_dict, or None
    epoch           the epoch to run next (0-based)
    epoch_step      batches of ``epoch`` already done (0 at an epoch boundary; > 0 for a mid-epoch save)
    step            global optimizer steps done
    best_metric     validation AUC of ``best.pt`` so far, or None
    best            validation ``auc``, ``acc`` and ``loss`` of ``best.pt`` so far (what ``train.best_by`` compares), or None
    rng             list over ranks of {"python", "numpy", "torch", "cuda"} generator states
    metrics         the last validation metrics (plain floats)
    meta            provenance for ``load_model``'s ``model.meta``: input size, normalisation, parameter count,
                    the command that trained it, epoch/step and the validation metrics

The top-level ``model`` and ``config`` keys are the ones :func:`laanet.models.checkpoint.load_model` reads, so a
training checkpoint can be used directly for detection. Every value is a tensor or a builtin, so the file loads
with ``torch.load(path, weights_only=True)``. Writes are atomic: a temporary file in the same folder, then a
rename, so a run killed while saving leaves the previous file intact (and a ``.last.pt.*.tmp`` file, which
:func:`remove_stale_temporaries` deletes when the next run starts).

Errors: a checkpoint that is missing pieces, truncated, damaged or holds anything but tensors and builtins
(e.g. a pickle that would run code) raises :class:`CheckpointError`; a checkpoint that cannot be written (a
read-only or full disk) raises :class:`CheckpointWriteError` after saving the state to a rescue file in the
system's temporary folder, so the training done so far is not lost.
"""
from __future__ import annotations

import errno
import logging
import os
import pickle
import random
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointWriteError",
    "atomic_save",
    "capture_rng",
    "copy_atomic",
    "load_checkpoint",
    "remove_stale_temporaries",
    "restore_rng",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

_TMP_SUFFIX = ".tmp"


class CheckpointError(ValueError):
    """A training checkpoint that cannot be used: not a laanet checkpoint, truncated, damaged or unsafe."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; ``rescue`` is where the state was saved instead (None if nowhere)."""

    def __init__(self, message: str, rescue: Path | None = None) -> None:
        super().__init__(message)
        self.rescue = rescue

    def __str__(self) -> str:
        return str(self.args[0])


def capture_rng() -> dict[str, Any]:
    """Generator states of python ``random``, numpy's legacy global generator, torch CPU and all CUDA devices."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    return {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            log.warning("checkpoint has CUDA RNG states for %d devices, this machine has %d: not restored",
                        len(cuda_states), torch.cuda.device_count())


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then rename over it."""
    _atomic_write(path, lambda handle: torch.save(obj, handle))


def copy_atomic(src: str | Path, dst: str | Path) -> None:
    """Copy the file ``src`` to ``dst`` through a temporary file and a rename."""
    with open(src, "rb") as source:
        _atomic_write(dst, lambda handle: shutil.copyfileobj(source, handle, 16 * 2**20))


def _atomic_write(path: str | Path, write) -> None:  # noqa: ANN001 - write(handle) -> None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions of a plain open()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | Path, names: tuple[str, ...] = ("last.pt", "best.pt")) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files that a save killed part-way left in ``folder``; returns what was removed.

    Call it when a run starts, before it writes anything: the temporaries of a finished or killed process are
    never renamed into place, and each one may be as large as a checkpoint.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for name in names:
        for tmp in sorted(folder.glob(f".{name}.*{_TMP_SUFFIX}")):
            try:
                tmp.unlink()
            except FileNotFoundError:
                continue  # another process of the same run removed it first
            except OSError as err:
                log.warning("cannot remove the stale temporary file %s: %s", tmp, err)
                continue
            removed.append(tmp)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted checkpoint save: %s",
                 len(removed), ", ".join(p.name for p in removed))
    return removed


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    config: dict[str, Any],
    optimizer: torch.optim.Optimizer | Any,
    lr: float,
    epoch: int,
    epoch_step: int,
    step: int,
    best_metric: float | None,
    rng: list[dict[str, Any]],
    scaler: torch.amp.GradScaler | None = None,
    metrics: dict[str, float] | None = None,
    command: str = "",
    best: dict[str, float] | None = None,
) -> None:
    """Write a training checkpoint (see the module docstring for the keys). ``model`` must be unwrapped."""
    metrics = {k: float(v) for k, v in (metrics or {}).items()}
    state = {
        "format_version": FORMAT_VERSION,
        "family": str(getattr(model, "family", "laanet")),  # model family (laanet.models.family.FAMILIES)
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config,
        "optimizer": optimizer.state_dict(),
        "scheduler": {"kind": "linear_warmup_decay", "lr": float(lr)},
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": int(epoch),
        "epoch_step": int(epoch_step),
        "step": int(step),
        "best_metric": None if best_metric is None else float(best_metric),
        "best": None if best is None else {k: float(v) for k, v in best.items()},
        "rng": rng,
        "metrics": metrics,
        "meta": {
            "input_size": int(config.get("model", {}).get("input_size", 0)),
            "normalisation": "RGB, (x / 255 - 0.5) / 0.5 -> [-1, 1]",
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained_with": command,
            "epoch": int(epoch),
            "step": int(step),
            "val": metrics,
        },
    }
    try:
        atomic_save(state, path)
    except OSError as err:
        raise _rescue(state, Path(path), err) from err


def _rescue(state: dict[str, Any], path: Path, err: OSError) -> CheckpointWriteError:
    """Save ``state`` under the system's temporary folder after writing ``path`` failed; the error to raise."""
    reason = err.strerror or str(err)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason += " (is the folder read-only?)"
    elif err.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (is the disk full?)"
    what = f"step {state['step']}, epoch {state['epoch'] + 1}"
    try:
        rescue = Path(tempfile.mkdtemp(prefix="laanet-rescue-")) / path.name
        atomic_save(state, rescue)
    except OSError as second:
        return CheckpointWriteError(
            f"cannot write the checkpoint {path}: {reason}; the training state ({what}) could not be saved "
            f"elsewhere either ({second.strerror or second}). {path} still holds the previous checkpoint, if any."
        )
    return CheckpointWriteError(
        f"cannot write the checkpoint {path}: {reason}. The training state ({what}) was saved to {rescue}: "
        f"copy it to {path} once the folder is writable again and rerun with --resume.",
        rescue=rescue,
    )


def _read(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)`` with every way a file can be bad turned into :class:`CheckpointError`."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(err))
        if blocked:
            raise CheckpointError(
                f"{path} is not a safe checkpoint: it refers to the Python object {blocked.group(1)}, and laanet "
                "only loads tensors and plain values from a checkpoint (weights_only), never code"
            ) from None
        raise CheckpointError(f"{path} is truncated or damaged, or not a PyTorch checkpoint (it cannot be read as one)") from None
    except PermissionError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err}") from None
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as err:
        # a cut-off zip archive surfaces as RuntimeError or OSError(EINVAL), a cut-off pickle as EOFError ...
        size = path.stat().st_size
        detail = "empty file" if size == 0 else f"{size} bytes; {type(err).__name__}"
        raise CheckpointError(
            f"{path} is truncated or damaged ({detail}): was the run killed while copying or saving it?"
        ) from None


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: truncated, damaged, unsafe (objects other than tensors and builtins), not a laanet
            training checkpoint, or of an unsupported format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = _read(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a laanet checkpoint (no 'model' key)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    for key in ("optimizer", "epoch", "epoch_step", "step", "rng"):
        if key not in state:
            raise CheckpointError(f"{path} holds model weights only (no {key!r}); it cannot resume training")
    return state
