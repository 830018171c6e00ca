"""Write videos with PyAV and make short clips from still photos (for samples, tests and benchmarks).

Real face videos cannot be shipped, so clips are synthesised from the bundled photos: a slow pan and zoom
(a "Ken Burns" move) with a small in-plane rotation, so that successive frames differ like a real video's.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 25.0,
    codec: str = "libx264",
    crf: int = 23,
    times_s: Sequence[float] | None = None,
    rotation: int = 0,
    faststart: bool = True,
    keyframe_interval: int | None = None,
) -> int:
    """Encode RGB uint8 frames (all the same size, even width and height for yuv420p) into a video file.

    Args:
        path: output file; the container follows the extension (.mp4, .mkv, .avi, .ts ...).
        frames: H×W×3 uint8 RGB arrays.
        fps: nominal frame rate; frame ``i`` is shown at ``i / fps`` unless ``times_s`` is given.
        codec: an FFmpeg encoder PyAV has (libx264, h264, mpeg4, libvpx-vp9 ...).
        crf: quality for x264 (lower is better).
        times_s: presentation time of each frame in seconds, increasing (gives a variable frame rate).
        rotation: display rotation written to the stream (degrees counter-clockwise, as phones store it).
        faststart: put the MP4 index first, so that a truncated file still opens.
        keyframe_interval: frames between keyframes (GOP size); None keeps the encoder's default (250 for x264).

    Returns:
        Number of frames written.
    """
    import av

    path = Path(path)
    options = {"movflags": "+faststart"} if faststart and path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90_000) if times_s is not None else 1 / rate
    count = 0
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if codec in ("libx264", "h264", "libx265", "hevc"):
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        if keyframe_interval is not None:
            stream.codec_context.gop_size = keyframe_interval
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            if count == 0:
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = round(times_s[i] / time_base) if times_s is not None else i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count


def pan_zoom_frames(
    image: np.ndarray,
    *,
    size: tuple[int, int] = (360, 360),
    num_frames: int = 75,
    zoom: tuple[float, float] = (1.0, 1.12),
    shift: tuple[float, float] = (0.04, 0.02),
    max_angle_deg: float = 3.0,
) -> Iterator[np.ndarray]:
    """Frames of a slow pan, zoom and rotation over a still image.

    Args:
        image: H×W×3 uint8 RGB still.
        size: output (width, height), even numbers for H.264.
        num_frames: how many frames.
        zoom: start and end zoom factor (1 = the whole image fits the frame's short side).
        shift: horizontal and vertical drift of the centre over the clip, as a fraction of the image size.
        max_angle_deg: amplitude of a slow in-plane rotation (one sine period over the clip).

    Yields:
        size[1]×size[0]×3 uint8 RGB frames.
    """
    import cv2

    out_w, out_h = size
    height, width = image.shape[:2]
    base_scale = max(out_w / width, out_h / height)
    for i in range(num_frames):
        t = i / max(1, num_frames - 1)
        scale = base_scale * (zoom[0] + (zoom[1] - zoom[0]) * t)
        angle = max_angle_deg * np.sin(2 * np.pi * t)
        cx = width / 2 + shift[0] * width * (t - 0.5)
        cy = height / 2 + shift[1] * height * (t - 0.5)
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        matrix[:, 2] += (out_w / 2 - cx, out_h / 2 - cy)
        yield cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
