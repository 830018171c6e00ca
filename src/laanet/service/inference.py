"""Detection for the service: the inference threads, and upload → JSON entry.

Everything that touches the detector runs on the inference threads (``inference_threads``, 1 by default: on
a CPU parallel requests would only split the same cores), never on the event loop, which keeps serving. The
one :class:`~laanet.inference.detector.Detector` is shared by them (it is thread-safe; per-request options
are arguments of each call). Who may hand work to them is decided by :mod:`laanet.service.admission`.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from laanet.media.image import IMAGE_EXTENSIONS
from laanet.service.errors import ImageTooLarge, UndecodableUpload, UnsupportedUpload
from laanet.service.uploads import Upload

_log = logging.getLogger(__name__)
T = TypeVar("T")


class ModelOutputError(RuntimeError):
    """The model returned a non-finite score (broken weights or numerics): an internal failure, not the upload's."""


class InferenceWorker:
    """The inference threads (``laanet-infer_0``, ...): jobs start in submission order.

    Args:
        threads: how many jobs run at once.
    """

    def __init__(self, threads: int = 1) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="laanet-infer")

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args)`` for the inference threads."""
        return self._executor.submit(fn, *args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on an inference thread and await its result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class DetectOptions:
    """Per-request options (form fields), already validated."""

    frames: int
    flip_test: bool
    threshold: float
    overlays: bool
    heatmaps: bool
    overlay_max_side: int
    max_pixels: int | None = None  # None: LAANET_MAX_PIXELS, else laanet.media's default


def analyse_upload(
    detector,
    upload: Upload,
    options: DetectOptions,
    *,
    on_frames: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict:
    """Blocking: detect on an uploaded file and build the response (one ``results.json`` entry).

    ``path`` is the client's (cleaned) file name, never the server's temporary path; each frame's ``overlay``
    is its heatmap overlay as a JPEG data URL (None with ``overlays=False``), and each frame that has one also
    gets ``overlay_scale``: overlay pixels per source pixel, to map face boxes onto it. A face's ``heatmap``
    (the file holding its raw map) is None: the server stores nothing; with ``heatmaps=True`` the raw map
    itself is in ``heatmap_values``, as in ``FileResult.to_dict(heatmap_values=True)``.

    Progress (jobs): ``on_total(n)`` is called once the file is probed, with the frames it will analyse (1 for an
    image; a video's ``frames``, or fewer when it has fewer), and ``on_frames(1)`` as each frame's faces are
    found (the detector's progress callback); an exception raised by either stops the analysis there.

    Raises:
        ImageTooLarge: the image or video declares more than ``options.max_pixels`` pixels (413).
        UnsupportedUpload: the content is not an image/video laanet can read (415).
        UndecodableUpload: empty, corrupt or truncated content, or no frame could be decoded (422).
        ModelOutputError: the model gave a non-finite score (the service answers 500 and checks the model).
    """
    from laanet.media import MediaError, MediaTooLargeError, UnsupportedMediaError, probe_video, read_image

    source: np.ndarray | Path
    try:
        if upload.extension in IMAGE_EXTENSIONS:
            source = read_image(upload.path, max_pixels=options.max_pixels)
            source_width, total = source.shape[1], 1
        else:
            info = probe_video(upload.path, max_pixels=options.max_pixels)
            source_width, source = info.width, upload.path
            total = min(options.frames, info.frame_count) if info.frame_count > 0 else options.frames
    except MediaTooLargeError as err:  # a decompression bomb: refused from its header, nothing decoded
        raise ImageTooLarge(_scrub(str(err), upload)) from None
    except UnsupportedMediaError as err:
        raise UnsupportedUpload(_scrub(str(err), upload)) from None
    except MediaError as err:
        raise UndecodableUpload(_scrub(str(err), upload)) from None

    if on_total is not None:
        on_total(max(1, total))
    progress = {} if on_frames is None else {"on_frames": on_frames}
    result = detector.detect(
        source, frames=options.frames, flip_test=options.flip_test, threshold=options.threshold,
        keep_overlays=options.overlays, **progress,
    )
    if any(not math.isfinite(face.logit) for frame in result.frames for face in frame.faces):
        raise ModelOutputError(f"{upload.filename}: the model gave a non-finite score")
    if result.status == "error":
        raise UndecodableUpload(_scrub(result.error or "the file could not be decoded", upload))

    entry = result.to_dict(heatmap_values=options.heatmaps)
    entry["path"] = upload.filename
    entry["kind"] = "image" if isinstance(source, np.ndarray) else "video"
    if entry.get("error"):
        entry["error"] = _scrub(entry["error"], upload)
    entry["timeline"] = None  # a file on the server: not for the client
    for frame_dict, frame in zip(entry["frames"], result.frames):
        if options.overlays and frame.overlay is not None:
            frame_dict["overlay"], width = overlay_data_url(frame.overlay, options.overlay_max_side)
            frame_dict["overlay_scale"] = round(width / max(1, source_width), 6)
    return entry


def overlay_data_url(overlay: np.ndarray, max_side: int, quality: int = 85) -> tuple[str, int]:
    """H×W×3 uint8 RGB → (``data:image/jpeg;base64,...`` at most ``max_side`` px on a side, its width)."""
    import cv2

    scale = min(1.0, max_side / max(overlay.shape[:2]))
    if scale < 1.0:
        overlay = cv2.resize(overlay, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(overlay[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a heatmap overlay failed")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"), overlay.shape[1]


def _scrub(message: str, upload: Upload) -> str:
    """Replace the server's temporary path in a message with the client's file name."""
    return message.replace(str(upload.path), upload.filename).replace(str(upload.path.parent), "")
