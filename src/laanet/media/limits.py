"""One pixel limit for every decoder: images (Pillow, OpenCV) and video frames (PyAV).

A compressed file can declare a huge size in a few bytes (a "decompression bomb": a 274-byte PNG declaring
50000×50000 px would need 7.5 GB decoded). Each decoder path reads the declared size from the header and calls
:func:`check_pixels` before any pixel is decoded.

The limit, in pixels (width × height), is the first of:
1. the ``max_pixels`` argument of the reading function (``0`` means no limit);
2. the ``LAANET_MAX_PIXELS`` environment variable (an integer such as ``200000000`` or ``2e8``; ``0``: no limit);
3. :data:`DEFAULT_MAX_PIXELS`, 120 megapixels: above the largest phone photos (108 MP, 12000×9000) and
   about 360 MB once decoded to RGB.
"""
from __future__ import annotations

import os
from pathlib import Path

from laanet.media.errors import MediaDecodeError, MediaTooLargeError

DEFAULT_MAX_PIXELS = 120_000_000
MAX_PIXELS_ENV = "LAANET_MAX_PIXELS"


def max_pixels_limit(max_pixels: int | None = None) -> int | None:
    """The limit in force (module docstring): a number of pixels, or None for no limit.

    Raises:
        ValueError: a negative ``max_pixels``, or ``LAANET_MAX_PIXELS`` is not a non-negative number.
    """
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            value = -1.0
        if not (value >= 0 and value == int(value)):
            raise ValueError(f"{MAX_PIXELS_ENV} must be a whole number of pixels ≥ 0 (0: no limit), got {text!r}")
        max_pixels = int(value)
    if max_pixels < 0:
        raise ValueError(f"max_pixels must be ≥ 0 (0: no limit), got {max_pixels}")
    return max_pixels or None


def check_pixels(
    width: int, height: int, *, max_pixels: int | None = None, path: str | Path | None = None, what: str = "image"
) -> None:
    """Refuse a declared size that is empty or over the limit, before anything is decoded.

    Raises:
        MediaDecodeError: zero or negative width or height.
        MediaTooLargeError: ``width × height`` is over :func:`max_pixels_limit` (``max_pixels``).
    """
    if width <= 0 or height <= 0:
        raise MediaDecodeError(f"the {what} declares an empty size ({width}×{height} px)", path=path)
    limit = max_pixels_limit(max_pixels)
    if limit is not None and width * height > limit:
        raise MediaTooLargeError(
            f"the {what} declares {width}×{height} px ({width * height / 1e6:.1f} megapixels), over the limit of "
            f"{limit / 1e6:.1f} megapixels; not decoded (raise the limit with max_pixels= or {MAX_PIXELS_ENV})",
            path=path,
        )
