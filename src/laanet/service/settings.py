"""What ``laanet serve`` is configured with: one frozen dataclass, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class ServeSettings:
    """Settings of the detection service.

    Attributes:
        weights: checkpoint (or ``.onnx`` with ``backend="onnx"``); None = the bundled demo weights.
        backend: ``"torch"`` or ``"onnx"``.
        device: ``"cpu"`` or ``"cuda"`` (torch backend).
        frames: frames sampled per video when a request does not say (``frames`` form field).
        flip_test: default of the ``flip_test`` form field.
        threshold: P(fake) at or above which a file is labelled fake.
        face_backend: ``laanet.faces`` backend (None = its default).
        max_upload_mb: largest accepted upload (MiB of file content); larger uploads get 413 as soon as the
            limit is passed while streaming.
        max_concurrency: detect requests admitted at once (uploading, queued or running); one more gets 503.
            Inference itself runs one request at a time on the single model instance.
        max_frames: the largest ``frames`` a request may ask for.
        overlay_max_side: heatmap overlays are returned as JPEG data URLs at most this many pixels on a side.
        upload_dir: parent folder of the per-request temporary folders (None = the system temp folder).
    """

    weights: Path | None = None
    backend: str = "torch"
    device: str = "cpu"
    frames: int = 32
    flip_test: bool = True
    threshold: float = 0.5
    face_backend: str | None = None
    max_upload_mb: float = 50.0
    max_concurrency: int = 4
    max_frames: int = 128
    overlay_max_side: int = 960
    upload_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.max_upload_mb <= 0:
            raise ValueError(f"max_upload_mb must be positive, got {self.max_upload_mb}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if not 1 <= self.frames <= self.max_frames:
            raise ValueError(f"frames must be between 1 and max_frames={self.max_frames}, got {self.frames}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold is a probability in [0, 1], got {self.threshold}")
        if self.overlay_max_side < 64:
            raise ValueError(f"overlay_max_side must be at least 64, got {self.overlay_max_side}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
