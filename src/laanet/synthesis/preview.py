"""A picture of what the network is trained on: one row per pair, six columns.

Columns: real, fake (with hull type and blend ratio), blend mask M, boundary T = 4M(1−M), vulnerable-point
heatmap, self-consistency target. Maps at heatmap size are enlarged with nearest-neighbour so single pixels
stay visible.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from laanet.synthesis.sample import SynthesizedPair

__all__ = ["COLUMNS", "render_grid", "save_grid"]

COLUMNS = ("real", "fake", "mask M", "boundary T", "heatmap", "consistency")
_HEADER = 22  # px of the title row
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _tile(image: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _gray(values: np.ndarray, size: int) -> np.ndarray:
    """[0, 1] float or uint8 map → size×size×3 uint8 gray."""
    v = values.astype(np.float32)
    if values.dtype == np.uint8:
        v = v / 255.0
    g = np.clip(v * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(_tile(g, size, cv2.INTER_NEAREST)[..., None], 3, axis=2)


def _colour(values: np.ndarray, size: int, colormap: int) -> np.ndarray:
    """[0, 1] float map → size×size×3 uint8 RGB through an OpenCV colormap."""
    g = np.clip(values.astype(np.float32) * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(_tile(g, size, cv2.INTER_NEAREST), colormap)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.putText(out, text, (4, out.shape[0] - 6), _FONT, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, out.shape[0] - 6), _FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _caption(pair: SynthesizedPair) -> str:
    info = pair.info
    parts = [str(info.get("hull", ""))]
    if "blend_ratio" in info:
        parts.append(f"r={info['blend_ratio']:g}")
    if info.get("redraws"):
        parts.append(f"redraws={info['redraws']}")
    return " ".join(p for p in parts if p)


def render_grid(pairs: Sequence[SynthesizedPair], *, tile: int = 160) -> np.ndarray:
    """Grid image, H×W×3 uint8 RGB: a title row, then one row of six tiles per pair."""
    if not pairs:
        raise ValueError("render_grid needs at least one pair")
    rows = []
    header = np.full((_HEADER, tile * len(COLUMNS), 3), 32, np.uint8)
    for j, name in enumerate(COLUMNS):
        cv2.putText(header, name, (j * tile + 6, _HEADER - 7), _FONT, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    rows.append(header)
    for pair in pairs:
        tiles = [
            _tile(pair.real, tile, cv2.INTER_AREA),
            _label(_tile(pair.fake, tile, cv2.INTER_AREA), _caption(pair)),
            _gray(pair.mask, tile),
            _gray(pair.boundary, tile),
            _colour(pair.fake_targets.heatmap[0], tile, cv2.COLORMAP_INFERNO),
            _colour(pair.fake_targets.consistency[0], tile, cv2.COLORMAP_VIRIDIS),
        ]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def save_grid(path: str | Path, pairs: Sequence[SynthesizedPair], *, tile: int = 160) -> Path:
    """Render :func:`render_grid` and write it (PNG/JPEG by extension); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = render_grid(pairs, tile=tile)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write {path} (unsupported extension {path.suffix!r}?)")
    return path
