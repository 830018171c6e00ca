"""Flags: why a verdict may be out of the model's scope (no face, crowd, small, blurred or compressed faces, short video).

Every result carries ``flags``, a list of :class:`Flag` (``{"code", "message"}`` in JSON). The codes, when each
fires and what to do are in ``docs/results.md``. The measures are cheap, computed on each face when it is cropped
(:func:`measure_face`, kept as ``FaceResult.quality``), and judged per person (the median over the person's
frames, so that one bad frame does not flag a clip):

- **size**: the face's side in source pixels (the crop's side over 1.5, the crop being 1.5× the face box) and
  ``input_scale``, network-input pixels per source pixel. The model sees a face at ``model_face_px`` =
  input size × (crop / inner crop) / 1.5 pixels (266 px for LAA-Net's 384-px input); a face enlarged more than
  :attr:`FlagLimits.max_upscale` (3×) into it is ``small_face``: the detail the model looks for is not there.
- **sharpness**: variance of the Laplacian (OpenCV, 3×3 kernel) of the grey face, the central 1/1.5 of the
  256-px stored crop (the face box; fixed scale, so it does not depend on the model). Under
  :attr:`FlagLimits.min_sharpness` is ``blur``.
- **blockiness**: how much stronger the grey-level steps are across the 8-pixel grid of JPEG / MPEG blocks
  than between the other pixels, on the face in the source frame (horizontal and vertical steps, averaged;
  1.0 means no block edges). Above :attr:`FlagLimits.max_blockiness` is ``compression``.

Thresholds were set on the bundled photos and clips blurred and re-encoded at known settings
(``benchmarks/flag_thresholds.py``; figures in ``docs/results.md``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from laanet.inference.results import FileResult

__all__ = ["CODES", "Flag", "FaceQuality", "FlagLimits", "file_flags", "measure_face", "model_face_px"]

CODES: tuple[str, ...] = ("no_face", "too_many_faces", "small_face", "short_video", "blur", "compression")
BLOCK = 8  # JPEG / MPEG-2 / H.264 macroblock-aligned transform grid
FACE_FRACTION = 1 / 1.5  # the face box is the crop's central 1/1.5 (laanet.faces.crop: margin 0.25 a side)


@dataclass(frozen=True)
class Flag:
    """One reason to doubt a verdict: a ``code`` from :data:`CODES` and a message for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class FlagLimits:
    """When flags fire (``docs/results.md``).

    Attributes:
        max_faces: more people than this (faces of an image, tracks of a video) is ``too_many_faces``.
        max_upscale: a face enlarged more than this into the network input is ``small_face``.
        min_sharpness: a person whose median face sharpness (variance of the Laplacian) is under this is ``blur``.
        max_blockiness: a person whose median face blockiness is over this is ``compression``.
    """

    max_faces: int = 4
    max_upscale: float = 3.0
    min_sharpness: float = 35.0
    max_blockiness: float = 1.5

    def __post_init__(self) -> None:
        if isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int) or self.max_faces < 1:
            raise ValueError(f"max_faces must be an integer of at least 1, got {self.max_faces!r}")
        for name in ("max_upscale", "min_sharpness", "max_blockiness"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class FaceQuality:
    """Cheap measures of one face (module docstring).

    Attributes:
        size_px: face side in source-frame pixels.
        input_scale: network-input pixels per source pixel (above 1: the face was enlarged for the model).
        sharpness: variance of the Laplacian of the grey face in the 256-px crop.
        blockiness: block-edge ratio of the face in the source frame (1.0: no 8-px block edges); None when
            the face is too small (under 4 blocks a side) to tell.
    """

    size_px: float
    input_scale: float
    sharpness: float
    blockiness: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "size_px": round(self.size_px, 1),
            "input_scale": round(self.input_scale, 3),
            "sharpness": round(self.sharpness, 1),
            "blockiness": None if self.blockiness is None else round(self.blockiness, 3),
        }


def model_face_px(input_size: int, crop_size: int, margin: int) -> float:
    """Side in network-input pixels of the face box: the inner crop (``crop_size - 2 margin``) fills the input."""
    return crop_size * FACE_FRACTION * input_size / (crop_size - 2 * margin)


