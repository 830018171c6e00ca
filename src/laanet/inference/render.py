"""Pictures for people: heatmap overlays on the frame, with a legend, and a per-frame score timeline for videos.

Overlays are drawn at a capped size: the frame is shrunk to at most :data:`MAX_OVERLAY_SIDE` px first and each
face's heatmap is warped straight onto that small canvas, so a 100-megapixel photo costs a few megabytes here.
The detector keeps only that small canvas per frame (:func:`overlay_canvas`) until its faces are scored.

What is painted:
- **the heat, not the face**: each face's heatmap (probabilities over the network input) is warped back onto
  the frame. Its floor is the 5th percentile inside the faces; only pixels more than halfway from the floor to
  the peak (:data:`SHOW_FROM`) and among the hottest 8 % of the crops' area (:data:`HOT_AREA`) are coloured,
  with opacity rising towards the peak: a map that is warm all over the face marks where it is hottest instead
  of washing the whole face. A flat map (peak − floor < :data:`MIN_CONTRAST`) paints nothing. Full colour is
  reached at ``floor + max(peak − floor, FULL_SCALE)``, so weak peaks stay pale.
- **boxes** with each face's P(fake), red at or above the threshold, green below, the label kept inside the image;
- **a legend** in the corner farthest from the faces: the colour bar with the heat values (probabilities) at its
  ends, and the box colours. Canvases under :data:`LEGEND_MIN_SIDE` px get none.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from laanet.media.image import downscale
from laanet.models.family import Preprocess

MAX_OVERLAY_SIDE = 1920  # overlays are drawn on the frame shrunk to this long side
MIN_CONTRAST = 0.02  # heatmaps flatter than this (peak - floor, in probability) are not drawn
FULL_SCALE = 0.25  # a rise of this much probability above the floor gets the full colour
SHOW_FROM = 0.5  # paint only where the heat is above floor + SHOW_FROM × (peak - floor) ...
HOT_AREA = 0.08  # ... and among the hottest HOT_AREA of the face crops' area (about a fifth of the face)
MAX_ALPHA = 0.7  # opacity of the colour at full scale
LEGEND_MIN_SIDE = 160  # no legend on smaller canvases
FAKE_COLOUR = (230, 40, 40)  # RGB
REAL_COLOUR = (40, 190, 60)
# Colour ramp of the heat, low → high: yellow, orange, red, dark red (no green: green boxes mean "real").
_RAMP_STOPS = np.array([[255, 235, 60], [255, 150, 20], [230, 30, 20], [150, 0, 40]], np.float32)
_COLOURS = np.stack([np.interp(np.linspace(0, 3, 128), np.arange(4), _RAMP_STOPS[:, c]) for c in range(3)], 1)


@dataclass(frozen=True)
class OverlayFace:
    """One scored face, as the overlay needs it.

    Attributes:
        box: ``[x1, y1, x2, y2]`` in original-frame pixels.
        score: P(fake) of the face.
        heatmap: h×w probabilities over the network input, or None (model without a heatmap head).
        crop_matrix: 2×3 affine, original-frame pixel → face-crop pixel (``FaceCrop.matrix``).
        crop_size: side of that crop in pixels.
        preprocess: the model's :class:`~laanet.models.family.Preprocess` (test margin and framing, to place the
            heatmap on the crop); None = LAA-Net's.
    """

    box: Sequence[float]
    score: float
    heatmap: np.ndarray | None = field(default=None, repr=False)
    crop_matrix: np.ndarray | None = field(default=None, repr=False)
    crop_size: int = 256
    preprocess: Preprocess | None = None


def overlay_canvas(frame: np.ndarray, max_side: int = MAX_OVERLAY_SIDE) -> tuple[np.ndarray, float]:
    """The frame shrunk for drawing (long side ≤ ``max_side``) and its scale (canvas px per frame px)."""
    return downscale(frame, max_side)


def render_overlay(
    frame: np.ndarray,
    faces: Sequence[OverlayFace],
    threshold: float,
    *,
    frame_scale: float = 1.0,
    max_side: int = MAX_OVERLAY_SIDE,
    legend: bool = True,
) -> np.ndarray:
    """Draw the faces' heat, boxes and scores (module docstring) on a copy of ``frame``.

    Args:
        frame: H×W×3 uint8 RGB, the original frame or a copy already shrunk by ``frame_scale``
            (:func:`overlay_canvas`); face boxes and crop matrices are in original-frame pixels either way.
        faces: the scored faces.
        threshold: P(fake) at or above which a box is drawn as fake.
        frame_scale: ``frame``'s pixels per original-frame pixel.
        max_side: the overlay's long side is at most this.
        legend: draw the colour legend.

    Returns:
        H'×W'×3 uint8 RGB with ``max(H', W') ≤ max_side``.
    """
    canvas, shrink = downscale(frame, max_side)
    scale = frame_scale * shrink  # original px → canvas px
    heat, inside = _paste_heat(faces, scale, canvas.shape[:2])
    boxes = [(np.asarray(face.box, dtype=np.float64) * scale, face.score) for face in faces]
    return _compose(canvas, heat, inside, boxes, threshold, legend=legend)


def _compose(canvas, heat, inside, boxes, threshold: float, *, legend: bool) -> np.ndarray:
    """Paint the heat, the boxes and the legend on a copy of the canvas (everything in canvas pixels)."""
    out = np.array(canvas, dtype=np.uint8, copy=True)
    heat_range = _paint_heat(out, heat, inside)
    style = _Style.for_canvas(out.shape[:2])
    for box, score in boxes:
        _draw_box(out, box, score, threshold, style)
    if legend and min(out.shape[:2]) >= LEGEND_MIN_SIDE:
        _draw_legend(out, heat_range, threshold, [box for box, _ in boxes], style, any_heat=bool(inside.any()))
    return out


# --- heat ---------------------------------------------------------------------------------------------------


def _paste_heat(faces: Sequence[OverlayFace], scale: float, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(H×W float32 heat, max over the faces; H×W bool, pixels covered by some face's heatmap) on the canvas."""
    from laanet.faces.crop import compose_affine
    from laanet.inference.preprocess import paste_heatmap

    heat = np.zeros(shape, np.float32)
    inside = np.zeros(shape, bool)
    canvas_to_original = np.array([[1 / scale, 0, 0.5 / scale - 0.5], [0, 1 / scale, 0.5 / scale - 0.5]])
    for face in faces:
        if face.heatmap is None or face.crop_matrix is None:
            continue
        matrix = compose_affine(np.asarray(face.crop_matrix, np.float64), canvas_to_original)  # canvas → crop
        heat = np.maximum(heat, paste_heatmap(np.clip(face.heatmap, 0, 1), matrix, face.crop_size, shape, face.preprocess))
        ones = np.ones_like(face.heatmap, dtype=np.float32)
        inside |= paste_heatmap(ones, matrix, face.crop_size, shape, face.preprocess) > 0.5
    return heat, inside


