"""A corpus of hostile inputs for laanet (issue: "nothing lost, nothing stuck"), written from bytes at test time.

Nothing here is stored in git: every file is made by :func:`make_hostile_corpus` from the bundled sample photos
and clips, from hand-written PNG/TIFF headers, or from plain bytes. The bombs are small on disk and declare huge
sizes; the 8000×8000 JPEG (~1.2 MB) is encoded on the spot.

Interface (stable; the CLI, API and server tests all use it)::

    from hostile_corpus import EXPECTED_STATUS, make_hostile_corpus

    files = make_hostile_corpus(tmp_path / "hostile")    # {name: Path}, names are the keys of EXPECTED_STATUS
    for name, path in files.items():
        status = run_somehow(path)                        # "ok" | "no_face" | "error"
        assert status in EXPECTED_STATUS[name]

``EXPECTED_STATUS`` holds the statuses a correct pipeline may give each file with any model (the statuses do not
depend on the weights, only on the face detector finding the faces of the sample photos). ``FACES`` gives the
number of faces the files with faces hold. Run ``python scripts/make_hostile_corpus.py OUT`` to look at the files.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

OK, NO_FACE, ERROR = "ok", "no_face", "error"

# name → statuses a correct pipeline may give it. Keep the names stable: other tests refer to them.
EXPECTED_STATUS: dict[str, frozenset[str]] = {
    "one_pixel.png": frozenset({NO_FACE, ERROR}),  # 1×1: used to break the MediaPipe graph for good
    "thin_4000x3.png": frozenset({NO_FACE, ERROR}),  # under 2 px on a side once shrunk for detection
    "grayscale.png": frozenset({OK}),
    "rgba.png": frozenset({OK}),  # with a transparent corner
    "rgb16.png": frozenset({OK}),  # 16 bits per channel
    "gray16.png": frozenset({OK}),
    "bomb_20000.png": frozenset({ERROR}),  # complete 1-bit PNG, 20000×20000 (400 MP), ~50 KB on disk
    "bomb_50000.png": frozenset({ERROR}),  # header of a 50000×50000 RGB PNG, under 300 bytes
    "bomb_float.tif": frozenset({ERROR}),  # TIFF Pillow cannot read (float RGB) declaring 50000×50000: OpenCV's path
    "bomb_header.jpg": frozenset({ERROR}),  # 23-byte JPEG declaring 60000×60000
    "bomb_header.gif": frozenset({ERROR}),  # 29-byte GIF declaring 65535×65535
    "bomb_header.bmp": frozenset({ERROR}),  # 118-byte BMP declaring 50000×50000
    "huge_8000.jpg": frozenset({OK}),  # a real 8000×8000 photo with one face, ~1.2 MB
    "truncated.jpg": frozenset({ERROR}),
    "truncated.mp4": frozenset({OK, ERROR}),  # frames before the cut may be scored (the result says it broke)
    "empty.jpg": frozenset({ERROR}),  # zero bytes
    "empty.mp4": frozenset({ERROR}),
    "text.jpg": frozenset({ERROR}),  # a text file named .jpg
    "garbage.mp4": frozenset({ERROR}),  # random bytes named .mp4
    "mp4_named.jpg": frozenset({ERROR}),  # a real video with an image extension
    "tiny_frames.mp4": frozenset({NO_FACE, ERROR}),  # a valid 16×16 video: too small to hold a face
    "no_face.png": frozenset({NO_FACE}),
    "two_faces.jpg": frozenset({OK}),
}
FACES = {"two_faces.jpg": 2, "huge_8000.jpg": 1, "grayscale.png": 1, "rgba.png": 1, "rgb16.png": 1, "gray16.png": 1}


def make_hostile_corpus(folder: str | Path) -> dict[str, Path]:
    """Write every file of :data:`EXPECTED_STATUS` into ``folder`` (created if needed).

    Returns:
        name → path, in the order of :data:`EXPECTED_STATUS`. Takes about 2 s (the 8000×8000 JPEG) and
        ~4 MB of disk.
    """
    from laanet.assets import sample_path
    from laanet.media import read_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    portrait = _shrink(read_image(sample_path("obama_portrait.jpg")), 320)
    writers = {
        "one_pixel.png": lambda: png_bytes(np.array([[[200, 30, 30]]], np.uint8)),
        "thin_4000x3.png": lambda: png_bytes(np.full((3, 4000, 3), 90, np.uint8)),
        "grayscale.png": lambda: _pillow_bytes(portrait.mean(axis=2).astype(np.uint8), "PNG"),
        "rgba.png": lambda: png_bytes(_with_alpha(portrait)),
        "rgb16.png": lambda: png_bytes(portrait.astype(np.uint16) * 257),
        "gray16.png": lambda: png_bytes((portrait.mean(axis=2) * 257).astype(np.uint16)),
        "bomb_20000.png": lambda: png_bomb(20000, 20000),
        "bomb_50000.png": lambda: png_header_only(50000, 50000),
        "bomb_float.tif": lambda: tiff_float_header(50000, 50000),
        "bomb_header.jpg": lambda: jpeg_header_only(60000, 60000),
        "bomb_header.gif": lambda: gif_header_only(65535, 65535),
        "bomb_header.bmp": lambda: bmp_header_only(50000, 50000),
        "huge_8000.jpg": lambda: _huge_photo(portrait, 8000),
        "truncated.jpg": lambda: _cut(sample_path("grace_hopper.jpg").read_bytes(), 0.4),
        "truncated.mp4": lambda: _cut(sample_path("clip_obama.mp4").read_bytes(), 0.6),
        "empty.jpg": lambda: b"",
        "empty.mp4": lambda: b"",
        "text.jpg": lambda: b"this is a text file, not a JPEG\n" * 20,
        "garbage.mp4": lambda: np.random.default_rng(13).integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
        "mp4_named.jpg": lambda: sample_path("clip_astronaut.mp4").read_bytes(),
        "tiny_frames.mp4": lambda: _tiny_video(folder / "tiny_frames.mp4"),
        "no_face.png": lambda: _pillow_bytes(_no_face(), "PNG"),
        "two_faces.jpg": lambda: _pillow_bytes(_two_faces(portrait), "JPEG"),
    }
    assert writers.keys() == EXPECTED_STATUS.keys()
    files = {}
    for name, write in writers.items():
        path = folder / name
        path.write_bytes(write())
        files[name] = path
    return files


# --- PNG and TIFF written by hand ---------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bytes(image: np.ndarray) -> bytes:
    """A valid PNG of an H×W (gray), H×W×3 (RGB) or H×W×4 (RGBA) uint8 or uint16 array."""
    image = np.ascontiguousarray(image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    bit_depth = 16 if image.dtype == np.uint16 else 8
    rows = image.astype(">u2" if bit_depth == 16 else np.uint8).reshape(image.shape[0], -1).view(np.uint8)
    raw = np.hstack([np.zeros((image.shape[0], 1), np.uint8), rows])  # filter type 0 on every row
    return _png(image.shape[1], image.shape[0], bit_depth, colour_type, zlib.compress(raw.tobytes(), 9))


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit grayscale PNG of ``width``×``height`` black pixels (tiny on disk, huge decoded)."""
    row = bytes(1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    return _png(width, height, 1, 0, b"".join(parts) + compressor.flush())


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring ``width``×``height`` RGB with one short IDAT: a few hundred bytes."""
    return _png(width, height, 8, 2, zlib.compress(bytes(200), 9))


def tiff_float_header(width: int, height: int) -> bytes:
    """A little-endian TIFF declaring ``width``×``height`` float32 RGB (a layout Pillow does not read, OpenCV does).

    The strip is a few bytes only: the file is refused on its declared size or fails decoding, never allocates.
    """
    entries = [  # (tag, type, count, value); types: 3 SHORT, 4 LONG
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 32), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, 8 + 2 + 12 * 11 + 4), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, 16),
        (284, 3, 1, 1), (339, 3, 1, 3),  # PlanarConfiguration contiguous, SampleFormat IEEE float
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, count, value in entries
    ) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(16)


def jpeg_header_only(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 declaring ``width``×``height`` (3 components), EOI: no tables, no data."""
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"".join(struct.pack(">BBB", i + 1, 0x11, 0) for i in range(3))
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame + b"\xff\xd9"


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF whose screen and single image declare ``width``×``height`` (at most 65535), with 2 bytes of data."""
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def bmp_header_only(width: int, height: int) -> bytes:
    """An uncompressed 24-bit BMP declaring ``width``×``height`` with 64 bytes of pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 64, 0, 0, 14 + len(info)) + info + bytes(64)