def measure_face(
    frame: np.ndarray, box: Sequence[float], crop: np.ndarray, crop_matrix: np.ndarray, input_size: int, margin: int
) -> FaceQuality:
    """Size, sharpness and blockiness of one face.

    Args:
        frame: H×W×3 uint8 RGB, the source frame.
        box: the face detector's ``[x1, y1, x2, y2]`` in ``frame`` pixels.
        crop: S×S×3 uint8 RGB face crop (``FaceCrop.image``).
        crop_matrix: 2×3 affine, frame pixel → crop pixel (``FaceCrop.matrix``).
        input_size: the network's input side (``runner.input_size``).
        margin: crop pixels cut from each side before resizing to ``input_size``.
    """
    size = crop.shape[0]
    per_source_px = float(np.sqrt(abs(np.linalg.det(np.asarray(crop_matrix, np.float64)[:, :2]))))  # crop px / frame px
    size_px = size * FACE_FRACTION / per_source_px
    input_scale = per_source_px * input_size / (size - 2 * margin)
    return FaceQuality(size_px=size_px, input_scale=input_scale, sharpness=sharpness(crop), blockiness=blockiness(frame, box))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey central 1/1.5 of a face crop (the face box)."""
    size = crop.shape[0]
    lo = int(round(size * (1 - FACE_FRACTION) / 2))
    grey = cv2.cvtColor(np.ascontiguousarray(crop[lo : size - lo, lo : size - lo]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=1).var())


def blockiness(frame: np.ndarray, box: Sequence[float]) -> float | None:
    """Mean |step| across 8-px block edges over mean |step| elsewhere, on the face box of ``frame`` (grid of the
    frame, not of the box); None when the box holds fewer than 4 blocks a side."""
    height, width = frame.shape[:2]
    x1, y1 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x2, y2 = min(width, int(math.ceil(box[2]))), min(height, int(math.ceil(box[3])))
    if x2 - x1 < 4 * BLOCK or y2 - y1 < 4 * BLOCK:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    ratios = []
    for axis, start in ((1, x1), (0, y1)):
        steps = np.abs(np.diff(grey, axis=axis)).mean(axis=1 - axis)  # step between pixel i and i + 1 of the box
        edge = (start + np.arange(1, steps.size + 1)) % BLOCK == 0  # pixel i + 1 starts a block
        inside = steps[~edge].mean()
        ratios.append(float((steps[edge].mean() + 0.1) / (inside + 0.1)))
    return float(np.mean(ratios))


def file_flags(result: FileResult, *, requested_frames: int, limits: FlagLimits, face_px: float) -> list[Flag]:
    """The flags of one finalised result (``result.people`` set); ``face_px``: :func:`model_face_px`."""
    flags: list[Flag] = []
    if result.status == "error":
        return flags
    if result.kind == "video" and len(result.frames) < requested_frames:
        broke = " (the stream broke off)" if result.error and "broke" in result.error else ""
        flags.append(Flag("short_video", f"only {len(result.frames)} frame(s) could be sampled of the {requested_frames} "
                          f"asked for{broke}: the video score rests on fewer frames than the paper's protocol"))
    if result.status == "no_face":
        where = f"{len(result.frames)} frame(s)" if result.kind == "video" else "the image"
        detail = f" ({result.error})" if result.error and "no face can be found" in result.error else ""
        flags.append(Flag("no_face", f"no face found in {where}{detail}: nothing was scored, so this is no verdict "
                          "(neither real nor fake)"))
        return flags
    people = result.people
    noun = "people" if result.kind == "video" else "faces"
    if len(people) > limits.max_faces:
        flags.append(Flag("too_many_faces", f"{len(people)} {noun} found, more than {limits.max_faces}: the model was "
                          "trained on videos of one or two faces; every face was scored, check each person"))
    small, blurred, blocky = [], [], []
    for person in people:
        qualities = [face.quality for face in person.faces if face.quality is not None]
        if not qualities:
            continue
        size = float(np.median([q.size_px for q in qualities]))
        scale = float(np.median([q.input_scale for q in qualities]))
        sharp = float(np.median([q.sharpness for q in qualities]))
        blocks = [q.blockiness for q in qualities if q.blockiness is not None]
        if scale > limits.max_upscale:
            small.append(f"person {person.id} {size:.0f} px ({scale:.1f}×)")
        if sharp < limits.min_sharpness:
            blurred.append(f"person {person.id} {sharp:.0f}")
        if blocks and float(np.median(blocks)) > limits.max_blockiness:
            blocky.append(f"person {person.id} {float(np.median(blocks)):.2f}")
    if small:
        flags.append(Flag("small_face", f"face(s) smaller than the model's useful size: {', '.join(small)}; the model "
                          f"sees a face at {face_px:.0f} px of its input, so faces under {face_px / limits.max_upscale:.0f} px "
                          f"are enlarged more than {limits.max_upscale:g}× and their score is less reliable"))
    if blurred:
        flags.append(Flag("blur", f"strongly blurred face(s) (variance of the Laplacian under {limits.min_sharpness:g}): "
                          f"{', '.join(blurred)}; blur hides the blending traces the model looks for"))
    if blocky:
        flags.append(Flag("compression", f"heavily compressed face(s) (8-px block edges, blockiness over "
                          f"{limits.max_blockiness:g}): {', '.join(blocky)}; compression artefacts can look like "
                          "blending traces (false positives) or hide them"))
    return flags
