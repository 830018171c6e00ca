"""FakeFormer's "vulnerable patch" targets: a G×G heatmap over the ViT token grid (G = 14 at 112 px).

FakeFormer (arXiv 2410.21964; official ``datasets/fakesformer_sbi.py`` and ``datasets/common.py``) supervises its
heatmap head from the same boundary map as LAA-Net, ``B = uint8(255 · 4M(1 − M))`` (a truncating cast, margin
crop included; :func:`laanet.synthesis.pipeline.boundary_map`), but on the token grid and with a simpler encoder:

1. **Patch map** ``T`` (:func:`patch_map`): ``B`` is warped *directly* onto the G×G grid with the
   corner-to-corner affine of the crop (the matrix ``[[(G−1)/(S−1), 0, 0], [0, (G−1)/(S−1), 0]]`` for an S×S crop),
   bilinear, uint8 in and out. Each cell is therefore a **point sample** of ``B`` at the cell's grid point, not the
   mean over its 8×8-pixel patch: a thin boundary ring that falls between the grid points leaves ``T ≡ 0``.
2. **Encoder, version 0** (:func:`encode_patch_heatmap`): the vulnerable patches are the cells equal to the
   **global** maximum of ``T`` (ties kept; none when the maximum is 0, so reals get an all-zero heatmap); each gets a
   7×7 Gaussian ``exp(−d²/2)`` with σ = 1 cell (float32), clipped at the borders, merged by element-wise max. There
   is no consistency target.

``TARGET_OVERLAP: False`` (official ViT-B/L and Swin-B SBI configs) takes another, buggy path, reproduced by
:func:`nonoverlap_patch_heatmap` for completeness: the map is warped to the *input* size, averaged over blocks of
G pixels (an 8×8 grid at 112 px, 16×16 at 224 px, not the G×G token grid) and those cells are drawn into a G×G heatmap.

The bilinear sample is computed here exactly (float64 positions and weights, rounded to the nearest level) rather
than with ``cv2.warpAffine``, whose uint8 result depends on the OpenCV build: OpenCV 4.x quantises the source
positions to 1/32 pixel and differs from the exact sample by ±1 on a few percent of the cells (which changes the tied
maxima and hence the heatmap); OpenCV 5 computes in float32 and differs only on values within ~1e-3 of a half level.
The exact sample reproduces the official targets recorded with OpenCV 5 byte for byte.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from laanet.synthesis.pipeline import FramedPair
    from laanet.synthesis.sample import SynthesizedPair

__all__ = [
    "PATCH_SIGMA",
    "block_means",
    "encode_patch_heatmap",
    "gaussian_kernel",
    "make_patch_targets",
    "nonoverlap_patch_heatmap",
    "patch_map",
    "patch_sample",
    "vulnerable_patches",
]

PATCH_SIGMA = 1.0  # official SIGMA: 1 with ADAPTIVE_SIGMA: False (σ in grid cells)


def _reference_size(image: np.ndarray, reference: tuple[int, int] | None) -> tuple[int, int]:
    height, width = image.shape[:2]
    return reference if reference is not None else (width, height)


def _corner_positions(out_size: int, ref_width: int, ref_height: int) -> tuple[np.ndarray, np.ndarray]:
    """Source (x, y) positions (float64) of the ``out_size`` grid points under the corner-to-corner affine.

    The affine maps the reference's pixel centres ``0 … max(w, h) − 1`` onto ``0 … out − 1`` (scale
    ``k = (out − 1)/(max(w, h) − 1)``), centre on centre; for a square reference there is no translation.
    """
    side = max(ref_width, ref_height)
    if side < 2 or out_size < 2:
        raise ValueError(f"corner-to-corner sampling needs sizes ≥ 2, got reference {ref_width}×{ref_height} → {out_size}")
    grid = np.arange(out_size, dtype=np.float64) * ((side - 1) / (out_size - 1))
    # x = (x' − t)/k with t = (out − 1)/2 − k·(w − 1)/2, i.e. x = x'/k + ((w − 1) − (side − 1))/2
    return grid + (ref_width - side) / 2, grid + (ref_height - side) / 2


def _bilinear_axis(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For positions on an axis of length ``n``: padded indices of the two neighbours, weight, validity."""
    floor = np.floor(pos)
    frac = pos - floor
    i0 = floor.astype(np.int64) + 1  # +1: index into the zero-padded array
    lo = np.clip(i0, 0, n + 1)
    hi = np.clip(i0 + 1, 0, n + 1)
    valid = (pos > -1) & (pos < n)  # outside (−1, n) both neighbours are border zeros
    return lo, hi, frac, valid


