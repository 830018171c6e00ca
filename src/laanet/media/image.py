"""Still images: read any common file as an upright H×W×3 RGB uint8 array.

What is handled, so callers never see the difference:
- formats: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame) through Pillow, with OpenCV as a fallback decoder;
- EXIF orientation: applied, so the array is upright as a photo viewer shows it;
- modes: grayscale (L, I;16, I, F), palette, LA/RGBA (alpha composited over black), CMYK, 16-bit: all
  converted to 8-bit RGB (16-bit data keeps its top 8 bits).

Huge images are read at full resolution; :func:`downscale` makes the small copy that the face detector
sees, and crops are then cut from the full-resolution array (see ``laanet.faces``).
"""
from __future__ import annotations

import io
import logging
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

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ts", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp"}
)

ImageSource = str | Path | bytes | BinaryIO


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


def read_image(source: ImageSource) -> np.ndarray:
    """Read an image file (or its bytes) as an upright RGB array.

    Args:
        source: a path, the encoded bytes, or a binary file object.

    Returns:
        H×W×3 uint8 RGB array, EXIF orientation applied.

    Raises:
        MediaNotFoundError: the path does not exist or is not a file.
        EmptyMediaError: zero bytes.
        UnsupportedMediaError: not an image format that Pillow or OpenCV can decode, or too large to decode.
        MediaDecodeError: the header is readable but the pixel data is corrupt or truncated.
    """
    path, data = _read_bytes(source)
    try:
        return _decode_with_pillow(data, path)
    except UnsupportedMediaError:
        array = _decode_with_opencv(data)  # e.g. some TIFF variants Pillow lacks
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
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        return np.rint(array[:, :, :3].astype(np.float32) * alpha).astype(np.uint8)  # over black
    return np.ascontiguousarray(array)


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


def _decode_with_pillow(data: bytes, path: Path | None) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                pil.load()
                pil = ImageOps.exif_transpose(pil)
                return _pil_to_rgb(pil)
    except UnidentifiedImageError as err:
        raise UnsupportedMediaError("not a readable image (unknown or unsupported format)", path=path) from err
    except Image.DecompressionBombError as err:
        raise UnsupportedMediaError(f"image too large to decode safely: {err}", path=path) from err
    except (OSError, SyntaxError, ValueError) as err:  # Pillow reports truncated/corrupt data as OSError
        raise MediaDecodeError(f"corrupt or truncated image data ({err})", path=path) from err


def _pil_to_rgb(pil) -> np.ndarray:
    """Pillow image of any mode → H×W×3 uint8 RGB."""
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return to_rgb_uint8(np.asarray(pil))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in pil.info):
        return to_rgb_uint8(np.asarray(pil.convert("RGBA")))
    if mode != "RGB":
        pil = pil.convert("RGB")
    return np.asarray(pil, dtype=np.uint8).copy()


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


def _decode_with_opencv(data: bytes) -> np.ndarray | None:
    import cv2

    buffer = np.frombuffer(data, dtype=np.uint8)
    array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # keeps 16-bit; orientation handled below
    if array is None:
        return None
    oriented = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # applies EXIF orientation
    if oriented is not None and array.ndim == 3 and array.shape[2] == 4 and oriented.shape[:2] == array.shape[:2]:
        return to_rgb_uint8(cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA))
    if oriented is None:
        oriented = array
    if oriented.ndim == 3:
        oriented = cv2.cvtColor(oriented, cv2.COLOR_BGR2RGB)
    return to_rgb_uint8(oriented)
