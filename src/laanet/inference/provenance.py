"""Where a result came from: laanet version, weights (name + SHA-256), backend, options, time.

Every result of :class:`~laanet.inference.detector.Detector` and every ``results.json`` carries one
:class:`Provenance`, so a verdict can be traced to the exact weights file and settings that produced it. File
names only, never folders: the server's responses must not reveal its paths.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SCHEMA_VERSION = "1.0"  # of result.schema.json; bump the minor for added fields, the major for changed ones


def file_sha256(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` suffix, to the second (``2026-12-01T14:50:07Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WeightsInfo:
    """The weights a detector loaded: file name (no folder), content hash, checkpoint format."""

    name: str
    sha256: str
    format: str  # "laanet" | "official" | "onnx"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "format": self.format}


@dataclass(frozen=True)
class Provenance:
    """What produced a result. ``options`` is :meth:`InferenceOptions.to_dict` with the weights as a file name."""

    weights: WeightsInfo
    backend: str
    device: str  # resolved: "cpu", "cuda", "cuda:N"
    input_size: int  # network input side in pixels
    crop_size: int  # stored face-crop side in pixels
    options: dict[str, Any]
    created: str = field(default_factory=utc_now)
    model: dict[str, Any] | None = None  # {"family": "laanet" | "fakeformer", "name": "..."}

    def stamped(self) -> Provenance:
        """A copy with ``created`` set to now."""
        from dataclasses import replace

        return replace(self, created=utc_now())

    def to_dict(self) -> dict[str, Any]:
        from laanet import __version__

        return {
            "laanet_version": __version__,
            "weights": self.weights.to_dict(),
            "backend": self.backend,
            "device": self.device,
            "input_size": self.input_size,
            "crop_size": self.crop_size,
            "options": {**self.options, "weights": self.weights.name},
            "created": self.created,
            **({"model": self.model_record()} if self.model is not None else {}),
        }

    def model_record(self) -> dict[str, Any]:
        """``model`` plus ``card``: the model card (``docs/model-cards/``) of these weights, or None
        (:func:`laanet.weights.catalog.card_for`: by SHA-256, else by family, name and file name)."""
        from laanet.weights.catalog import card_for

        model = dict(self.model or {})
        model["card"] = card_for(sha256=self.weights.sha256, family=model.get("family"), name=model.get("name"),
                                 file_name=self.weights.name)
        return model
