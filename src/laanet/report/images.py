"""Pictures of a results folder embedded in the report as ``data:`` URLs (the report must stand alone).

A result records its overlay PNGs by the path ``laanet detect`` wrote them to (relative to where it ran, or
absolute). The report looks a picture up by its file name inside the results folder only (``FOLDER/heatmaps/``,
then ``FOLDER/``): a results file handed over by someone else cannot pull other files of this machine into the
report. Each picture is decoded (a file that is not an image is skipped), shrunk to at most ``max_side`` pixels
and re-encoded as JPEG: about 30 KB a picture (a 100-input run with 4 pictures each is about 12 MB; use
``--max-pictures 1`` or ``0`` for big runs).
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path, PurePath

MAX_SIDE = 480  # long side of the pictures in the report, pixels
JPEG_QUALITY = 85
SEARCH_FOLDERS = ("heatmaps", ".")
MAX_DATA_URL_CHARS = 64 << 20  # an inline picture (a server answer's overlay) larger than this is not decoded
_DATA_URL = re.compile(r"data:image/(?:png|jpeg|webp);base64,", re.I)


def find_in_folder(folder: Path, recorded: str | None) -> Path | None:
    """The file named like ``recorded`` (a path as written in a result) under ``folder``, or None.

    Only the last component of ``recorded`` is used; ``..`` and empty names find nothing.
    """
    if not recorded or not isinstance(recorded, str):
        return None
    name = PurePath(recorded.replace("\\", "/")).name
    if name in ("", ".", ".."):
        return None
    root = folder.resolve()
    for sub in SEARCH_FOLDERS:
        candidate = (root / sub / name).resolve()
        if candidate.parent in (root, root / "heatmaps") and candidate.is_file():
            return candidate
    return None


def locate_picture(folder: Path, recorded: str | None) -> Path | bytes | None:
    """What a result's picture field points to: a file found in ``folder`` (:func:`find_in_folder`), or the bytes
    of an inline ``data:image/...;base64,`` URL (as ``laanet serve`` answers carry), or None."""
    if isinstance(recorded, str) and _DATA_URL.match(recorded) and len(recorded) <= MAX_DATA_URL_CHARS:
        try:
            return base64.b64decode(recorded[recorded.index(",") + 1 :], validate=True)
        except (binascii.Error, ValueError):
            return None
    return find_in_folder(folder, recorded)


def image_data_url(source: Path | bytes, *, max_side: int = MAX_SIDE) -> tuple[str, int, int] | None:
    """``(data URL, width, height)`` of the picture (a file, or its bytes) shrunk to ``max_side``; None if it is
    not a readable picture. The picture is always decoded and encoded again: nothing of the input is copied."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale directly
            picture = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/jpeg;base64,{encoded}", picture.width, picture.height
