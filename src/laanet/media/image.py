"""Still images: read any common file as an upright H×W×3 RGB uint8 array.

What is handled, so callers never see the difference:
- formats: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame) through Pillow, with OpenCV as a fallback decoder;
- EXIF orientation: applied, so the array is upright as a photo viewer shows it;
- modes: grayscale (L, I;16, I, F), palette, LA/RGBA (alpha composited over black), CMYK, 16-bit: all
  converted to 8-bit RGB (16-bit data keeps its top 8 bits).

Size: the size the file declares is checked against one pixel limit (``laanet.media.limits``: the
``max_pixels`` argument, else ``LAANET_MAX_PIXELS``, else 120 MP) before any decoder runs, so a small file
declaring a huge image (a decompression bomb) is refused with :class:`MediaTooLargeError` instead of filling
memory. OpenCV, the fallback decoder, only sees files whose declared size could be read and checked (TIFF).

Images within the limit are read at full resolution; :func:`downscale` makes the small copy that the face
detector sees, and crops are then cut from the full-resolution array (see ``laanet.faces``).
"""
from __future__ import annotations

import io
import logging
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

from laanet.media.errors import (
    EmptyMediaError,
    MediaDecodeError,
    MediaNotFoundError,
    UnsupportedMediaError,
)
from laanet.media.limits import check_pixels, max_pixels_limit

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ts", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp"}
)

ImageSource = str | Path | bytes | BinaryIO
_ALPHA_ROWS = 1024  # rows composited (or copied out of Pillow) at a time: bounds the temporaries on huge images
_PILLOW_LIMIT_LOCK = threading.Lock()  # guards the temporary lifting of Pillow's own limit (see _decode_with_pillow)


