"""Reading images and videos for laanet: upright RGB uint8 arrays, typed errors for bad input.

- :func:`read_image` — any common image file → H×W×3 RGB uint8 (EXIF orientation, grayscale, RGBA, 16-bit).
- :func:`sample_video_frames` / :func:`read_video_frames` — N frames evenly spaced in time, with PyAV.
- :func:`load_frames` — either of the above from a path, chosen by extension.
- One pixel limit for every decoder (``max_pixels`` / ``LAANET_MAX_PIXELS``, 120 MP by default): files declaring
  more are refused before decoding (:class:`MediaTooLargeError`, ``laanet.media.limits``).
- :func:`write_video`, :func:`pan_zoom_frames` — make small test clips.
- Errors subclass :class:`MediaError`.
"""
from __future__ import annotations

from laanet.media.errors import (
    EmptyMediaError,
    MediaDecodeError,
    MediaError,
    MediaNotFoundError,
    MediaTooLargeError,
    TruncatedVideoError,
    UnsupportedMediaError,
)
from laanet.media.image import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, downscale, media_kind, read_image, to_rgb_uint8
from laanet.media.limits import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, check_pixels, max_pixels_limit
from laanet.media.load import load_frames
from laanet.media.synthetic import pan_zoom_frames, write_video
from laanet.media.video import (
    DEFAULT_NUM_FRAMES,
    VideoFrame,
    VideoInfo,
    VideoSample,
    probe_video,
    read_video_frames,
    sample_video_frames,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_NUM_FRAMES",
    "EmptyMediaError",
    "IMAGE_EXTENSIONS",
    "MediaDecodeError",
    "MediaError",
    "MAX_PIXELS_ENV",
    "MediaNotFoundError",
    "MediaTooLargeError",
    "TruncatedVideoError",
    "UnsupportedMediaError",
    "VIDEO_EXTENSIONS",
    "VideoFrame",
    "VideoInfo",
    "VideoSample",
    "check_pixels",
    "downscale",
    "load_frames",
    "max_pixels_limit",
    "media_kind",
    "pan_zoom_frames",
    "probe_video",
    "read_image",
    "read_video_frames",
    "sample_video_frames",
    "to_rgb_uint8",
    "write_video",
]
