"""laanet.media videos: even sampling with seeking, VFR, rotation, short and broken videos."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import read_pattern
from laanet.assets import sample_clips
from laanet.media import (
    EmptyMediaError,
    MediaNotFoundError,
    TruncatedVideoError,
    UnsupportedMediaError,
    load_frames,
    probe_video,
    read_video_frames,
    sample_video_frames,
)


def test_evenly_spaced_frames_are_the_right_ones(media_dir):
    frames = sample_video_frames(media_dir / "pattern_100.mp4", 8)
    expected = np.round(np.linspace(0, 99, 8)).astype(int)
    assert [f.index for f in frames] == list(expected)
    assert [read_pattern(f.image) for f in frames] == list(expected)  # content, not just labels
    assert frames[1].time_s == pytest.approx(expected[1] / 25)


@pytest.mark.parametrize("name", ["pattern_250.mkv", "pattern_250_gop10.mp4"])  # one keyframe / one every 10
@pytest.mark.parametrize("n", [4, 32])  # targets 3.3 s apart (seek) / 0.3 s apart (decode forward)
def test_frames_far_apart_in_a_longer_video(media_dir, name, n, monkeypatch):
    import laanet.media.video as video

    seeks = []
    original_seek = video._FrameCursor.seek
    monkeypatch.setattr(video._FrameCursor, "seek", lambda self, *a: (seeks.append(a), original_seek(self, *a)))
    frames = sample_video_frames(media_dir / name, n)
    expected = list(np.round(np.linspace(0, 249, n)).astype(int))
    assert [read_pattern(f.image) for f in frames] == expected
    assert [f.index for f in frames] == expected
    if n == 4 and "gop10" in name:
        assert len(seeks) == 3  # really seeked for every target after the first


def test_short_videos_give_each_frame_once(media_dir):
    one = sample_video_frames(media_dir / "one_frame.mp4", 32)
    assert len(one) == 1 and read_pattern(one[0].image) == 7
    three = sample_video_frames(media_dir / "three_frames.mp4", 32)
    assert [read_pattern(f.image) for f in three] == [0, 1, 2]
    many = sample_video_frames(media_dir / "pattern_100.mp4", 500)
    assert [f.index for f in many] == list(range(100))


def test_variable_frame_rate_picks_frames_by_time(media_dir):
    times = np.load(media_dir / "vfr_times.npy")
    frames = sample_video_frames(media_dir / "vfr.mp4", 6)
    targets = np.linspace(0, times[-1], 6)
    for frame, target in zip(frames, targets):
        nearest = int(np.argmin(np.abs(times - target)))
        assert read_pattern(frame.image) == nearest
        assert frame.time_s == pytest.approx(times[nearest], abs=1e-3)


def test_rotation_metadata_gives_upright_frames(media_dir):
    info = probe_video(media_dir / "rotated.mp4")
    assert info.rotation == 90 and (info.width, info.height) == (240, 320)
    frame = sample_video_frames(media_dir / "rotated.mp4", 1)[0]
    upright = np.load(media_dir / "rotated_upright0.npy")
    assert frame.image.shape == upright.shape  # 320 high, 240 wide
    assert np.abs(frame.image.astype(int) - upright).mean() < 8


def test_bundled_clips(media_dir):
    for clip in sample_clips():
        info = probe_video(clip)
        assert info.codec == "h264" and info.frame_count == 75 and info.fps == pytest.approx(25)
        frames = sample_video_frames(clip, 4)
        assert [f.index for f in frames] == [0, 25, 49, 74]
        assert frames[0].image.shape == (info.height, info.width, 3)


def test_truncated_video_keeps_frames_before_the_break(media_dir, caplog):
    sample = read_video_frames(media_dir / "truncated.mp4", 10)
    assert not sample.complete and "truncated" in sample.error
    assert 1 <= len(sample.frames) < 10
    assert [f.index for f in sample.frames] == sorted({f.index for f in sample.frames})
    with caplog.at_level("WARNING"):
        kept = sample_video_frames(media_dir / "truncated.mp4", 10)
    assert len(kept) == len(sample.frames) and "kept" in caplog.text
    with pytest.raises(TruncatedVideoError) as err:
        sample_video_frames(media_dir / "truncated.mp4", 10, strict=True)
    assert len(err.value.frames) == len(sample.frames)


def test_corrupt_middle_keeps_earlier_frames(media_dir):
    sample = read_video_frames(media_dir / "corrupt_middle.mp4", 10)
    assert len(sample.frames) >= 3
    assert sample.frames[0].index == 0


def test_bad_videos_raise_typed_errors(media_dir):
    with pytest.raises(MediaNotFoundError):
        sample_video_frames(media_dir / "missing.mp4")
    with pytest.raises(EmptyMediaError):
        sample_video_frames(media_dir / "empty.mp4")
    with pytest.raises(UnsupportedMediaError, match="not a readable video"):
        sample_video_frames(media_dir / "not_a_video.mp4")
    with pytest.raises(UnsupportedMediaError, match="no video stream"):
        sample_video_frames(media_dir / "audio_only.mka")
    with pytest.raises(ValueError, match="at least 1"):
        sample_video_frames(media_dir / "pattern_100.mp4", 0)


def test_load_frames_takes_images_and_videos(media_dir):
    image = load_frames(media_dir / "multi_face.jpg")
    assert len(image) == 1 and image[0].index == 0 and image[0].image.ndim == 3
    video = load_frames(media_dir / "pattern_100.mp4", 5)
    assert [f.index for f in video] == [0, 25, 50, 74, 99]
    with pytest.raises(UnsupportedMediaError, match="unknown extension"):
        load_frames(media_dir / "vfr_times.npy")
