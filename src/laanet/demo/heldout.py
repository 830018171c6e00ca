"""The held-out test of the demo model: real views of unseen faces, their SBI fakes and face swaps between them.

Which samples are held out is fixed here (:data:`HELD_OUT`): two photos of two people the demo model never saw
in training (Grace Hopper and Joe Biden). Everything else in ``laanet/assets/samples`` is training data
(:data:`TRAIN_SAMPLES`).

Two photos are too few for an AUC, so each is seen through ``views`` random *views*: a mild similarity warp
of the whole photo (rotation ±6°, scale 0.9-1.1, shift ±3 %, mirror with p 0.5; view 0 is the photo itself).
From every view ``v`` of photo ``A`` (the other photo is ``B``) come three images:

* ``real``: the view itself;
* ``sbi``: a self-blended image of its face, made at the photo's own resolution on a square window around the
  face (:func:`sbi_on_image`): the same recipe as the training fakes, on faces the model never saw;
* ``swap``: view ``v`` of ``B``'s face put onto it with :func:`laanet.demo.swap.face_swap` (similarity warp +
  ``cv2.seamlessClone``): a kind of fake the model never trained on.

Finally every image of view ``v`` is re-encoded as JPEG at the same quality (75-95, drawn per view), so that
compression does not tell the classes apart. Views of one photo are correlated: the AUC is over
``2 × views`` images per class, but only two people.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from laanet.assets import SAMPLE_CLIPS, SAMPLE_IMAGES, sample_path
from laanet.demo.swap import face_swap

__all__ = ["HELD_OUT", "KINDS", "TRAIN_SAMPLES", "HeldOutItem", "build_heldout_set", "make_view", "sbi_on_image"]

_log = logging.getLogger(__name__)

HELD_OUT: tuple[str, ...] = ("grace_hopper.jpg", "biden_blue_room.jpg")  # never used for training
TRAIN_SAMPLES: tuple[str, ...] = tuple(n for n in SAMPLE_IMAGES if n not in HELD_OUT) + SAMPLE_CLIPS
KINDS: tuple[str, ...] = ("real", "sbi", "swap")


@dataclass
class HeldOutItem:
    """One held-out test image."""

    name: str  # file-name stem, e.g. "grace_hopper_v03_sbi"
    kind: str  # "real" | "sbi" | "swap"
    image: np.ndarray = field(repr=False)  # H×W×3 uint8 RGB
    source: str  # the held-out photo it shows
    view: int
    donor: str | None = None  # swap: the photo the face comes from

    @property
    def label(self) -> int:
        return 0 if self.kind == "real" else 1


def make_view(image: np.ndarray, rng: np.random.Generator, *, identity: bool = False) -> np.ndarray:
    """A mildly warped (and maybe mirrored) copy of a whole photo; ``identity`` returns it unchanged."""
    if identity:
        return image.copy()
    height, width = image.shape[:2]
    angle = rng.uniform(-6.0, 6.0)
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-0.03, 0.03, size=2) * (width, height)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += shift
    out = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
    return out


def _face_window(landmarks: np.ndarray, shape: tuple[int, ...], factor: float = 2.0) -> tuple[int, int, int, int]:
    """Square window (x1, y1, x2, y2) of ``factor`` × the landmark extent around the face, clipped to the image."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    centre = (lo + hi) / 2
    half = factor * float(max(hi - lo)) / 2
    height, width = shape[:2]
    x1, y1 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
    x2, y2 = int(min(width, centre[0] + half)), int(min(height, centre[1] + half))
    return x1, y1, x2, y2


