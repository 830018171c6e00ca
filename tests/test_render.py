"""Heatmap overlays (laanet.inference.render): capped size, heat only where it is, labels inside, a legend."""
from __future__ import annotations

import numpy as np
import pytest

from laanet.inference import render
from laanet.inference.render import FAKE_COLOUR, OverlayFace, overlay_canvas, render_overlay

CROP = 256


def _face_at(x: float, y: float, side: float, heatmap: np.ndarray | None, score: float = 0.9) -> OverlayFace:
    """A face whose crop is the square [x, x+side]² of the frame (crop matrix = scale + shift)."""
    k = CROP / side
    matrix = np.array([[k, 0.0, -k * x], [0.0, k, -k * y]])
    return OverlayFace([x, y, x + side, y + side], score, heatmap, matrix, CROP)


def _peaked_heatmap(size: int = 32, base: float = 0.3) -> np.ndarray:
    """Warm all over (base) with a hot blob in the upper-left quarter: the kind of map that used to wash a face."""
    yy, xx = np.mgrid[0:size, 0:size]
    blob = np.exp(-((xx - size * 0.3) ** 2 + (yy - size * 0.3) ** 2) / (2 * (size * 0.08) ** 2))
    return (base + 0.5 * blob).astype(np.float32)


def _painted(out: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return np.abs(out.astype(int) - frame.astype(int)).sum(axis=2) > 0


def _heat_area(frame: np.ndarray, face: OverlayFace) -> np.ndarray:
    """Pixels the heat painted (the overlay compared with the same boxes drawn without a heatmap)."""
    no_heat = OverlayFace(face.box, face.score, None, face.crop_matrix, face.crop_size)
    return _painted(render_overlay(frame, [face], 0.5, legend=False), render_overlay(frame, [no_heat], 0.5, legend=False))


def test_wash_is_limited_to_the_heat():
    frame = np.full((400, 400, 3), 90, np.uint8)
    face = _face_at(100, 100, 200, _peaked_heatmap())
    out = render_overlay(frame, [face], 0.5, legend=False)
    crop_area = 200 * 200
    assert 0.01 < _heat_area(frame, face).sum() / crop_area <= render.HOT_AREA  # not the whole face: its hot part
    # The hot blob (upper-left of the crop, at 30 % of its side) is painted; the opposite corner is not.
    assert _painted(out, frame)[160, 160] and not _painted(out, frame)[260, 260]
    assert tuple(out[160, 160]) != (90, 90, 90) and out[160, 160, 0] > out[160, 160, 2]  # warm colour (red > blue)
    # Like the demo model's maps: a noisy plateau over the whole face, barely above it anywhere.
    plateau = np.full((32, 32), 0.03, np.float32)
    plateau[6:28, 6:26] = 0.14 + 0.02 * np.random.default_rng(0).random((22, 20))
    assert 0.01 < _heat_area(frame, _face_at(100, 100, 200, plateau)).sum() / crop_area <= render.HOT_AREA + 0.005
    flat = render_overlay(frame, [_face_at(100, 100, 200, np.full((32, 32), 0.4, np.float32))], 0.5, legend=False)
    assert not _painted(flat, frame)[110:290, 110:290].any()  # a flat map paints nothing


def test_overlay_is_capped_and_a_shrunk_canvas_gives_the_same_picture():
    frame = np.full((6000, 8000, 3), 120, np.uint8)
    face = _face_at(3000, 2000, 1600, _peaked_heatmap())
    full = render_overlay(frame, [face], 0.5)
    assert full.shape == (1440, 1920, 3)
    canvas, scale = overlay_canvas(frame)
    assert canvas.shape == (1440, 1920, 3) and scale == pytest.approx(0.24)
    from_canvas = render_overlay(canvas, [face], 0.5, frame_scale=scale)
    assert np.array_equal(from_canvas, full)
    ys, xs = np.nonzero(_heat_area(frame, face))  # where the heat landed
    # Blob centre: heatmap px 9.6 of 32 → crop px 5 + 10.1 × 246 / 32 − 0.5 = 82.1 → frame px 3000 + 82.1 × 1600 / 256
    # = 3513 (x), 2513 (y) → overlay px × 0.24 = 843, 603.
    assert np.median(xs) == pytest.approx(843, abs=3) and np.median(ys) == pytest.approx(603, abs=3)


@pytest.mark.parametrize("box_corner", [(380, 2), (-40, -30), (300, 170)])
def test_score_labels_stay_whole_at_the_image_edge(box_corner):
    frame = np.zeros((200, 400, 3), np.uint8)

    def label_pixels(x: float, y: float) -> int:
        out = render_overlay(frame, [_face_at(x, y, 60, None, score=0.93)], 0.5, legend=False)
        return int((out.min(axis=2) > 200).sum())  # white text on the red tag

    middle = label_pixels(170, 80)
    assert middle > 20
    assert label_pixels(*box_corner) == middle  # every pixel of "0.93" drawn, none cut off at the edge


def test_legend_shows_the_heat_scale_away_from_the_faces():
    frame = np.full((480, 640, 3), 60, np.uint8)
    heat = _peaked_heatmap(base=0.1)
    for face, expected_side in ((_face_at(20, 280, 180, heat), "right"), (_face_at(440, 280, 180, heat), "left")):
        out = render_overlay(frame, [face], 0.5)
        without = render_overlay(frame, [face], 0.5, legend=False)
        panel = _painted(out, without)
        ys, xs = np.nonzero(panel)
        assert ys.min() > 400  # bottom row of the image
        assert (xs.min() > 320) if expected_side == "right" else (xs.max() < 320)
        bar = out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].reshape(-1, 3).astype(int)
        yellow = (bar[:, 0] > 200) & (bar[:, 1] > 200) & (bar[:, 2] < 120)
        red = (bar[:, 0] > 180) & (bar[:, 1] < 80) & (bar[:, 2] < 80)
        assert yellow.sum() > 10 and red.sum() > 10  # the colour bar runs from yellow to red
        assert (bar == FAKE_COLOUR).all(axis=1).sum() > 10  # the fake-box swatch


def test_tiny_canvases_get_no_legend_and_no_crash():
    frame = np.zeros((40, 60, 3), np.uint8)
    out = render_overlay(frame, [_face_at(5, 5, 30, _peaked_heatmap())], 0.5)
    assert out.shape == frame.shape
    assert render_overlay(frame, [], 0.5).shape == frame.shape