def patch_map(boundary: np.ndarray, grid_size: int, *, reference: tuple[int, int] | None = None) -> np.ndarray:
    """Point-sample a uint8 map onto a ``grid_size``² grid with the corner-to-corner affine (bilinear, zero border).

    The exact form of ``cv2.warpAffine(boundary, [[k, 0, 0], [0, k, 0]], (G, G), INTER_LINEAR)`` with
    ``k = (G−1)/(S−1)`` for an S×S reference (float64 bilinear, rounded to nearest; see the module docstring).

    Args:
        boundary: H×W uint8 map (H×W×C: channel 0).
        grid_size: G, the output side (14 for ViT-S/8 at 112 px).
        reference: (width, height) the affine is computed for (default: the map's own size). The official SBI
            loader takes it from the crop *before* the geometry augmentation, so a cropped map keeps its
            top-left corner and gets zero right/bottom borders.

    Returns:
        G×G uint8.
    """
    boundary = np.asarray(boundary)
    if boundary.ndim == 3:
        boundary = boundary[..., 0]
    if boundary.ndim != 2 or boundary.dtype != np.uint8:
        raise ValueError(f"boundary must be an H×W uint8 map, got shape {boundary.shape} dtype {boundary.dtype}")
    height, width = boundary.shape
    pos_x, pos_y = _corner_positions(grid_size, *_reference_size(boundary, reference))
    padded = np.zeros((height + 2, width + 2), np.float64)
    padded[1:-1, 1:-1] = boundary
    x0, x1, fx, vx = _bilinear_axis(pos_x, width)
    y0, y1, fy, vy = _bilinear_axis(pos_y, height)
    fx = fx[None, :]
    top = padded[y0][:, x0] * (1 - fx) + padded[y0][:, x1] * fx  # G, G
    bottom = padded[y1][:, x0] * (1 - fx) + padded[y1][:, x1] * fx
    value = top * (1 - fy[:, None]) + bottom * fy[:, None]
    value = np.where(vy[:, None] & vx[None, :], value, 0.0)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


def gaussian_kernel(sigma: float = PATCH_SIGMA) -> np.ndarray:
    """(2·3σ + 1)² kernel ``exp(−(dx² + dy²)/(2σ²))`` in float32, peak exactly 1 (7×7 for σ = 1)."""
    half = int(3 * sigma)
    axis = np.arange(-half, half + 1, dtype=np.float32)
    return np.exp(-(axis[None, :] ** 2 + axis[:, None] ** 2) / np.float32(2 * sigma * sigma)).astype(np.float32)


def vulnerable_patches(target: np.ndarray) -> np.ndarray:
    """N×2 (row, col) of the cells equal to the global maximum of ``target`` (ties kept, row-major); none if it is 0."""
    target = np.asarray(target)
    peak = target.max() if target.size else 0
    if peak <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    return np.argwhere(target >= peak).astype(np.int64)