def sbi_on_image(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, *, synthesizer=None) -> np.ndarray:
    """Self-blended copy of ``image`` (SBI, as the official ``datasets/sbi/utils.py`` makes it) at its own
    resolution.

    The blend runs on a square window of twice the face's size around the landmarks (68 or 81 points, image
    coordinates); the colour/frequency transform goes on the *source*, so pixels outside the blend mask are
    untouched and the window is pasted back without a seam of its own. No flip, margin crop or geometry.

    Raises:
        laanet.synthesis.sample.SynthesisError: no blend changed the face after 10 draws.
    """
    from laanet.synthesis.sample import SynthesisError
    from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

    synth = synthesizer or SBISynthesizer(SBIConfig(train=False, pair_colour=False))
    x1, y1, x2, y2 = _face_window(np.asarray(landmarks, dtype=np.float32), image.shape)
    window = np.ascontiguousarray(image[y1:y2, x1:x2])
    lm = np.asarray(landmarks, dtype=np.float32) - np.array([x1, y1], dtype=np.float32)
    for _ in range(10):
        draw = dataclasses.replace(synth.draw(rng, window.shape), flip=False, transform_source=True)
        _, fake, mask = synth.self_blend(window, lm, draw, rng)
        if mask.max() > 0 and (fake != window).any():
            out = image.copy()
            out[y1:y2, x1:x2] = fake
            return out
    raise SynthesisError("SBI on the held-out image: no valid blend after 10 draws")


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover (OpenCV always encodes uint8 RGB)
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _landmarks(face) -> np.ndarray:
    """81 points (68 + forehead) when the backend gives them, else 68: what training synthesis uses."""
    return np.asarray(face.landmarks81 if face.landmarks81 is not None else face.landmarks, dtype=np.float32)


def build_heldout_set(
    analyzer,
    *,
    views: int = 8,
    seed: int = 0,
    photos: tuple[str, ...] = HELD_OUT,
    kinds: tuple[str, ...] = KINDS,
) -> list[HeldOutItem]:
    """The held-out images (module docstring), ``len(photos) × views`` per kind, in a fixed order.

    Args:
        analyzer: a :class:`laanet.faces.FaceAnalyzer` (finds the faces to fake).
        views: views per photo (view 0 is the photo itself).
        seed: all randomness (views, SBI draws, JPEG qualities).
        photos: bundled sample names to use (default: the held-out pair); swaps need at least two.
        kinds: which of ``real``, ``sbi``, ``swap`` to make.

    Raises:
        ValueError: bad ``views``/``kinds``, a swap with one photo, or no face in a view.
    """
    from laanet.faces import NoFaceError
    from laanet.media import read_image

    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown held-out kinds {unknown}; choose from {list(KINDS)}")
    if "swap" in kinds and len(photos) < 2:
        raise ValueError("face swaps need at least two held-out photos")
    rng = np.random.default_rng(seed)
    stills = {name: read_image(sample_path(name)) for name in photos}
    # Draw every view first: the swap of view v of A uses view v of B as its donor.
    table: dict[tuple[str, int], tuple[np.ndarray, object]] = {}
    for v in range(views):
        for name in photos:
            image = make_view(stills[name], rng, identity=v == 0)
            try:
                face = analyzer.detect_one(image)
            except NoFaceError as err:
                raise ValueError(f"held-out view {v} of {name}: {err}") from err
            table[(name, v)] = (image, face)
    items: list[HeldOutItem] = []
    for v in range(views):
        quality = int(rng.integers(75, 96))
        for i, name in enumerate(photos):
            image, face = table[(name, v)]
            stem = f"{Path(name).stem}_v{v:02d}"
            if "real" in kinds:
                items.append(HeldOutItem(f"{stem}_real", "real", _jpeg(image, quality), name, v))
            if "sbi" in kinds:
                fake = sbi_on_image(image, _landmarks(face), rng)
                items.append(HeldOutItem(f"{stem}_sbi", "sbi", _jpeg(fake, quality), name, v))
            if "swap" in kinds:
                donor_name = photos[(i + 1) % len(photos)]
                donor, donor_face = table[(donor_name, v)]
                swapped = face_swap(image, face.landmarks, donor, donor_face.landmarks).image
                items.append(HeldOutItem(f"{stem}_swap", "swap", _jpeg(swapped, quality), name, v, donor=donor_name))
    _log.info("held-out set: %d images (%s) from %s, %d views each", len(items), ", ".join(kinds), ", ".join(photos), views)
    return items
