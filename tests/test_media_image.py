"""laanet.media images: formats, EXIF orientation, mode conversions, typed errors."""
from __future__ import annotations

import io

import numpy as np
import pytest

from laanet.media import (
    EmptyMediaError,
    MediaDecodeError,
    MediaError,
    MediaNotFoundError,
    UnsupportedMediaError,
    downscale,
    media_kind,
    read_image,
    to_rgb_uint8,
)


def test_bundled_samples_read_as_rgb(sample_arrays):
    assert len(sample_arrays) == 6
    for image in sample_arrays.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) <= 800


def test_exif_orientation_is_applied(media_dir, sample_arrays):
    upright = sample_arrays["obama_portrait.jpg"]
    image = read_image(media_dir / "exif_rotated.jpg")
    assert image.shape == upright.shape  # stored landscape, read back portrait
    assert np.abs(image.astype(int) - upright).mean() < 4  # only JPEG re-encoding noise


def test_grayscale_rgba_and_16_bit_become_rgb_uint8(media_dir, sample_arrays):
    portrait = sample_arrays["obama_portrait.jpg"]
    gray = read_image(media_dir / "grayscale.png")
    assert gray.shape == portrait.shape and gray.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    rgba = read_image(media_dir / "rgba.png")
    assert rgba.shape == portrait.shape
    assert (rgba[:40, :40] == 0).all()  # transparent pixels composited over black
    assert np.array_equal(rgba[100:], portrait[100:])
    gray16 = read_image(media_dir / "gray16.png")
    assert np.abs(gray16[..., 0].astype(int) - portrait.mean(axis=2)).max() <= 1
    rgb16 = read_image(media_dir / "rgb16.png")
    assert np.array_equal(rgb16, portrait)


@pytest.mark.parametrize("suffix", ["webp", "bmp", "tif"])
def test_other_formats(media_dir, sample_arrays, suffix):
    image = read_image(media_dir / f"astronaut.{suffix}")
    assert image.shape == sample_arrays["astronaut.jpg"].shape


def test_bytes_and_file_objects(media_dir):
    data = (media_dir / "multi_face.jpg").read_bytes()
    from_path = read_image(media_dir / "multi_face.jpg")
    assert np.array_equal(read_image(data), from_path)
    assert np.array_equal(read_image(io.BytesIO(data)), from_path)


def test_bad_images_raise_typed_errors(media_dir):
    with pytest.raises(MediaNotFoundError, match="no such file") as missing:
        read_image(media_dir / "missing.jpg")
    assert isinstance(missing.value, FileNotFoundError)
    with pytest.raises(EmptyMediaError, match="empty file"):
        read_image(media_dir / "empty.jpg")
    with pytest.raises(UnsupportedMediaError, match="not a readable image"):
        read_image(media_dir / "not_an_image.jpg")
    with pytest.raises(MediaDecodeError, match="truncated"):
        read_image(media_dir / "truncated.jpg")
    with pytest.raises(MediaNotFoundError, match="not a regular file"):
        read_image(media_dir)
    with pytest.raises(TypeError):
        read_image(12)  # type: ignore[arg-type]
    assert issubclass(UnsupportedMediaError, MediaError)


def test_to_rgb_uint8_conversions():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_rgb_uint8(gray).shape == (3, 4, 3)
    assert to_rgb_uint8(gray[..., None]).shape == (3, 4, 3)
    rgba = np.full((2, 2, 4), 200, np.uint8)
    rgba[..., 3] = 0
    assert (to_rgb_uint8(rgba) == 0).all()
    assert (to_rgb_uint8(np.full((2, 2), 65535, np.uint16)) == 255).all()
    assert (to_rgb_uint8(np.full((2, 2, 3), 0.5, np.float32)) == 128).all()
    assert (to_rgb_uint8(np.full((2, 2, 3), 300.0)) == 255).all()
    same = np.zeros((2, 2, 3), np.uint8)
    assert to_rgb_uint8(same) is same
    with pytest.raises(ValueError, match="shape"):
        to_rgb_uint8(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        to_rgb_uint8(np.zeros((0, 2, 3), np.uint8))
    with pytest.raises(TypeError):
        to_rgb_uint8([[1, 2]])  # type: ignore[arg-type]


def test_downscale_and_media_kind():
    image = np.zeros((1000, 3000, 3), np.uint8)
    small, scale = downscale(image, 1280)
    assert small.shape == (427, 1280, 3) and scale == pytest.approx(1280 / 3000)
    same, one = downscale(image, 4000)
    assert same is image and one == 1.0
    assert media_kind("a/b.JPG") == "image" and media_kind("clip.mkv") == "video"
    with pytest.raises(UnsupportedMediaError, match="unknown extension"):
        media_kind("notes.txt")
