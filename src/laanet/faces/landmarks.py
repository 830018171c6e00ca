"""Landmark conventions: iBUG 68 points, 13 forehead points (the 81-point layout), FaceMesh → iBUG mapping.

**iBUG 68** (dlib's 68-point model, the paper's convention), in image terms for a frontal face ("left" =
image left): jaw 0-16 (image-left ear to image-right ear through the chin at 8), brows 17-21 and 22-26,
nose bridge 27-30, nostrils 31-35, eyes 36-41 (image-left eye, 36 outer corner, 39 inner corner) and 42-47
(image-right eye, 42 inner, 45 outer), outer lips 48-59, inner lips 60-67.

**Forehead 13** (points 68-80 of an 81-point layout): along the top of the face from the image-left temple,
over the forehead, to the image-right temple, i.e. already in the contour order that SBI's code obtains by
reordering the raw 81-point dlib model's points ([77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78];
official ``datasets/sbi/utils.py``). Do not apply that reorder again to laanet's ``landmarks81``. They come
from FaceMesh's upper face oval, which runs about 0.8 inter-ocular distances above the eye line, slightly
below the hairline where the 81-point model puts them.

**FaceMesh → iBUG 68** (:data:`MESH_TO_IBUG68`): each iBUG point is one FaceMesh vertex, or the mean of two
neighbouring vertices. The table was fitted, not copied: dlib's 68 points and FaceMesh's 468 were computed on
the bundled sample photos (6 photos × mirror × 5 rotations × 2 scales = 120 pairs), both expressed in
an eye-aligned frame in inter-ocular units, and for each iBUG point (together with its mirror partner, to keep
the table left/right symmetric) the vertex, or pair of vertices less than 0.12 IOD apart, with the lowest mean
distance was chosen. ``python benchmarks/faces_video.py --fit-mapping`` refits it and prints the
leave-one-photo-out error against dlib (5.7 % of the inter-ocular distance on average; see ``docs/faces.md``).
"""
from __future__ import annotations

import numpy as np

# --- iBUG 68 index groups -----------------------------------------------------------------------------------
JAW = tuple(range(0, 17))
BROWS = tuple(range(17, 27))
NOSE = tuple(range(27, 36))
LEFT_EYE = tuple(range(36, 42))  # image-left eye (the subject's right)
RIGHT_EYE = tuple(range(42, 48))  # image-right eye
MOUTH = tuple(range(48, 68))
LEFT_EYE_CORNERS = (36, 39)  # outer, inner
RIGHT_EYE_CORNERS = (42, 45)  # inner, outer

# Index of each point's mirror image under a horizontal flip (left/right swapped, order kept).
IBUG68_MIRROR = (
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows
    27, 28, 29, 30, 35, 34, 33, 32, 31,  # nose
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lips
)
FOREHEAD_MIRROR = tuple(range(80, 67, -1))  # 68↔80, 69↔79, ..., 74↔74
IBUG81_MIRROR = IBUG68_MIRROR + FOREHEAD_MIRROR

# --- FaceMesh (468 vertices) → iBUG ------------------------------------------------------------------------
# One entry per iBUG point: a vertex index, or a pair whose mean is taken.
MESH_TO_IBUG68: tuple[int | tuple[int, int], ...] = (
    127, 234, 177, (58, 215), 172, (136, 169),  # 0-5    jaw, image-left side
    149, 148, 152, 377, 378, (365, 394),  # 6-11   chin (8 = vertex 152)
    397, (288, 435), 401, 454, 264, 70,  # 12-17  jaw, image-right side; 17 = brow start
    63, 105, 66, 107, 336, 296,  # 18-23  brows (upper edge)
    334, 293, 300, 168, 197, (5, 195),  # 24-29  brow end; nose bridge
    4, 240, 97, 2, 326, 460,  # 30-35  nose tip, nostrils
    33, (159, 160), 158, 155, 153, 144,  # 36-41  image-left eye
    362, 385, (386, 387), 249, 373, 380,  # 42-47  image-right eye
    61, (39, 40), 37, (0, 11), 267, (269, 270),  # 48-53  upper outer lip
    306, (321, 404), 314, 17, 84, (91, 180),  # 54-59  lower outer lip
    62, 38, 13, 312, 308, 317,  # 60-65  inner lips
    14, 87,  # 66-67
)
# Upper face oval, image-left temple → forehead centre (vertex 10) → image-right temple.
MESH_FOREHEAD13 = (162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389)

_FIRST = np.array([m if isinstance(m, int) else m[0] for m in MESH_TO_IBUG68])
_SECOND = np.array([m if isinstance(m, int) else m[1] for m in MESH_TO_IBUG68])


def mesh_to_ibug68(mesh: np.ndarray) -> np.ndarray:
    """468×2 FaceMesh points → 68×2 float32 iBUG points."""
    mesh = np.asarray(mesh, dtype=np.float64)
    return ((mesh[_FIRST] + mesh[_SECOND]) / 2).astype(np.float32)


def mesh_to_ibug81(mesh: np.ndarray) -> np.ndarray:
    """468×2 FaceMesh points → 81×2 float32: the 68 iBUG points, then the 13 forehead points."""
    forehead = np.asarray(mesh, dtype=np.float32)[list(MESH_FOREHEAD13)]
    return np.concatenate([mesh_to_ibug68(mesh), forehead]).astype(np.float32)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes, each the midpoint of the eye's two corners."""
    points = np.asarray(landmarks, dtype=np.float64)
    return points[list(LEFT_EYE_CORNERS)].mean(0), points[list(RIGHT_EYE_CORNERS)].mean(0)


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (see :func:`eye_centres`), in the landmarks' units."""
    left, right = eye_centres(landmarks)
    return float(np.linalg.norm(right - left))


def roll_degrees(landmarks: np.ndarray) -> float:
    """In-plane angle of the eye line, degrees, positive when the image-right eye is lower (image y down)."""
    left, right = eye_centres(landmarks)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def flip_landmarks(landmarks: np.ndarray, width: int, *, pixel_centres: bool = True) -> np.ndarray:
    """Landmarks of the horizontally flipped image (``image[:, ::-1]``), re-indexed so the order still holds.

    Works for 68 or 81 points. ``width`` is the image width in pixels. ``pixel_centres=True``: x → W − 1 − x,
    the exact mirror of pixel-centre coordinates; False: x → W − x, as the official SBI code flips
    (``datasets/sbi/utils.py``), one pixel right of the mirrored face.
    """
    points = np.asarray(landmarks, dtype=np.float32)
    table = {68: IBUG68_MIRROR, 81: IBUG81_MIRROR}.get(len(points))
    if table is None:
        raise ValueError(f"expected 68 or 81 landmarks, got {len(points)}")
    flipped = points[list(table)].copy()
    flipped[:, 0] = (width - 1 if pixel_centres else width) - flipped[:, 0]
    return flipped