def _paint_heat(out: np.ndarray, heat: np.ndarray, inside: np.ndarray) -> tuple[float, float] | None:
    """Blend the colour of the heat into ``out`` in place; returns the (low, high) heat values of the colour bar."""
    if not inside.any():
        return None
    values = heat[inside]
    floor, peak = float(np.percentile(values, 5)), float(values.max())
    if peak - floor < MIN_CONTRAST:
        return None
    low = max(floor + SHOW_FROM * (peak - floor), float(np.percentile(values, 100 * (1 - HOT_AREA))))
    high = floor + max(peak - floor, FULL_SCALE)
    rel = np.clip((heat - low) / (high - low), 0, 1)
    rel[~inside | (heat < low)] = 0
    shown = rel > 0
    colour = _COLOURS[np.rint(rel[shown] * (len(_COLOURS) - 1)).astype(np.intp)]
    alpha = (0.25 + (MAX_ALPHA - 0.25) * rel[shown])[:, None]  # visible from the first painted pixel
    out[shown] = np.rint(out[shown] * (1 - alpha) + colour * alpha).astype(np.uint8)
    return low, high


# --- boxes, labels, legend ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    font_scale: float
    thickness: int
    pad: int

    @classmethod
    def for_canvas(cls, shape: tuple[int, int]) -> _Style:
        side = max(shape)
        return cls(font_scale=float(np.clip(side / 1400, 0.35, 1.2)), thickness=max(1, round(side / 500)),
                   pad=max(2, round(side / 250)))

    def text_size(self, text: str) -> tuple[int, int, int]:
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, self.thickness)
        return width, height, baseline

    def put(self, out: np.ndarray, text: str, origin: tuple[int, int], colour) -> None:
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, colour, self.thickness, cv2.LINE_AA)


