"""One device resolver for every command and the Python API.

``"auto"`` means CUDA when torch sees a GPU, else the CPU. Asking for ``"cpu"`` or ``"auto"`` with the ONNX
backend never imports torch (:func:`resolve_device` takes ``backend="onnx"`` for that); CUDA names are checked
against ``torch.cuda`` and fail with a message that says what to use instead.
"""
from __future__ import annotations

import re

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class DeviceError(ValueError):
    """A device name that is malformed or names hardware this machine does not have."""


def check_device_name(name: str) -> str:
    """Return ``name`` if it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; else raise :class:`DeviceError`."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    return name


def _torch_cuda_count() -> int:
    try:
        import torch
    except ImportError:  # an ONNX-only installation
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str = "auto", *, backend: str = "torch") -> str:
    """A concrete device (``"cpu"``, ``"cuda"`` or ``"cuda:N"``) for ``name``.

    Args:
        name: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        backend: ``"onnx"`` runs on the CPU (laanet's ONNX runner uses ONNX Runtime's CPU provider), so
            ``"auto"`` resolves to ``"cpu"`` without importing torch and a CUDA name is refused.

    Raises:
        DeviceError: a malformed name, or CUDA asked for where it is not available.
    """
    check_device_name(name)
    if name == "cpu":
        return "cpu"
    if backend == "onnx":
        if name == "auto":
            return "cpu"
        raise DeviceError(f"device {name!r}: the onnx backend runs on the CPU; use --device cpu (or auto), or --backend torch")
    count = _torch_cuda_count()
    if name == "auto":
        return "cuda" if count else "cpu"
    index = int(name.split(":", 1)[1]) if ":" in name else 0
    if count == 0:
        raise DeviceError(f"device {name!r} requested but CUDA is not available on this machine; use --device cpu (or auto)")
    if index >= count:
        raise DeviceError(f"device {name!r} requested but this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return name
