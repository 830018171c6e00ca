"""One entry point for "an image or a video": frames to run the face pipeline on."""
from __future__ import annotations

from pathlib import Path

from laanet.media.image import media_kind, read_image
from laanet.media.video import DEFAULT_NUM_FRAMES, VideoFrame, sample_video_frames


def load_frames(
    path: str | Path, num_frames: int = DEFAULT_NUM_FRAMES, *, strict: bool = False, max_pixels: int | None = None
) -> list[VideoFrame]:
    """Frames of an image (one frame, index 0, time 0) or of a video (``num_frames`` evenly spaced).

    The kind is taken from the extension (:func:`laanet.media.media_kind`); ``max_pixels``: see
    ``laanet.media.limits``.

    Raises:
        MediaError subclasses: see :func:`read_image` and :func:`sample_video_frames`.
    """
    if media_kind(path) == "image":
        return [VideoFrame(index=0, time_s=0.0, image=read_image(path, max_pixels=max_pixels))]
    return sample_video_frames(path, num_frames, strict=strict, max_pixels=max_pixels)
