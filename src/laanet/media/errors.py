"""Typed errors for unusable input media.

Every error names the file and says what was wrong, so a batch job can log it and go on with the next file.
"""
from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """Base class: an input image or video could not be used.

    Attributes:
        path: the offending file, or ``None`` when the input came from memory.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        prefix = f"{self.path}: " if self.path is not None else ""
        super().__init__(prefix + message)


class MediaNotFoundError(MediaError, FileNotFoundError):
    """The file does not exist (or is not a regular file)."""


class EmptyMediaError(MediaError):
    """The file exists but holds zero bytes."""


class UnsupportedMediaError(MediaError):
    """The file is not an image or a video that laanet can read (unknown format, no video stream...)."""


class MediaTooLargeError(UnsupportedMediaError):
    """The file declares more pixels than the limit (``laanet.media.limits``): refused before decoding."""


class MediaDecodeError(MediaError):
    """The file looks like a known format but its content cannot be decoded (corrupt, truncated header...)."""


class TruncatedVideoError(MediaDecodeError):
    """A video stream broke part-way through. Only raised with ``strict=True``.

    Attributes:
        frames: the frames that decoded before the break (a ``list[VideoFrame]``), so nothing is lost.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, frames: list | None = None) -> None:
        super().__init__(message, path=path)
        self.frames = list(frames or [])
