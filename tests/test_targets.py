"""Targets (heatmap, consistency) against the official encoder's fixture and on hand-made maps."""
from __future__ import annotations


import numpy as np
import pytest

from laanet.synthesis.targets import gaussian_radius, make_targets, run_lengths, vulnerable_points

def test_matches_official_encoder(official: dict) -> None:
    boundaries = official["boundary_uint8"].numpy()
    for i, boundary in enumerate(boundaries):
        heatmap, consistency = make_targets(boundary)
        assert heatmap.shape == consistency.shape == (1, 96, 96)
        assert heatmap.dtype == consistency.dtype == np.float32
        np.testing.assert_allclose(heatmap, official["heatmap"][i].numpy(), atol=1e-4, err_msg=f"heatmap {i}")
        expected = official["consistency"][i].numpy()
        np.testing.assert_allclose(consistency, expected, atol=1e-4, err_msg=f"consistency {i}")


def test_real_image_targets_are_zero() -> None:
    heatmap, consistency = make_targets(np.zeros((96, 96), np.uint8))
    assert not heatmap.any() and not consistency.any()


@pytest.mark.parametrize("size", [32, 96, 33])
def test_any_size_ring(size: int) -> None:
    """A ring-shaped boundary: peaks of exactly 1 near the ring, consistency 1 at the global maxima."""
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size / 2, xx - size / 2)
    mask = np.clip((size / 3 - radius) / (size / 8) + 0.5, 0, 1)  # soft disc, M = 0.5 on the circle r = size/3
    boundary = np.round(255 * 4 * mask * (1 - mask)).astype(np.uint8)
    heatmap, consistency = make_targets(boundary)
    assert heatmap.shape == (1, size, size)
    assert heatmap.max() == 1.0
    assert (consistency[0][boundary == boundary.max()] == 1).all()
    assert len([p for p in vulnerable_points(boundary) if len(p)]) == 4
    # every heatmap peak sits on (or one pixel up-left of) a boundary maximum of its quadrant
    for row, col in zip(*np.nonzero(heatmap[0] == 1)):
        near = boundary[row : row + 2, col : col + 2]
        assert near.max() >= boundary.max() - 2


def test_gaussian_radius_and_runs() -> None:
    assert gaussian_radius(4, 4) == pytest.approx(1.09, abs=5e-3)  # spec §2.3: (4,4) → r 1.09
    assert gaussian_radius(8, 8) == pytest.approx(2.19, abs=1e-2)
    boundary = np.zeros((10, 10), np.uint8)
    boundary[5, 2:7] = 200  # 5 px horizontal run
    assert run_lengths(boundary, 5, 4) == (6, 2)  # centre counted on both sides of each axis
    assert run_lengths(boundary, 0, 0) == (0, 0)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        make_targets(np.zeros((96, 96), np.float32))
    with pytest.raises(ValueError):
        make_targets(np.zeros((2, 96, 96, 3), np.uint8))
