"""Rebuild ``laanet/assets/samples/`` from the packages the photos come from (a developer tool).

    pip download --no-deps --no-binary :all: face-recognition==1.3.0 -d /tmp/fr
    python -m laanet.assets.build_samples --face-recognition-sdist /tmp/fr/face_recognition-1.3.0.tar.gz

Photos are downscaled to at most 800 px on the long side and saved as JPEG quality 90 without metadata;
the clips are synthesised from two of them with PyAV (H.264). Provenance: ``samples/LICENSES.md``.
"""
from __future__ import annotations

import argparse
import io
import logging
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from laanet.assets import samples_dir
from laanet.media import pan_zoom_frames, read_image, write_video

logger = logging.getLogger(__name__)

MAX_SIDE = 800
JPEG_QUALITY = 90
# sample name → file inside face_recognition-1.3.0.tar.gz
FACE_RECOGNITION_PHOTOS = {
    "obama_portrait.jpg": "tests/test_images/obama.jpg",
    "obama_speech.jpg": "tests/test_images/obama2.jpg",
    "obama_blue_room.jpg": "tests/test_images/obama3.jpg",
    "biden_blue_room.jpg": "tests/test_images/biden.jpg",
}


def _save_jpeg(image: np.ndarray, path: Path) -> None:
    pil = Image.fromarray(image)
    scale = MAX_SIDE / max(pil.size)
    if scale < 1:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.LANCZOS)
    pil.save(path, quality=JPEG_QUALITY, optimize=True)  # no EXIF: orientation already applied by read_image
    logger.info("%s: %dx%d, %d bytes", path.name, pil.width, pil.height, path.stat().st_size)


def build(face_recognition_sdist: Path, out: Path) -> None:
    import skimage.data
    from matplotlib import cbook

    out.mkdir(parents=True, exist_ok=True)
    _save_jpeg(skimage.data.astronaut(), out / "astronaut.jpg")
    _save_jpeg(read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), out / "grace_hopper.jpg")
    with tarfile.open(face_recognition_sdist) as tar:
        root = tar.getnames()[0].split("/")[0]
        for name, member in FACE_RECOGNITION_PHOTOS.items():
            data = tar.extractfile(f"{root}/{member}").read()
            _save_jpeg(read_image(io.BytesIO(data)), out / name)
    # Clips: 3 s at 25 fps, slow pan + zoom + a few degrees of roll.
    astronaut = read_image(out / "astronaut.jpg")
    write_video(out / "clip_astronaut.mp4", pan_zoom_frames(astronaut, size=(320, 320), num_frames=75), fps=25, crf=26)
    portrait = read_image(out / "obama_portrait.jpg")[:640]  # head and shoulders
    write_video(out / "clip_obama.mp4", pan_zoom_frames(portrait, size=(320, 400), num_frames=75, zoom=(1.0, 1.2)),
                fps=25, crf=26)
    for clip in ("clip_astronaut.mp4", "clip_obama.mp4"):
        logger.info("%s: %d bytes", clip, (out / clip).stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face-recognition-sdist", type=Path, required=True, help="face_recognition-1.3.0.tar.gz")
    parser.add_argument("--out", type=Path, default=samples_dir())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.face_recognition_sdist, args.out)


if __name__ == "__main__":
    main()
