"""Errors about weights files, importable without torch (the ONNX path and the CLI catch them)."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A weights file that cannot be read, does not fit the model, or holds non-finite values."""
