"""What a dataset layout yields: one :class:`SourceItem` per video, still image or folder of frames."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "SourceItem", "even_indices", "list_files", "relative"]

# Kept in step with laanet.media (not imported here so that listing a dataset needs no decoder).
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
VIDEO_EXTS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ts", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp"})

SourceKind = Literal["video", "image", "frames"]


@dataclass(frozen=True)
class SourceItem:
    """One source to prepare: a video file, a still image, or an ordered folder of frames.

    ``precropped`` sources (DFW, DeepfakeBench) already show a cropped face: ``laanet prepare`` stores each frame
    resized to the crop size instead of detecting a face again.
    """

    dataset: str
    split: str  # train | val | test
    label: int  # 0 real, 1 fake
    method: str
    video_id: str  # unique across datasets, methods and labels
    source: str  # path relative to the dataset root, for the index
    kind: SourceKind
    path: Path  # the video/image file, or the frames folder
    frames: tuple[Path, ...] = ()  # kind == "frames": the frame files in order
    precropped: bool = False
    landmarks: tuple[Path | None, ...] = field(default=(), compare=False)  # optional per-frame .npy (precropped)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (the absolute path if it is outside ``root``)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def list_files(folder: Path, exts: Iterable[str]) -> list[Path]:
    """Files under ``folder`` (recursive, sorted, hidden entries skipped) whose suffix is in ``exts``."""
    exts = frozenset(e.lower() for e in exts)
    if not folder.is_dir():
        return []
    out = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in exts and p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(out)


def even_indices(total: int, n: int | None) -> list[int]:
    """``n`` indices evenly spaced over ``range(total)``, first and last included (all of them if n ≥ total)."""
    if total <= 0:
        return []
    if n is None or n >= total:
        return list(range(total))
    if n < 1:
        raise ValueError(f"frame count must be at least 1, got {n}")
    return sorted(set(np.linspace(0, total - 1, n).round().astype(int).tolist()))
