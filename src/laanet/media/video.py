"""Videos: pick N frames evenly spaced in time, with PyAV, seeking instead of decoding everything.

The paper's test protocol takes 32 frames per video spread evenly from the first to the last frame
(``np.linspace(0, N-1, 32)`` over frame indices, official ``package_utils/images_crop.py``). Here the spacing
is over presentation time, which is the same thing for a constant frame rate and the sensible thing for a
variable one.

Handled:
- seeking: when the next wanted frame is far ahead, seek to the keyframe before it; if a seek lands behind the
  current position (long GOPs) or after the target (imprecise containers), fall back to decoding forward;
- variable frame rate: frames are chosen by timestamp, never by counting at a nominal rate;
- rotation metadata (phone videos): frames come back upright, as a player shows them;
- very short videos: fewer frames than asked come back, each once, never duplicated;
- a stream that breaks part-way: frames decoded before the break are kept and the reason is recorded
  (``VideoSample.error``); ``strict=True`` turns it into :class:`TruncatedVideoError` carrying those frames;
- frame size: a stream declaring frames over the pixel limit (``laanet.media.limits``, the same limit as for
  images) or of no size is refused before any frame is decoded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from laanet.media.errors import (
    EmptyMediaError,
    MediaDecodeError,
    MediaNotFoundError,
    TruncatedVideoError,
    UnsupportedMediaError,
)
from laanet.media.limits import check_pixels

logger = logging.getLogger(__name__)

DEFAULT_NUM_FRAMES = 32  # the paper's test protocol
_SEEK_MIN_GAP_S = 1.0  # decode forward instead of seeking when the next target is closer than this


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: ordinal of the frame from the start of the stream, from its timestamp and the average frame
            rate (exact for constant frame rate, an estimate for variable frame rate).
        time_s: presentation time in seconds from the start of the stream.
        image: H×W×3 uint8 RGB, upright (rotation metadata applied).
    """

    index: int
    time_s: float
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the first video stream (``width``/``height`` are after rotation)."""

    width: int
    height: int
    rotation: int  # degrees counter-clockwise applied to stored frames to show them upright (0, 90, 180, 270)
    fps: float  # average frame rate
    duration_s: float
    frame_count: int  # from the container when it says, else duration × fps, else counted from packets
    codec: str


@dataclass
class VideoSample:
    """Frames picked from one video, with what went wrong if the stream ended early."""

    frames: list[VideoFrame]
    info: VideoInfo
    requested: int
    error: str | None = None  # None: the stream decoded up to the last wanted frame

    @property
    def complete(self) -> bool:
        return self.error is None


def probe_video(path: str | Path, *, max_pixels: int | None = None) -> VideoInfo:
    """Read a video's header (no decoding).

    Raises:
        MediaNotFoundError, EmptyMediaError, UnsupportedMediaError, MediaTooLargeError, MediaDecodeError: see
        :func:`read_video_frames`.
    """
    with _open(path) as container:
        return _info(container, _video_stream(container, path), path, max_pixels)


def sample_video_frames(
    path: str | Path, n: int = DEFAULT_NUM_FRAMES, *, strict: bool = False, max_pixels: int | None = None
) -> list[VideoFrame]:
    """Return up to ``n`` frames evenly spaced over the video (see :func:`read_video_frames`).

    With ``strict=False`` (default) a stream that breaks part-way returns the frames decoded before the break
    and logs a warning; with ``strict=True`` it raises :class:`TruncatedVideoError` whose ``frames`` holds them.
    """
    sample = read_video_frames(path, n, max_pixels=max_pixels)
    if sample.error is not None:
        if strict:
            raise TruncatedVideoError(sample.error, path=path, frames=sample.frames)
        logger.warning("%s: %s; kept %d of %d frames", path, sample.error, len(sample.frames), sample.requested)
    return sample.frames


def read_video_frames(path: str | Path, n: int = DEFAULT_NUM_FRAMES, *, max_pixels: int | None = None) -> VideoSample:
    """Decode up to ``n`` frames evenly spaced in time from the first to the last frame.

    Args:
        path: a video file PyAV (FFmpeg) can open.
        n: how many frames to pick (≥ 1). A video with fewer frames gives each of its frames once.
        max_pixels: refuse streams whose frames declare more pixels (0: no limit); None: ``LAANET_MAX_PIXELS``
            or 120 MP (``laanet.media.limits``).

    Returns:
        A :class:`VideoSample`; ``error`` says why decoding stopped early, if it did.

    Raises:
        ValueError: ``n < 1``.
        MediaNotFoundError: no such file.
        EmptyMediaError: zero bytes.
        UnsupportedMediaError: not a media file, or no video stream.
        MediaTooLargeError: the frames declare more pixels than the limit.
        MediaDecodeError: the container opens but not a single frame decodes, or declares frames of no size.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        info = _info(container, stream, path, max_pixels)
        targets = _target_times(container, info, stream, n)
        frames, error = _decode_targets(container, stream, info, targets)
    if not frames:
        raise MediaDecodeError(f"no frame could be decoded ({error or 'empty video stream'})", path=path)
    return VideoSample(frames=frames, info=info, requested=n, error=error)


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaNotFoundError("no such file" if not path.exists() else "not a regular file", path=path)
    if path.stat().st_size == 0:
        raise EmptyMediaError("empty file (0 bytes)", path=path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.InvalidDataError as err:
        raise UnsupportedMediaError(f"not a readable video ({err})", path=path) from err
    except av.error.FFmpegError as err:
        raise MediaDecodeError(f"cannot open video ({err})", path=path) from err


def _video_stream(container, path):
    if not container.streams.video:
        raise UnsupportedMediaError("the file has no video stream", path=path)
    return container.streams.video[0]


def _info(container, stream, path, max_pixels: int | None) -> VideoInfo:
    import av

    if stream.codec_context.width > 0 and stream.codec_context.height > 0:  # 0: unknown until decoded, let it try
        check_pixels(stream.codec_context.width, stream.codec_context.height, max_pixels=max_pixels, path=path,
                     what="video's frame")  # before _stream_rotation decodes a first frame
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    frame_count = int(stream.frames or 0)
    if frame_count <= 0 and duration > 0 and fps > 0:
        frame_count = max(1, round(duration * fps))
    rotation = _stream_rotation(container, stream)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    if fps <= 0 or duration <= 0:  # no usable header: count packets (cheap: no decoding)
        duration, frame_count, fps = _count_packets(container, stream)
    return VideoInfo(width, height, rotation, fps, duration, frame_count, stream.codec_context.name)


def _stream_rotation(container, stream) -> int:
    """Rotation (degrees counter-clockwise, multiple of 90 in [0, 360)) to show frames upright.

    PyAV exposes the display matrix on decoded frames, so the first frame is decoded and the container
    rewound; the legacy ``rotate`` tag (clockwise degrees) is the fallback.
    """
    import av

    rotation = 0
    try:
        for frame in container.decode(stream):
            rotation = int(round(getattr(frame, "rotation", 0) or 0))
            break
    except av.error.FFmpegError:
        pass
    finally:
        container.seek(0)
    if rotation == 0:
        tag = (stream.metadata or {}).get("rotate")
        if tag is not None and tag.lstrip("-").isdigit():
            rotation = -int(tag)
    return (round(rotation / 90) * 90) % 360


def _count_packets(container, stream) -> tuple[float, int, float]:
    times = []
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            times.append(float(packet.pts * packet.time_base))
    container.seek(0)
    if not times:
        return 0.0, 0, 0.0
    times.sort()
    count = len(times)
    span = times[-1] - times[0]
    fps = (count - 1) / span if span > 0 else 0.0
    duration = span + (1.0 / fps if fps > 0 else 0.0)
    return duration, count, fps


def _target_times(container, info: VideoInfo, stream, n: int) -> np.ndarray:
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    last = _last_frame_time(container, stream)
    if last is None or last < start:  # fall back on the header
        frame_period = 1.0 / info.fps if info.fps > 0 else 0.0
        last = start + max(0.0, info.duration_s - frame_period)
    count = min(n, info.frame_count) if info.frame_count > 0 else n
    return np.linspace(start, last, max(1, count))


def _last_frame_time(container, stream) -> float | None:
    """Timestamp of the last packet, read by seeking to the last keyframe and demuxing to the end.

    Header durations are unreliable for variable frame rate; this costs one seek and a GOP of demuxing
    (no decoding). Returns None when the container cannot tell (e.g. the file is cut short).
    """
    import av

    last = None
    try:
        container.seek(2**62, stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None and packet.size:
                time = float(packet.pts * packet.time_base)
                last = time if last is None else max(last, time)
    except (av.error.FFmpegError, OSError):
        last = None
    finally:
        try:
            container.seek(0)
        except av.error.FFmpegError:
            pass
    return last


def _decode_targets(container, stream, info: VideoInfo, targets: np.ndarray) -> tuple[list[VideoFrame], str | None]:
    """Walk the targets in time order; seek when the next one is far ahead, otherwise decode forward."""
    import av

    start = float(targets[0]) if len(targets) else 0.0
    half_period = 0.5 / info.fps if info.fps > 0 else 0.02
    cursor = _FrameCursor(container, stream)
    frames: list[VideoFrame] = []
    try:
        for target in targets:
            if frames and frames[-1].time_s >= target - half_period:
                continue  # already past it (very short video): never return a frame twice
            if cursor.seeking and target - cursor.time > _SEEK_MIN_GAP_S and target > start + _SEEK_MIN_GAP_S:
                cursor.seek(target, half_period)
            chosen = cursor.advance_to(target, half_period)
            if chosen is None:
                break
            if frames and chosen.time <= frames[-1].time_s:
                continue  # the nearest frame was already picked for the previous target
            frames.append(_to_video_frame(chosen, start, info))
        else:
            return frames, None
    except (av.error.FFmpegError, ValueError, OSError) as err:
        return frames, f"stream broke at about {cursor.time_or(frames):.2f} s: {err}"
    return frames, (
        f"stream ended at about {cursor.time_or(frames):.2f} s, before the expected "
        f"{info.duration_s:.2f} s (truncated file?)"
    )


class _FrameCursor:
    """A decoder position with one frame of look-ahead, able to seek and to give up seeking."""

    def __init__(self, container, stream) -> None:
        self._container = container
        self._stream = stream
        self._time_base = stream.time_base or Fraction(1, 1_000_000)
        self._decoder = container.decode(stream)
        self._pending = None  # a frame read ahead and not consumed yet
        self.current = None  # the last consumed frame
        self.seeking = True

    @property
    def time(self) -> float:
        return float(self.current.time) if self.current is not None else -np.inf

    def time_or(self, frames: list[VideoFrame]) -> float:
        if self.current is not None:
            return float(self.current.time)
        return frames[-1].time_s if frames else 0.0

    def _pull(self):
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        for frame in self._decoder:
            if frame.time is not None:
                return frame
        return None

    def _restart_at(self, time_s: float) -> None:
        self._container.seek(max(0, int(time_s / self._time_base)), stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._pending = None

    def seek(self, target: float, tolerance: float) -> None:
        """Jump to the keyframe before ``target``; keep decoding forward instead if that does not help."""
        before = self.current
        self._restart_at(target)
        landed = self._pull()
        if landed is not None and before is not None and landed.time <= before.time:
            landed = None  # long GOP: the keyframe is behind us
        elif landed is not None and landed.time > target + tolerance:
            landed = None  # imprecise container: landed after the target
        if landed is not None:
            self._pending = landed
            return
        # Give up seeking for this video; go back to where we were and decode forward from there.
        self.seeking = False
        if before is None:
            self._restart_at(0.0)
            return
        self._restart_at(float(before.time))
        while (frame := self._pull()) is not None and frame.time < before.time:
            pass
        self.current = frame if frame is not None else before

    def advance_to(self, target: float, tolerance: float):
        """Consume frames up to the one nearest ``target``; None if the stream ends before reaching it."""
        best = self.current
        while True:
            frame = self._pull()
            if frame is None:  # end of stream: the last frame counts only if it is close enough
                return best if best is not None and best.time >= target - tolerance else None
            if best is None or abs(frame.time - target) <= abs(best.time - target):
                best = self.current = frame
                continue
            self._pending = frame  # farther than the previous one: that one was the nearest
            return best


def _to_video_frame(frame, start: float, info: VideoInfo) -> VideoFrame:
    image = frame.to_ndarray(format="rgb24")
    if info.rotation:
        image = np.rot90(image, k=info.rotation // 90)  # counter-clockwise, as players do
    index = int(round((frame.time - start) * info.fps)) if info.fps > 0 else 0
    return VideoFrame(index=index, time_s=float(frame.time), image=np.ascontiguousarray(image))


