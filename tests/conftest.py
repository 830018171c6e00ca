"""Shared pytest fixtures.

Sections (keep them apart; add new ones at the end under their own heading):
- sample media: the photos bundled in ``laanet/assets/samples`` as arrays;
- generated media: odd test files (EXIF-rotated, grayscale, RGBA, 16-bit, multi-face, no-face, broken and
  unusual videos) written once per session into a temporary folder, from the bundled samples;
- face analyzers: one per backend per session (models take a second to load).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# ---------------------------------------------------------------------------------------------------------
# Sample media
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_arrays() -> dict[str, np.ndarray]:
    """Bundled sample photos, name → H×W×3 uint8 RGB."""
    from laanet.assets import sample_images
    from laanet.media import read_image

    return {path.name: read_image(path) for path in sample_images()}


# ---------------------------------------------------------------------------------------------------------
# Generated media
# ---------------------------------------------------------------------------------------------------------


def index_pattern(index: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """An RGB frame whose content encodes ``index`` (0-255) in two flat grey halves, robust to H.264.

    Left half: 16 × (index // 16) + 8; right half: 16 × (index % 16) + 8. Decode with :func:`read_pattern`.
    """
    height, width = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:, : width // 2] = 16 * (index // 16) + 8
    frame[:, width // 2 :] = 16 * (index % 16) + 8
    return frame


def read_pattern(frame: np.ndarray) -> int:
    """Inverse of :func:`index_pattern` (reads the centre of each half)."""
    height, width = frame.shape[:2]
    hi = frame[height // 4 : 3 * height // 4, width // 8 : 3 * width // 8].mean()
    lo = frame[height // 4 : 3 * height // 4, 5 * width // 8 : 7 * width // 8].mean()
    return int(round((hi - 8) / 16)) * 16 + int(round((lo - 8) / 16))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory, sample_arrays) -> Path:
    """A folder of generated test media (see :func:`_write_images` and :func:`_write_videos` for the list)."""
    folder = tmp_path_factory.mktemp("media")
    _write_images(folder, sample_arrays)
    _write_videos(folder, sample_arrays)
    return folder


def _write_images(folder: Path, samples: dict[str, np.ndarray]) -> None:
    import cv2
    from PIL import Image

    portrait = samples["obama_portrait.jpg"]
    # EXIF orientation 6 ("rotate 90° clockwise to view"): store the pixels rotated counter-clockwise.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(portrait, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(folder / "exif_rotated.jpg", quality=92, exif=exif.tobytes())
    Image.fromarray(portrait).convert("L").save(folder / "grayscale.png")
    rgba = np.dstack([portrait, np.full(portrait.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0  # a transparent corner
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    gray16 = (portrait.mean(axis=2) * 257).astype(np.uint16)
    cv2.imwrite(str(folder / "gray16.png"), gray16)
    cv2.imwrite(str(folder / "rgb16.png"), (portrait[:, :, ::-1].astype(np.uint16) * 257))
    for suffix in ("webp", "bmp", "tif"):
        Image.fromarray(samples["astronaut.jpg"]).save(folder / f"astronaut.{suffix}")
    # Two faces side by side, of different sizes: Grace Hopper (face ≈ 215 px) and the astronaut (≈ 90 px).
    left = samples["grace_hopper.jpg"]
    right = samples["astronaut.jpg"][:330]  # above the suit's emblem, which dlib's HOG scores as a face (~0.3)
    canvas = np.full((left.shape[0], left.shape[1] + right.shape[1] + 40, 3), 128, np.uint8)
    canvas[:, : left.shape[1]] = left
    canvas[100 : 100 + right.shape[0], left.shape[1] + 40 :] = right
    Image.fromarray(canvas).save(folder / "multi_face.jpg", quality=92)
    # No face: smooth colour gradients and noise.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:360, 0:480]
    no_face = np.dstack([xx * 255 // 480, yy * 255 // 360, (xx + yy) * 255 // 840]).astype(np.int16)
    no_face = np.clip(no_face + rng.integers(-20, 20, no_face.shape), 0, 255).astype(np.uint8)
    Image.fromarray(no_face).save(folder / "no_face.png")
    # Broken files.
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "not_an_image.jpg").write_bytes(b"this is not an image\n" * 50)
    data = (folder / "multi_face.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])


def _write_videos(folder: Path, samples: dict[str, np.ndarray]) -> None:
    from laanet.media import pan_zoom_frames, write_video

    write_video(folder / "pattern_100.mp4", (index_pattern(i) for i in range(100)), fps=25)
    write_video(folder / "pattern_250.mkv", (index_pattern(i) for i in range(250)), fps=25)
    write_video(folder / "pattern_250_gop10.mp4", (index_pattern(i) for i in range(250)), fps=25, keyframe_interval=10)
    write_video(folder / "one_frame.mp4", [index_pattern(7)], fps=25)
    write_video(folder / "three_frames.mp4", (index_pattern(i) for i in range(3)), fps=25)
    # Variable frame rate: bursts of 50 fps and gaps of 0.2 s.
    steps = np.where(np.arange(59) % 10 < 7, 0.02, 0.2)
    times = np.concatenate([[0.0], np.cumsum(steps)])
    write_video(folder / "vfr.mp4", (index_pattern(i) for i in range(60)), times_s=times)
    np.save(folder / "vfr_times.npy", times)
    # Rotation metadata (a phone held upright): stored landscape, displayed portrait.
    face = samples["obama_portrait.jpg"][:640]
    still = {"zoom": (1.0, 1.0), "shift": (0, 0), "max_angle_deg": 0}
    upright = list(pan_zoom_frames(face, size=(240, 320), num_frames=10, **still))
    stored = [np.ascontiguousarray(np.rot90(frame, k=-1)) for frame in upright]  # displayed = rot90(stored, +1)
    write_video(folder / "rotated.mp4", stored, fps=25, rotation=90)
    np.save(folder / "rotated_upright0.npy", upright[0])
    # A clip of a face, then broken copies of it.
    write_video(folder / "face_clip.mp4", pan_zoom_frames(face, size=(240, 320), num_frames=50), fps=25)
    clip = (folder / "face_clip.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(clip[: int(len(clip) * 0.6)])
    corrupt = bytearray(clip)
    middle = len(corrupt) // 2
    corrupt[middle : middle + 4000] = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (folder / "corrupt_middle.mp4").write_bytes(bytes(corrupt))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "not_a_video.mp4").write_bytes(b"\x00\x01 definitely not a video " * 100)
    _write_audio_only(folder / "audio_only.mka")


def _write_audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp2", rate=16000)
        stream.layout = "mono"
        samples = np.zeros((1, 16000), np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------------------------------------------------
# Face analyzers
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dlib_analyzer():
    from laanet.faces import FaceAnalyzer

    with FaceAnalyzer("dlib") as analyzer:
        yield analyzer


SAMPLE_FACE_NAMES = ("astronaut", "grace_hopper", "obama_portrait")


@pytest.fixture(scope="session")
def sample_face_crops(dlib_analyzer) -> dict:
    """name → (256-px crop H×W×3 uint8, its 68 landmarks as float32) of three bundled photos (dlib backend)."""
    import numpy as np

    from laanet.faces import crop_face
    from laanet.media import read_image

    samples = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"
    out = {}
    for name in SAMPLE_FACE_NAMES:
        image = read_image(samples / f"{name}.jpg")
        crop = crop_face(image, dlib_analyzer.detect(image)[0])
        out[name] = (crop.image, np.asarray(crop.landmarks, np.float32))
    return out


@pytest.fixture(scope="session")
def mediapipe_analyzer():
    from laanet.faces import FaceAnalyzer

    with FaceAnalyzer("mediapipe") as analyzer:
        yield analyzer


@pytest.fixture(scope="session", params=["dlib", "mediapipe"])
def analyzer(request):
    """Each backend in turn."""
    return request.getfixturevalue(f"{request.param}_analyzer")


# ---------------------------------------------------------------------------------------------------------
# Reference fixtures of the official code and prepared sample folders
# ---------------------------------------------------------------------------------------------------------

OFFICIAL_TARGETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "official_targets.pt"
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"


@pytest.fixture(scope="session")
def official() -> dict:
    """``../shared/fixtures/official_targets.pt``: boundaries, targets and losses from the official code."""
    import torch

    if not OFFICIAL_TARGETS.is_file():
        pytest.skip(f"fixture not found: {OFFICIAL_TARGETS}")
    return torch.load(OFFICIAL_TARGETS, weights_only=True)


FAKEFORMER_TARGETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "fakeformer" / "targets.pt"


@pytest.fixture(scope="session")
def fakeformer_targets() -> dict:
    """``../shared/fixtures/fakeformer/targets.pt``: FakeFormer boundaries, 14×14 targets and losses from the
    official code."""
    import torch

    if not FAKEFORMER_TARGETS.is_file():
        pytest.skip(f"FakeFormer fixture not found: {FAKEFORMER_TARGETS}")
    return torch.load(FAKEFORMER_TARGETS, weights_only=True)


def prepare_samples(tmp_path_factory, photos: tuple[str, ...], crop_size: int) -> Path:
    """``laanet prepare folder`` over a copy of some bundled photos; returns the prepared folder."""
    import shutil

    from typer.testing import CliRunner

    from laanet.cli import app

    root = tmp_path_factory.mktemp("faces")
    for name in photos:
        shutil.copy(SAMPLES_DIR / name, root / name)
    out = tmp_path_factory.mktemp("prep")
    args = ["prepare", "folder", "--root", str(root), "--out", str(out), "--crop-size", str(crop_size), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


# ---------------------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------------------

TRAIN_PHOTOS = ("astronaut.jpg", "grace_hopper.jpg", "obama_portrait.jpg")


@pytest.fixture(scope="session")
def train_prep(tmp_path_factory) -> Path:
    """Three bundled photos prepared at 160 px: 2 training videos + 1 held out, for tiny ``cpu-tiny`` runs."""
    return prepare_samples(tmp_path_factory, TRAIN_PHOTOS, crop_size=160)


@pytest.fixture()
def one_torch_thread():
    """One intra-op thread: as fast for tiny tensors, and no stall when the CI machine is busy."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------------------
# Tiny model weights
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A laanet checkpoint of the ``cpu-tiny`` model (random weights, seed 3, input 128 → 32×32 heatmaps)."""
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(3)
    return save_model(LAANet(load_config("cpu-tiny").model), tmp_path_factory.mktemp("weights") / "tiny.pt")
