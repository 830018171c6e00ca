"""Face crops for int8 calibration: network inputs made exactly as ``laanet detect`` makes them.

Static int8 quantisation fixes one value range per activation from a few representative inputs. They must be
face crops framed as the model's own ``preprocess`` says (the detector's crop policy, 256 px, then the family's
margin, framing and normalisation: LAA-Net 5 px, resize to 384, [-1, 1]; FakeFormer 9 px, corner-aligned affine
to 112, ImageNet mean/std), of real faces *and* of fakes, since
fakes drive the heatmap and classification activations that reals leave near their floor. By default they
come from the bundled sample photos: ``views`` mildly warped copies of each (view 0 is the photo itself) and a
self-blended (SBI) fake of every view, made with :mod:`laanet.synthesis` at the photo's own resolution; your
own photos or videos can be given instead (``laanet export --int8 --calibration DIR``).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from laanet.models.family import Preprocess

_log = logging.getLogger(__name__)

class CalibrationError(ValueError):
    """No usable calibration face (no file, no face found)."""


def face_inputs(images: Iterable[np.ndarray], preprocess: Preprocess | int, analyzer=None) -> np.ndarray:
    """The largest face of each image as a network input; images without a face are skipped.

    Args:
        images: H×W×3 uint8 RGB arrays.
        preprocess: the model's :class:`~laanet.models.family.Preprocess` (a bare int: LAA-Net's at that size).
        analyzer: a :class:`laanet.faces.FaceAnalyzer` (default: a new one with the default backend).

    Returns:
        N×3×S×S float32 network inputs (N ≤ number of images).
    """
    from laanet.faces import FaceAnalyzer, crop_face
    from laanet.faces.crop import DEFAULT_CROP_SIZE  # the detector's stored crop size (256)
    from laanet.inference.preprocess import crop_to_input

    pre = preprocess if isinstance(preprocess, Preprocess) else Preprocess(input_size=int(preprocess))
    crop_size = pre.crop_size or DEFAULT_CROP_SIZE
    analyzer = analyzer or FaceAnalyzer()
    out = []
    for image in images:
        faces = analyzer.detect(image)
        if faces:
            out.append(crop_to_input(crop_face(image, faces[0], size=crop_size).image, pre))
    size = pre.input_size
    return np.stack(out) if out else np.zeros((0, 3, size, size), np.float32)


def bundled_images(views: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Reals and SBI fakes from the bundled sample photos: ``2 × views`` images per photo (module docstring)."""
    from laanet.assets import SAMPLE_IMAGES
    from laanet.demo.heldout import build_heldout_set
    from laanet.faces import FaceAnalyzer

    items = build_heldout_set(FaceAnalyzer(), views=views, seed=seed, photos=SAMPLE_IMAGES, kinds=("real", "sbi"))
    return [item.image for item in items]


def images_from_paths(paths: Sequence[str | os.PathLike], *, frames_per_video: int = 4, limit: int = 256) -> list[np.ndarray]:
    """Frames of the images and videos at ``paths`` (folders are searched recursively), at most ``limit``.

    Raises:
        CalibrationError: nothing readable was found.
    """
    from laanet.inference.sources import collect_inputs
    from laanet.media import MediaError, load_frames

    images: list[np.ndarray] = []
    for path in collect_inputs(paths):
        try:
            images.extend(f.image for f in load_frames(path, frames_per_video))
        except (MediaError, ValueError) as err:
            _log.warning("calibration: skipping %s: %s", path, err)
        if len(images) >= limit:
            break
    if not images:
        raise CalibrationError(f"no readable image or video for calibration in {', '.join(map(str, paths))}")
    return images[:limit]


def calibration_inputs(
    preprocess: Preprocess | int,
    paths: Sequence[str | os.PathLike] | None = None,
    *,
    views: int = 4,
    seed: int = 0,
    frames_per_video: int = 4,
) -> np.ndarray:
    """Network inputs to calibrate on: faces from ``paths``, or (None) the bundled reals and their SBI fakes,
    framed by ``preprocess`` (the model's; a bare int: LAA-Net's at that size).

    Returns:
        N×3×S×S float32 network inputs.

    Raises:
        CalibrationError: no face in any of the images.
    """
    images = bundled_images(views, seed) if not paths else images_from_paths(paths, frames_per_video=frames_per_video)
    inputs = face_inputs(images, preprocess)
    if len(inputs) == 0:
        where = "the bundled samples" if not paths else ", ".join(str(Path(p)) for p in paths)
        raise CalibrationError(f"no face found for calibration in {where}")
    _log.info("calibration: %d face crops from %d images", len(inputs), len(images))
    return inputs
