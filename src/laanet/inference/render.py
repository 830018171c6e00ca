"""Pictures for people: heatmap overlays on the original frame, and a per-frame score timeline for videos."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MAX_OVERLAY_SIDE = 1920  # larger frames are downscaled for the overlay PNG only
MIN_CONTRAST = 0.02  # heatmaps flatter than this (max - 5th percentile, in probability) are not drawn
FULL_SCALE = 0.25  # a rise of this much probability above the floor gets the full colour


def overlay_heatmaps(frame: np.ndarray, heat: np.ndarray, boxes: list[tuple[list[float], float]], threshold: float) -> np.ndarray:
    """Blend a frame-sized heatmap (H×W in [0, 1]) onto an RGB frame and draw each face box with its score.

    Colour and opacity follow the heat above its floor inside the faces (JET: blue low, red high).

    Returns an H'×W'×3 uint8 RGB image (downscaled so its long side is at most ``MAX_OVERLAY_SIDE``).
    """
    heat = np.clip(heat, 0, 1)
    # Heat above the map's floor inside the faces, full colour at FULL_SCALE above it: low-peaked maps stay
    # faint, peaks of a confident model are red, and a flat map (no localisation) draws nothing.
    inside = heat[heat > 0]
    lo, hi = (float(np.percentile(inside, 5)), float(inside.max())) if inside.size else (0.0, 0.0)
    rel = np.clip((heat - lo) / max(hi - lo, FULL_SCALE), 0, 1) if hi - lo >= MIN_CONTRAST else np.zeros_like(heat)
    colour = cv2.applyColorMap((rel * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    alpha = (0.7 * rel**1.5)[..., None]  # transparent where the heatmap is at its floor
    out = (frame.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)
    scale = min(1.0, MAX_OVERLAY_SIDE / max(out.shape[:2]))
    if scale < 1.0:
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    thick = max(1, int(round(max(out.shape[:2]) / 400)))
    for box, score in boxes:
        x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
        col = (230, 40, 40) if score >= threshold else (40, 200, 60)
        cv2.rectangle(out, (x1, y1), (x2, y2), col, thick)
        cv2.putText(out, f"{score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick + 0.2, col, thick)
    return out


def save_rgb(path: str | Path, image: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image[..., ::-1]):
        raise OSError(f"could not write {path}")


def save_timeline(path: str | Path, times: list[float], scores: list[float | None], threshold: float, title: str) -> None:
    """Plot per-frame fake probability against time (frames without a face are gaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    ys = [np.nan if s is None else s for s in scores]
    ax.plot(times, ys, marker="o", ms=3, lw=1.2, color="#c0392b")
    ax.axhline(threshold, ls="--", lw=1, color="grey", label=f"threshold {threshold:g}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(fake)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