def _draw_box(out: np.ndarray, box: np.ndarray, score: float, threshold: float, style: _Style) -> None:
    height, width = out.shape[:2]
    colour = FAKE_COLOUR if score >= threshold else REAL_COLOUR
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), colour, style.thickness)
    label = f"{score:.2f}"
    text_w, text_h, baseline = style.text_size(label)
    tag_w, tag_h = text_w + 2 * style.pad, text_h + baseline + 2 * style.pad
    left = int(np.clip(x1, 0, max(0, width - tag_w)))
    top = y1 - tag_h if y1 - tag_h >= 0 else max(0, y1)  # above the box, else just inside its top edge
    top = int(min(top, max(0, height - tag_h)))
    cv2.rectangle(out, (left, top), (left + tag_w - 1, top + tag_h - 1), colour, cv2.FILLED)
    style.put(out, label, (left + style.pad, top + style.pad + text_h), (255, 255, 255))


def _draw_legend(
    out: np.ndarray,
    heat_range: tuple[float, float] | None,
    threshold: float,
    boxes: list[np.ndarray],
    style: _Style,
    *,
    any_heat: bool,
) -> None:
    """A dark translucent panel: the colour bar with its heat values, then the box colours."""
    height, width = out.shape[:2]
    if heat_range is not None:
        heat_line = f"heat {heat_range[0]:.2f}"
        bar_end = f"{heat_range[1]:.2f}"
    else:
        heat_line, bar_end = ("heat: flat, nothing stands out" if any_heat else "no heatmap"), ""
    key = f"fake (P >= {threshold:.2f})"
    text_h = style.text_size("0")[1]
    bar_w = max(40, round(min(width, height) * 0.18))
    first_w = style.text_size(heat_line)[0] + (style.pad + bar_w + style.pad + style.text_size(bar_end)[0] if bar_end else 0)
    swatch = text_h
    second_w = 2 * (swatch + style.pad) + style.text_size(key)[0] + style.pad + style.text_size("real")[0] + style.pad
    panel_w = max(first_w, second_w) + 2 * style.pad
    row_h = text_h + 2 * style.pad
    panel_h = 2 * row_h + style.pad
    if panel_w > width or panel_h > height // 3:
        return
    left, top = _emptiest_corner(width, height, panel_w, panel_h, boxes, style.pad)
    region = out[top : top + panel_h, left : left + panel_w]
    region[:] = (region * 0.35).astype(np.uint8)  # darkened, still see-through
    x, y = left + style.pad, top + style.pad + text_h
    style.put(out, heat_line, (x, y), (255, 255, 255))
    if bar_end:
        x += style.text_size(heat_line)[0] + style.pad
        ramp = np.repeat(_COLOURS[np.linspace(0, len(_COLOURS) - 1, bar_w).round().astype(int)][None], text_h, axis=0)
        ramp = ramp.round().astype(np.uint8)
        out[y - text_h : y, x : x + bar_w] = ramp
        style.put(out, bar_end, (x + bar_w + style.pad, y), (255, 255, 255))
    x, y = left + style.pad, y + row_h
    cv2.rectangle(out, (x, y - swatch), (x + swatch, y), FAKE_COLOUR, cv2.FILLED)
    x += swatch + style.pad
    style.put(out, key, (x, y), (255, 255, 255))
    x += style.text_size(key)[0] + style.pad
    cv2.rectangle(out, (x, y - swatch), (x + swatch, y), REAL_COLOUR, cv2.FILLED)
    style.put(out, "real", (x + swatch + style.pad, y), (255, 255, 255))


def _emptiest_corner(
    width: int, height: int, panel_w: int, panel_h: int, boxes: list[np.ndarray], margin: int
) -> tuple[int, int]:
    """Top-left of the panel in the corner overlapping the face boxes least (bottom corners first)."""
    corners = [
        (margin, height - panel_h - margin), (width - panel_w - margin, height - panel_h - margin),
        (margin, margin), (width - panel_w - margin, margin),
    ]

    def overlap(corner: tuple[int, int]) -> float:
        x, y = corner
        total = 0.0
        for x1, y1, x2, y2 in boxes:
            total += max(0.0, min(x + panel_w, x2) - max(x, x1)) * max(0.0, min(y + panel_h, y2) - max(y, y1))
        return total

    left, top = min(corners, key=overlap)
    return max(0, left), max(0, top)


# --- files --------------------------------------------------------------------------------------------------


def save_rgb(path: str | Path, image: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write {path}")


def save_timeline(path: str | Path, times: list[float], scores: list[float | None], threshold: float, title: str) -> None:
    """Plot per-frame fake probability against time (frames without a face are gaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    ys = [np.nan if s is None else s for s in scores]
    ax.plot(times, ys, marker="o", ms=3, lw=1.2, color="#c0392b", label="P(fake) per frame")
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
