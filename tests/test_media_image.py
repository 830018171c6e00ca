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


# --- the pixel limit (decompression bombs) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from hostile_corpus import make_hostile_corpus

    return make_hostile_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize(
    ("name", "declared"),
    [("bomb_20000.png", "20000×20000"), ("bomb_50000.png", "50000×50000"), ("bomb_float.tif", "50000×50000"),
     ("bomb_header.jpg", "60000×60000"), ("bomb_header.gif", "65535×65535"), ("bomb_header.bmp", "50000×50000")],
)
def test_bombs_are_refused_on_their_declared_size(hostile, monkeypatch, name, declared):
    import cv2
    from PIL import ImageFile

    from laanet.media import MediaTooLargeError

    def no_decoding(*args, **kwargs):
        raise AssertionError("a decoder ran on a bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    for source in (hostile[name], hostile[name].read_bytes()):
        with pytest.raises(MediaTooLargeError, match=f"declares {declared} px .* over the limit of 120.0 megapixels"):
            read_image(source)
    assert issubclass(MediaTooLargeError, UnsupportedMediaError)


def test_one_pixel_limit_for_every_decoder(media_dir, tmp_path, monkeypatch):
    """The same limit, from the argument or LAANET_MAX_PIXELS, for Pillow, OpenCV's fallback and PyAV."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    from laanet.media import MediaTooLargeError, read_video_frames

    png = media_dir / "grayscale.png"  # 640×800 = 512000 px
    float_tiff = tmp_path / "float.tif"  # Pillow cannot read float RGB TIFF: OpenCV decodes it
    cv2.imwrite(str(float_tiff), np.random.default_rng(0).random((20, 30, 3), np.float32))
    with pytest.raises(UnidentifiedImageError):
        Image.open(float_tiff)
    clip = media_dir / "face_clip.mp4"  # 240×320 = 76800 px per frame
    for path, pixels in ((png, 512_000), (float_tiff, 600)):
        assert read_image(path, max_pixels=pixels).shape[:2] in ((800, 640), (20, 30))
        with pytest.raises(MediaTooLargeError, match=f"{pixels / 1e6:.1f} megapixels"):
            read_image(path, max_pixels=pixels - 1)
    assert len(read_video_frames(clip, 2, max_pixels=76_800).frames) == 2
    with pytest.raises(MediaTooLargeError, match="video's frame declares 240×320 px"):
        read_video_frames(clip, 2, max_pixels=76_799)

    monkeypatch.setenv("LAANET_MAX_PIXELS", "5e5")
    for call in (lambda: read_image(png), lambda: read_video_frames(media_dir / "face_clip.mp4", 2, max_pixels=70_000)):
        with pytest.raises(MediaTooLargeError):
            call()
    assert read_image(png, max_pixels=0).shape == (800, 640, 3)  # 0: no limit, the argument wins over the variable
    monkeypatch.setenv("LAANET_MAX_PIXELS", "0")
    assert read_image(png).shape == (800, 640, 3)
    monkeypatch.setenv("LAANET_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="LAANET_MAX_PIXELS must be a whole number"):
        read_image(png)


def test_pillows_own_limit_does_not_decide(media_dir, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would call a 640×800 image a bomb
    assert read_image(media_dir / "grayscale.png").shape == (800, 640, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after the lifted read


def test_alpha_is_composited_in_bands(monkeypatch):
    import laanet.media.image as image_module

    rgba = np.random.default_rng(2).integers(0, 256, (37, 11, 4), dtype=np.uint8)
    expected = np.rint(rgba[..., :3] * (rgba[..., 3:4] / 255.0)).astype(np.uint8)
    monkeypatch.setattr(image_module, "_ALPHA_ROWS", 8)
    assert np.array_equal(to_rgb_uint8(rgba), expected)
