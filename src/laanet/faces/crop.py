"""Face crops: the one framing used by ``prepare``, training and ``detect``, and its inverse.

docs/faces.md compares it with the official preprocessing (``package_utils/images_crop.py``: RetinaFace box
grown to 1.5×, resized to 256 px; ``package_utils/geo_landmarks_extraction.py``: dlib landmarks and an
in-plane rotation that levels the eyes).

Policy (parameterised by :func:`crop_face`'s keywords):

1. **Roll**: the image is rotated in-plane about the face so that the line through the two eye centres
   (each the midpoint of the eye's corners, iBUG 36/39 and 42/45) is horizontal (``align=True``). The
   official code rotates by the inner corners 39/42 only; both corners are steadier.
2. **Face box**: taken from the 68 landmarks in that eye-aligned frame, not from the detector, so that dlib
   and MediaPipe frame a face the same way: jaw to jaw horizontally, chin at the bottom, and the top of the
   brows raised by :data:`FOREHEAD` × (chin − brow) to take in the forehead, close to what RetinaFace's box
   (the official detector) covers. Without landmarks the detector's box is used.
3. **Margin**: the box is enlarged by ``margin`` (0.25) of its size on each side (1.5×, as the official
   code); with ``square=True`` (default) the crop is a square of side 1.5 × max(box w, h), so the face is never
   stretched; ``square=False`` stretches the 1.5× box to ``size``×``size`` as the official code does.
4. **Size**: warped straight to ``size`` px (256 by default, the stored crop size); the network input size is
   reached with :meth:`FaceCrop.resized`, which composes the transform.
5. **Borders**: a crop reaching past the image edge is padded (black by default), never shifted, so the face
   stays centred wherever it is in the frame. ``FaceCrop.coverage`` says how much of the crop is real image.

The crop transform is kept (``FaceCrop.matrix``, original → crop pixels), so heatmaps computed on the crop go
back onto the original frame with :func:`paste_back`. Downscaling by more than 2× is anti-aliased.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from laanet.faces.landmarks import BROWS, eye_centres
from laanet.faces.types import Face

DEFAULT_CROP_SIZE = 256  # stored crop size, as official ``package_utils/images_crop.py``
DEFAULT_MARGIN = 0.25  # fraction of the box added on each side (1.5× box), as officially
FOREHEAD = 0.2  # box top = brow top − FOREHEAD × (chin − brow top)

_BORDERS = ("constant", "replicate", "reflect")


@dataclass(frozen=True)
class FaceCrop:
    """A face cut out of an image, with the transform that did it.

    Attributes:
        image: size×size×3 uint8 RGB.
        landmarks: 68×2 float32 in crop pixel coordinates (None only if the face had none).
        landmarks81: 81×2 float32 in crop pixel coordinates, or None.
        matrix: 2×3 float64 affine, original-image pixel → crop pixel (``[x', y'] = M @ [x, y, 1]``).
        roll: in-plane rotation applied, degrees (the eye line's angle in the original image; 0 if unaligned).
        coverage: fraction of the crop that lies inside the original image (1.0: no padding).
    """

    image: np.ndarray = field(repr=False)
    landmarks: np.ndarray | None = field(repr=False)
    landmarks81: np.ndarray | None = field(repr=False)
    matrix: np.ndarray
    roll: float
    coverage: float

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    @property
    def inverse_matrix(self) -> np.ndarray:
        """2×3 affine, crop pixel → original-image pixel."""
        return invert_affine(self.matrix)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map N×2 original-image points into the crop."""
        return apply_affine(self.matrix, points)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map N×2 crop points back into the original image."""
        return apply_affine(self.inverse_matrix, points)

    def resized(self, size: int) -> FaceCrop:
        """The same crop at ``size``×``size`` px (e.g. the network input), with the transform composed."""
        import cv2

        if size == self.size:
            return self
        scale = _rescale_matrix(self.size, size)
        interpolation = cv2.INTER_AREA if size < self.size else cv2.INTER_LINEAR
        return FaceCrop(
            image=cv2.resize(self.image, (size, size), interpolation=interpolation),
            landmarks=None if self.landmarks is None else apply_affine(scale, self.landmarks),
            landmarks81=None if self.landmarks81 is None else apply_affine(scale, self.landmarks81),
            matrix=compose_affine(scale, self.matrix),
            roll=self.roll,
            coverage=self.coverage,
        )


def crop_face(
    image: np.ndarray,
    face: Face,
    size: int = DEFAULT_CROP_SIZE,
    *,
    margin: float = DEFAULT_MARGIN,
    align: bool = True,
    square: bool = True,
    border: str = "constant",
    fill: int = 0,
) -> FaceCrop:
    """Cut ``face`` out of ``image`` with laanet's crop policy (module docstring).

    Args:
        image: H×W×3 uint8 RGB, at full resolution (the resolution the face's coordinates refer to).
        face: a detection from ``FaceAnalyzer.detect`` on this image.
        size: output side in pixels.
        margin: fraction of the face box added on each side.
        align: rotate so the eyes are level.
        square: keep the aspect ratio (square crop around the enlarged box) instead of stretching.
        border: how pixels outside the image are filled: "constant" (``fill``), "replicate" or "reflect".
        fill: grey level for ``border="constant"``.

    Returns:
        A :class:`FaceCrop`.

    Raises:
        ValueError: bad ``size``, ``margin`` or ``border``, or a degenerate face box.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 px, got {size}")
    if not 0 <= margin <= 2:
        raise ValueError(f"margin must be in [0, 2], got {margin}")
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    matrix = crop_matrix(face, size, margin=margin, align=align, square=square)
    crop = warp_affine(image, matrix, size, border=border, fill=fill)
    return FaceCrop(
        image=crop,
        landmarks=None if face.landmarks is None else apply_affine(matrix, face.landmarks),
        landmarks81=None if face.landmarks81 is None else apply_affine(matrix, face.landmarks81),
        matrix=matrix,
        roll=float(np.degrees(np.arctan2(matrix[0, 1], matrix[0, 0]))),
        coverage=_coverage(matrix, size, image.shape[:2]),
    )


def crop_matrix(
    face: Face, size: int, *, margin: float = DEFAULT_MARGIN, align: bool = True, square: bool = True
) -> np.ndarray:
    """The 2×3 original → crop affine of :func:`crop_face`."""
    landmarks = None if face.landmarks is None else np.asarray(face.landmarks, dtype=np.float64)
    if landmarks is not None and align:
        left, right = eye_centres(landmarks)
        angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    else:
        angle = 0.0
    cos, sin = np.cos(angle), np.sin(angle)
    to_aligned = np.array([[cos, sin], [-sin, cos]])  # rotates the eye line onto the x axis
    if landmarks is not None:
        aligned = landmarks @ to_aligned.T
        x1, x2 = aligned[:, 0].min(), aligned[:, 0].max()
        brow_top, chin = aligned[list(BROWS), 1].min(), aligned[:, 1].max()
        y1, y2 = brow_top - FOREHEAD * (chin - brow_top), chin
    else:
        x1, y1, x2, y2 = (float(v) for v in face.box)
    width, height = x2 - x1, y2 - y1
    if not (width > 1 and height > 1):
        raise ValueError(f"degenerate face box {x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f}")
    centre_aligned = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    if square:
        width = height = max(width, height)
    crop_w, crop_h = width * (1 + 2 * margin), height * (1 + 2 * margin)
    scale = np.diag([size / crop_w, size / crop_h])
    linear = scale @ to_aligned  # original → crop, without translation
    centre = to_aligned.T @ centre_aligned  # face centre in original coordinates
    offset = np.full(2, (size - 1) / 2) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def paste_back(
    values: np.ndarray,
    crop: FaceCrop,
    original_shape: tuple[int, ...],
    *,
    interpolation: str = "linear",
    fill: float = 0.0,
) -> np.ndarray:
    """Map a per-pixel map computed on a crop (heatmap, mask...) back onto the original image.

    Args:
        values: h×w or h×w×C map covering the whole crop, at any resolution (e.g. a 96×96 heatmap of a 384 px
            network input made from a 256 px crop).
        crop: the crop the map was computed on.
        original_shape: shape of the original image (only the first two entries are used).
        interpolation: "linear" or "nearest".
        fill: value outside the crop.

    Returns:
        H×W(×C) array, same dtype as ``values``; pixels outside the crop hold ``fill``.
    """
    import cv2

    values = np.asarray(values)
    if values.ndim not in (2, 3) or values.shape[0] != values.shape[1]:
        raise ValueError(f"expected a square h×w or h×w×C map, got shape {values.shape}")
    flags = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}.get(interpolation)
    if flags is None:
        raise ValueError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}")
    height, width = original_shape[:2]
    to_map = compose_affine(_rescale_matrix(crop.size, values.shape[0]), crop.matrix)  # original → map
    source = values.astype(np.float32) if values.dtype in (np.float16, np.bool_) else values
    pasted = cv2.warpAffine(
        source, to_map, (width, height), flags=flags | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=fill,
    )
    return pasted.astype(values.dtype, copy=False)


