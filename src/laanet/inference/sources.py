"""What :class:`~laanet.inference.detector.Detector` accepts, turned into named inputs that load their frames.

Accepted: a path (``str`` / ``os.PathLike``) to an image or a video; a folder (its images and videos, recursively,
sorted); an ``http://`` / ``https://`` URL (downloaded to memory, at most :data:`MAX_DOWNLOAD_BYTES`); a numpy
array (H×W×3 RGB, or H×W gray / H×W×4 RGBA, uint8 / uint16 / float); a PIL image; encoded bytes (image or
video); a binary file object; or a list / tuple of any of these.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from laanet.media import MediaError, UnsupportedMediaError, media_kind, read_image, read_video_frames, to_rgb_uint8
from laanet.media.image import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

ACCEPTED = (
    "a path or http(s) URL (str or os.PathLike) to an image, video or folder, a numpy array (H×W×3 RGB), "
    "a PIL image, bytes, a binary file object, or a list of these"
)
MAX_DOWNLOAD_BYTES = 512 << 20  # a URL whose body is larger is refused
DOWNLOAD_TIMEOUT_S = 30.0

Frame = tuple[int, "float | None", np.ndarray]  # (frame index, time in seconds or None, H×W×3 RGB)


class NoInputsError(ValueError):
    """A folder (or list) without any image or video in it."""


@dataclass
class Input:
    """One item to score: its name in results and how to read its frames.

    ``load(frames)`` returns ``(kind, frames, warning)``: ``"image"`` or ``"video"``, the sampled frames, and a
    message when a video broke off early (its decoded frames are kept). It raises ``MediaError`` / ``OSError``
    / ``ValueError`` for unreadable content.
    """

    name: str
    load: Callable[[int], tuple[str, list[Frame], str | None]]
    kind_hint: str = "image"


def is_url(source: object) -> bool:
    return isinstance(source, str) and source[:8].lower().startswith(("http://", "https://"))


def media_files(folder: Path) -> list[Path]:
    """Images and videos under ``folder`` (recursive, by extension, sorted)."""
    known = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in known)


def collect_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, images and videos by extension, sorted); files are kept as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(media_files(p) if p.is_dir() else [p])
    return out


def expand(source: object, *, strict: bool) -> tuple[list[Input], bool]:
    """``(inputs, is_batch)`` for one user-supplied source; ``is_batch`` for folders and lists.

    ``strict``: a path that does not exist raises ``FileNotFoundError`` (else it becomes an input whose load
    fails, i.e. an ``error`` result, so that a long run goes on).

    Raises:
        TypeError: a type not in :data:`ACCEPTED`.
        FileNotFoundError: (strict) a missing path.
        NoInputsError: a folder with no image or video in it.
    """
    if isinstance(source, (list, tuple)):
        inputs = [item for k, s in enumerate(source) for item in _expand_one(s, strict=strict, index=k)]
        return inputs, True
    if isinstance(source, (str, os.PathLike)) and not is_url(source) and Path(source).is_dir():
        return _expand_one(source, strict=strict, index=None), True
    return _expand_one(source, strict=strict, index=None), False


def iter_inputs(sources: Iterable[object], *, strict: bool = False) -> Iterator[Input]:
    for source in sources:
        yield from expand(source, strict=strict)[0]


def _expand_one(source: object, *, strict: bool, index: int | None) -> list[Input]:
    suffix = "" if index is None else f" {index}"
    if is_url(source):
        return [Input(str(source), lambda n, url=str(source): _load_bytes(_download(url), n, Path(url.split("?")[0]).suffix))]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = media_files(path)
            if not files:
                raise NoInputsError(
                    f"no images or videos in folder {path} (extensions: {', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))})"
                )
            return [_path_input(f) for f in files]
        if strict and not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        return [_path_input(path)]
    if isinstance(source, np.ndarray):
        image = _check_array(source)  # a bad shape is the caller's mistake: raise now, not as an error result
        return [Input(f"<array{suffix}>", lambda n: ("image", [(0, None, image)], None))]
    if _is_pil_image(source):
        return [Input(f"<image{suffix}>", lambda n, im=source: ("image", [(0, None, np.asarray(im.convert("RGB")))], None))]
    if isinstance(source, (bytes, bytearray, memoryview)):
        return [Input(f"<bytes{suffix}>", lambda n, b=bytes(source): _load_bytes(b, n, ""))]
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        label = str(name) if isinstance(name, str) else f"<stream{suffix}>"
        return [Input(label, lambda n, f=source: _load_bytes(_read_stream(f), n, Path(label).suffix))]
    raise TypeError(f"cannot detect on {type(source).__name__}; expected {ACCEPTED}")


def _path_input(path: Path) -> Input:
    kind = "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"
    return Input(str(path), lambda n: _load_path(path, n), kind_hint=kind)


def _load_path(path: Path, n: int) -> tuple[str, list[Frame], str | None]:
    if media_kind(path) == "image":
        return "image", [(0, None, read_image(path))], None
    return _load_video(path, n)


def _load_video(path: Path, n: int) -> tuple[str, list[Frame], str | None]:
    sample = read_video_frames(path, n)
    warning = None
    if sample.error:
        warning = f"video stream broke after {len(sample.frames)} of {sample.requested} frames: {sample.error}"
    return "video", [(f.index, f.time_s, f.image) for f in sample.frames], warning


def _load_bytes(data: bytes, n: int, suffix: str) -> tuple[str, list[Frame], str | None]:
    """Encoded bytes: an image if an image decoder takes them, else a video (through a temporary file)."""
    if suffix.lower() not in VIDEO_EXTENSIONS:
        try:
            return "image", [(0, None, read_image(data))], None
        except UnsupportedMediaError as err:
            image_error = err
    else:
        image_error = None
    fd, tmp = tempfile.mkstemp(prefix="laanet-", suffix=suffix.lower() if suffix.lower() in VIDEO_EXTENSIONS else ".bin")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return _load_video(Path(tmp), n)
    except UnsupportedMediaError:
        if image_error is not None:
            raise UnsupportedMediaError("not a readable image or video") from None
        raise
    finally:
        os.unlink(tmp)


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        raise ValueError(f"expected an H×W×3 RGB image, got an array of shape {array.shape}; pass video frames one by one, or the video file")
    return to_rgb_uint8(array)


def _is_pil_image(source: object) -> bool:
    pil = sys.modules.get("PIL.Image")  # only a loaded PIL can have made one
    return pil is not None and isinstance(source, pil.Image)


def _read_stream(stream) -> bytes:
    data = stream.read(MAX_DOWNLOAD_BYTES + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"the file object returned {type(data).__name__}, not bytes; open it in binary mode ('rb')")
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise MediaError(f"larger than {MAX_DOWNLOAD_BYTES >> 20} MiB")
    return bytes(data)


def _download(url: str) -> bytes:
    """GET ``url`` into memory (redirects followed, at most :data:`MAX_DOWNLOAD_BYTES`)."""
    import urllib.error
    import urllib.request

    from laanet import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"laanet/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise MediaError(f"download refused: {int(declared) >> 20} MiB is over the {MAX_DOWNLOAD_BYTES >> 20} MiB limit")
            return _read_stream(response)
    except urllib.error.HTTPError as err:
        raise MediaError(f"download failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise MediaError(f"download failed: {reason}") from None