# --- images and videos made from the samples ----------------------------------------------------------------------------


def _pillow_bytes(image: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _shrink(image: np.ndarray, height: int) -> np.ndarray:
    import cv2

    width = round(image.shape[1] * height / image.shape[0])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _with_alpha(image: np.ndarray) -> np.ndarray:
    alpha = np.full(image.shape[:2], 255, np.uint8)
    alpha[:40, :40] = 0
    return np.dstack([image, alpha])


def _huge_photo(face: np.ndarray, side: int) -> bytes:
    """A ``side``×``side`` JPEG with the face enlarged to ~40 % of the height, off centre."""
    import cv2

    canvas = np.full((side, side, 3), 120, np.uint8)
    big = cv2.resize(face, None, fx=0.4 * side / face.shape[0], fy=0.4 * side / face.shape[0])
    top, left = side // 4, side // 3
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return _pillow_bytes(canvas, "JPEG")


def _two_faces(face: np.ndarray) -> np.ndarray:
    """The face at full size beside a mirrored copy at 3/4 size, on grey."""
    small = _shrink(face[:, ::-1], face.shape[0] * 3 // 4)
    canvas = np.full((face.shape[0], face.shape[1] + small.shape[1] + 40, 3), 128, np.uint8)
    canvas[:, : face.shape[1]] = face
    canvas[: small.shape[0], face.shape[1] + 40 :] = small
    return canvas


def _no_face() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]
    gradient = np.dstack([xx * 255 // 320, yy * 255 // 240, (xx + yy) * 255 // 560]).astype(np.int16)
    return np.clip(gradient + rng.integers(-20, 20, gradient.shape), 0, 255).astype(np.uint8)


def _tiny_video(path: Path) -> bytes:
    from laanet.media import write_video

    write_video(path, [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(5)], fps=10)
    return path.read_bytes()


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]