def encode_patch_heatmap(
    target: np.ndarray, heatmap_size: int | None = None, *, sigma: float = PATCH_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """Version-0 encoder (official ``datasets/common.py``): Gaussians at the global-maximum cells, max-merged.

    Args:
        target: g×g map (uint8 patch map ``T``, or the float block means of the non-overlap path).
        heatmap_size: side of the output heatmap (default g). The non-overlap path draws an 8×8 grid into 14×14.
        sigma: Gaussian σ in cells (official 1).

    Returns:
        ``(heatmap, points)``: 1×G×G float32 in [0, 1] (all zero when ``target`` is), and the N×2 (row, col) cells.
    """
    target = np.asarray(target)
    if target.ndim != 2:
        raise ValueError(f"target must be a 2-D map, got shape {target.shape}")
    size = heatmap_size if heatmap_size is not None else target.shape[0]
    heatmap = np.zeros((size, size), np.float32)
    points = vulnerable_patches(target)
    kernel = gaussian_kernel(sigma)
    half = kernel.shape[0] // 2
    for row, col in points:
        r0, r1 = max(row - half, 0), min(row + half + 1, size)
        c0, c1 = max(col - half, 0), min(col + half + 1, size)
        if r0 >= r1 or c0 >= c1:
            continue  # a cell outside the heatmap (non-overlap path at other sizes)
        patch = kernel[r0 - (row - half) : r1 - (row - half), c0 - (col - half) : c1 - (col - half)]
        np.maximum(heatmap[r0:r1, c0:c1], patch, out=heatmap[r0:r1, c0:c1])
    return heatmap[None], points


def make_patch_targets(
    boundary: np.ndarray, grid_size: int, *, reference: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary map at crop size → ``(T, heatmap, points)``: :func:`patch_map` then :func:`encode_patch_heatmap`.

    Returns:
        T (G×G uint8), heatmap (1×G×G float32), points (N×2 int64 (row, col)).
    """
    target = patch_map(boundary, grid_size, reference=reference)
    heatmap, points = encode_patch_heatmap(target)
    return target, heatmap, points


def nonoverlap_patch_heatmap(
    boundary: np.ndarray, input_size: int, heatmap_size: int, *, reference: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The official ``TARGET_OVERLAP: False`` path (a bug, kept as a named option): block means drawn into G×G.

    The boundary map is warped to the ``input_size`` image grid, averaged over blocks of ``heatmap_size`` pixels
    (``input_size // heatmap_size`` blocks per side: 8 at 112/14), and the version-0 encoder draws the maxima of
    that coarse grid into a ``heatmap_size``² heatmap, so the cells no longer correspond to the tokens.

    Returns:
        ``(parts, heatmap)``: the n×n float64 block means and the 1×G×G float32 heatmap.
    """
    parts = block_means(patch_map(boundary, input_size, reference=reference), heatmap_size)
    heatmap, _ = encode_patch_heatmap(parts, heatmap_size)
    return parts, heatmap


def block_means(warped: np.ndarray, block: int) -> np.ndarray:
    """Means of ``block``×``block`` pixel blocks of an N×N map → (N // block)² float64 (the non-overlap grid)."""
    n = warped.shape[0] // block
    usable = warped[: n * block, : n * block].astype(np.float64)
    return usable.reshape(n, block, n, block).mean(axis=(1, 3))


def patch_sample(framed: "FramedPair", info: dict, *, heatmap_size: int, overlap: bool = True) -> "SynthesizedPair":
    """A framed pair with FakeFormer's targets: real → zeros, fake → the version-0 patch heatmap of its boundary.

    ``framed.boundary`` is the G×G patch map (``overlap``, official TARGET_OVERLAP) or, for the non-overlap path,
    the map at input size, averaged here over blocks of ``heatmap_size`` pixels. There is no consistency target
    (zeros, unused: FakeFormer has no consistency head).
    """
    from laanet.synthesis.pipeline import with_fake_targets

    if overlap:
        heatmap, _ = encode_patch_heatmap(framed.boundary)
    else:
        heatmap, _ = encode_patch_heatmap(block_means(framed.boundary, heatmap_size), heatmap_size)
    no_consistency = np.zeros((1, heatmap_size, heatmap_size), np.float32)
    return with_fake_targets(framed, {**info, "family": "fakeformer"}, heatmap, no_consistency)