def warp_affine(
    image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int], *, border: str = "constant", fill: int = 0
) -> np.ndarray:
    """``cv2.warpAffine`` to ``size`` (side or (w, h)), anti-aliased when shrinking by more than 2×.

    When the warp shrinks, only the source region it reads is first reduced with area interpolation (cheap
    even on a 50-megapixel photo), and the remaining warp is at about 1:1.
    """
    import cv2

    out_w, out_h = (size, size) if isinstance(size, int) else size
    modes = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101}
    mode = modes[border]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        image, matrix = _shrink_source(image, matrix, out_w, out_h, scale)
    value = (fill,) * (image.shape[2] if image.ndim == 3 else 1)
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=value)


def _shrink_source(image, matrix, out_w, out_h, scale):
    """Cut the source region the warp reads, reduce it by ``scale``, and return it with the adjusted matrix."""
    import cv2

    corners = np.array([[0, 0], [out_w - 1, 0], [0, out_h - 1], [out_w - 1, out_h - 1]], np.float64)
    source = apply_affine(invert_affine(matrix), corners)
    height, width = image.shape[:2]
    x0 = int(np.clip(np.floor(source[:, 0].min()) - 2, 0, width - 1))
    y0 = int(np.clip(np.floor(source[:, 1].min()) - 2, 0, height - 1))
    x1 = int(np.clip(np.ceil(source[:, 0].max()) + 3, x0 + 1, width))
    y1 = int(np.clip(np.ceil(source[:, 1].max()) + 3, y0 + 1, height))
    region = image[y0:y1, x0:x1]
    small_w, small_h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
    kx, ky = small_w / (x1 - x0), small_h / (y1 - y0)
    # small pixel p → original pixel: (p + 0.5) / k − 0.5 + origin
    small_to_original = np.array([[1 / kx, 0, 0.5 / kx - 0.5 + x0], [0, 1 / ky, 0.5 / ky - 0.5 + y0]])
    return small, compose_affine(matrix, small_to_original)


def _coverage(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> float:
    """Fraction of the crop square that falls inside the image rectangle."""
    import cv2

    height, width = shape
    square = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    quad = apply_affine(invert_affine(matrix), square).astype(np.float32)
    rect = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]], np.float32)
    area, _ = cv2.intersectConvexConvex(quad, rect)
    total = abs(cv2.contourArea(quad))
    return float(np.clip(area / total, 0.0, 1.0)) if total > 0 else 0.0


def _rescale_matrix(from_size: int, to_size: int) -> np.ndarray:
    """Affine from a from_size² pixel grid to a to_size² grid covering the same area (pixel centres)."""
    k = to_size / from_size
    return np.array([[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to N×2 points; returns float32."""
    points = np.asarray(points, dtype=np.float64)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2×3 affine of ``outer ∘ inner`` (apply ``inner`` first)."""
    linear = outer[:, :2] @ inner[:, :2]
    return np.hstack([linear, (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, (-linear @ matrix[:, 2])[:, None]])
