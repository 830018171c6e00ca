"""Where the ``blur`` and ``compression`` flags' thresholds come from (``laanet.inference.flags``, docs/results.md).

The bundled photos, Gaussian-blurred (σ in source pixels) and re-encoded as JPEG (quality) and H.264 (CRF):
prints the median sharpness (variance of the Laplacian of the 256-px face crop) and blockiness of their faces.

    PYTHONPATH=src python benchmarks/flag_thresholds.py
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from laanet.assets import sample_images
from laanet.faces import FaceAnalyzer, crop_face
from laanet.inference.flags import blockiness, sharpness
from laanet.media import read_image, read_video_frames, write_video


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def h264(image: np.ndarray, crf: int) -> np.ndarray:
    h, w = (s - s % 2 for s in image.shape[:2])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_video(path, [image[:h, :w]] * 3, fps=25, crf=crf)
        return read_video_frames(path, 1).frames[0].image


def measure(analyzer: FaceAnalyzer, image: np.ndarray) -> tuple[float, float | None] | None:
    faces = analyzer.detect(image)
    if not faces:
        return None
    face = faces[0]
    crop = crop_face(image, face)
    return sharpness(crop.image), blockiness(image, face.box)


def main() -> None:
    analyzer = FaceAnalyzer("mediapipe")
    photos = {p.name: read_image(p) for p in sample_images()}
    variants = {"original": lambda im: im}
    for sigma in (1.0, 2.0, 3.0, 5.0):
        variants[f"blur σ={sigma:g}"] = lambda im, s=sigma: cv2.GaussianBlur(im, (0, 0), s)
    for q in (95, 75, 50, 30, 20, 10, 5):
        variants[f"jpeg q={q}"] = lambda im, q=q: jpeg(im, q)
    for crf in (23, 35, 45, 51):
        variants[f"h264 crf={crf}"] = lambda im, c=crf: h264(im, c)
    print(f"{'variant':<14} {'sharpness (median, min-max)':<32} {'blockiness (median, min-max)'}")
    for name, make in variants.items():
        got = [m for im in photos.values() if (m := measure(analyzer, make(im))) is not None]
        sharp = np.array([s for s, _ in got])
        blocks = np.array([b for _, b in got if b is not None])
        print(f"{name:<14} {np.median(sharp):7.1f} ({sharp.min():6.1f}-{sharp.max():6.1f})          "
              f"{np.median(blocks):5.2f} ({blocks.min():4.2f}-{blocks.max():4.2f})   n={len(got)}")


if __name__ == "__main__":
    main()