def media_kind(path: str | Path) -> str:
    """Return ``"image"`` or ``"video"`` from the file extension.

    Raises:
        UnsupportedMediaError: the extension is neither a known image nor a known video extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise UnsupportedMediaError(
        f"unknown extension {suffix or '(none)'!r}; images: {sorted(IMAGE_EXTENSIONS)}, "
        f"videos: {sorted(VIDEO_EXTENSIONS)}",
        path=path,
    )


def read_image(source: ImageSource, *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file (or its bytes) as an upright RGB array.

    Args:
        source: a path, the encoded bytes, or a binary file object.
        max_pixels: refuse images declaring more pixels than this (0: no limit); None: ``LAANET_MAX_PIXELS`` or
            120 MP (``laanet.media.limits``).

    Returns:
        H×W×3 uint8 RGB array, EXIF orientation applied.

    Raises:
        MediaNotFoundError: the path does not exist or is not a file.
        EmptyMediaError: zero bytes.
        MediaTooLargeError: the declared size is over the pixel limit (nothing was decoded).
        UnsupportedMediaError: not an image format that Pillow or OpenCV can decode.
        MediaDecodeError: the header is readable but the pixel data is corrupt or truncated.
    """
    limit = max_pixels_limit(max_pixels) or 0
    path, data = _read_bytes(source)
    try:
        return _decode_with_pillow(data, path, limit)
    except UnsupportedMediaError as err:
        if not _unidentified_by_pillow(err):
            raise
        size = _tiff_size(data)  # Pillow lacks some TIFF variants (float RGB...); OpenCV reads them
        if size is None:
            raise
        check_pixels(*size, max_pixels=limit, path=path)
        array = _decode_with_opencv(data, path)
        if array is None:
            raise
        logger.debug("%s: decoded by OpenCV after Pillow refused it", path or "<bytes>")
        return array


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an in-memory image to H×W×3 RGB uint8 (grayscale, RGBA, 16-bit and float accepted).

    Floats are taken as [0, 1] if their maximum is ≤ 1, else as [0, 255]. 16-bit keeps its top 8 bits.
    An array that is already H×W×3 uint8 is returned as is (not copied).

    Raises:
        TypeError: not a numpy array.
        ValueError: not 2-D or 3-D with 1, 3 or 4 channels, or empty.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(image).__name__}")
    if image.size and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    if image.size == 0 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 image, got shape {image.shape}")
    array = _to_uint8(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        return _composite_over_black(array)
    return np.ascontiguousarray(array)


def _composite_over_black(rgba: np.ndarray) -> np.ndarray:
    """H×W×4 uint8 → H×W×3 uint8, ``round(rgb × alpha / 255)``, a band of rows at a time (small temporaries)."""
    out = np.empty(rgba.shape[:2] + (3,), np.uint8)
    for top in range(0, rgba.shape[0], _ALPHA_ROWS):
        band = rgba[top : top + _ALPHA_ROWS].astype(np.uint16)
        out[top : top + _ALPHA_ROWS] = (band[:, :, :3] * band[:, :, 3:4] + 127) // 255
    return out


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its long side is at most ``max_side`` (area interpolation).

    Returns:
        (small image, scale) with ``small_coords = scale * full_coords``; scale is 1.0 and the input is
        returned unchanged when it is already small enough.
    """
    import cv2

    if max_side <= 0:
        raise ValueError(f"max_side must be positive, got {max_side}")
    height, width = image.shape[:2]
    long_side = max(height, width)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / width


def _read_bytes(source: ImageSource) -> tuple[Path | None, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, path = bytes(source), None
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise MediaNotFoundError("no such file" if not path.exists() else "not a regular file", path=path)
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data, path = source.read(), None
    else:
        raise TypeError(f"expected a path, bytes or a binary file, got {type(source).__name__}")
    if not data:
        raise EmptyMediaError("empty file (0 bytes)", path=path)
    return path, data


def _unidentified_by_pillow(err: UnsupportedMediaError) -> bool:
    """Whether Pillow refused the data as an unknown format (OpenCV may know it: see :func:`read_image`)."""
    from PIL import UnidentifiedImageError

    return isinstance(err.__cause__, UnidentifiedImageError)


def _decode_with_pillow(data: bytes, path: Path | None, max_pixels: int) -> np.ndarray:
    """Pillow decode with laanet's pixel limit checked on the declared size, before the pixels are read.

    Pillow has its own limit (``Image.MAX_IMAGE_PIXELS``, ~179 MP for an error). When it refuses, the header is
    read again with Pillow's limit lifted (under a lock: it is a module global), so that laanet's limit alone
    decides: the message gives the declared size, and a limit raised above Pillow's is honoured.
    """
    from PIL import Image

    try:
        return _pillow_decode(data, path, max_pixels)
    except Image.DecompressionBombError:
        pass
    with _PILLOW_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return _pillow_decode(data, path, max_pixels)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pillow_decode(data: bytes, path: Path | None, max_pixels: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:  # reads the header only
                check_pixels(pil.width, pil.height, max_pixels=max_pixels, path=path)
                pil.load()
                ImageOps.exif_transpose(pil, in_place=True)  # in place: no copy when there is nothing to turn
                return _pil_to_rgb(pil)
    except UnidentifiedImageError as err:
        raise UnsupportedMediaError("not a readable image (unknown or unsupported format)", path=path) from err
    except Image.DecompressionBombError:
        raise
    except (OSError, SyntaxError, ValueError) as err:  # Pillow reports truncated/corrupt data as OSError
        raise MediaDecodeError(f"corrupt or truncated image data ({err})", path=path) from err


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a classic TIFF's first directory, or None if ``data`` is not one."""
    import struct

    from PIL import TiffImagePlugin

    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    try:
        directory = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        stream = io.BytesIO(data)
        stream.seek(directory.next)
        directory.load(stream)
        return int(directory[256]), int(directory[257])  # ImageWidth, ImageLength
    except (KeyError, TypeError, ValueError, OSError, SyntaxError, struct.error):
        return None


def _pil_to_rgb(pil) -> np.ndarray:
    """Pillow image of any mode → H×W×3 uint8 RGB."""
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return to_rgb_uint8(np.asarray(pil))
    if mode == "RGBA":
        return to_rgb_uint8(np.asarray(pil))
    if mode in ("LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in pil.info):
        return to_rgb_uint8(np.asarray(pil.convert("RGBA")))
    if mode != "RGB":
        pil = pil.convert("RGB")
    return _rgb_array(pil)


def _rgb_array(pil) -> np.ndarray:
    """An RGB Pillow image as a writable H×W×3 array, copied a band of rows at a time.

    ``np.asarray(pil)`` goes through one full-size ``bytes`` object and needs a second copy to be writable: on a
    100-megapixel photo that is 300 MB more at peak than copying bands into the result.
    """
    width, height = pil.size
    out = np.empty((height, width, 3), np.uint8)
    band = max(1, _ALPHA_ROWS * 4096 // max(width, 1))
    for top in range(0, height, band):
        out[top : top + band] = np.asarray(pil.crop((0, top, width, min(height, top + band))))
    return out


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:  # 16-bit, either byte order
        return (array.astype(np.uint16) >> 8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        scaled = finite * 255.0 if peak <= 1.0 else finite
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):  # e.g. Pillow's 32-bit "I" mode holding 16-bit values
        peak = int(array.max()) if array.size else 0
        if peak > 255:
            shift = max(0, int(np.ceil(np.log2(peak + 1))) - 8)
            array = array >> shift
        return np.clip(array, 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {array.dtype}")


def _decode_with_opencv(data: bytes, path: Path | None) -> np.ndarray | None:
    """OpenCV decode (call only after the declared size was checked); None if OpenCV cannot read it either."""
    import cv2

    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # keeps 16-bit; orientation handled below
        if array is None:
            return None
        oriented = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # applies EXIF orientation
    except cv2.error as err:
        raise MediaDecodeError(f"corrupt image data (OpenCV: {' '.join(str(err).split())})", path=path) from err
    if oriented is not None and array.ndim == 3 and array.shape[2] == 4 and oriented.shape[:2] == array.shape[:2]:
        return to_rgb_uint8(cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA))
    if oriented is None:
        oriented = array
    if oriented.ndim == 3:
        oriented = cv2.cvtColor(oriented, cv2.COLOR_BGR2RGB)
    return to_rgb_uint8(oriented)
