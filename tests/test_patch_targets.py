"""FakeFormer vulnerable-patch targets against the official fixture (``../shared/fixtures/fakeformer/targets.pt``)."""
from __future__ import annotations


import numpy as np
import pytest

from laanet.synthesis.patch_targets import (
    encode_patch_heatmap,
    gaussian_kernel,
    make_patch_targets,
    nonoverlap_patch_heatmap,
    patch_map,
)
from laanet.synthesis.pipeline import boundary_map

@pytest.fixture(scope="module")
def official(fakeformer_targets) -> dict:
    return fakeformer_targets  # conftest: skips without ../shared


def _boundary(official: dict, i: int) -> np.ndarray:
    """The official boundary map of sample ``i``: float32 arithmetic, margin crop, zeros for a real."""
    margin = int(official["margin"][i])
    boundary = boundary_map(official["mask"][i].numpy(), dtype=np.float32)[margin:-margin, margin:-margin]
    return boundary if int(official["label"][i]) == 1 else np.zeros_like(boundary)


def test_boundary_patch_map_heatmap_and_points_byte_for_byte(official: dict) -> None:
    n_points = []
    for i in range(len(official["margin"])):
        boundary = _boundary(official, i)
        np.testing.assert_array_equal(boundary, official["boundary_uint8"][i].numpy(), err_msg=f"boundary {i}")
        target, heatmap, points = make_patch_targets(boundary, 14)
        assert target.dtype == np.uint8 and heatmap.dtype == np.float32 and heatmap.shape == (1, 14, 14)
        np.testing.assert_array_equal(target, official["target14_uint8"][i].numpy(), err_msg=f"T {i}")
        np.testing.assert_array_equal(heatmap, official["heatmap"][i].numpy(), err_msg=f"heatmap {i}")
        np.testing.assert_array_equal(points, official["vulnerable_points"][i].numpy(), err_msg=f"points {i}")
        n_points.append(len(points))
    assert max(n_points) >= 2 and n_points[0] == n_points[6] == 0  # ties kept; reals have none


def test_float64_boundary_differs_from_the_official_float32_one(official: dict) -> None:
    """The official loader computes 4M(1−M)·255 in float32; float64 truncates some pixels one level higher."""
    differs = 0
    for i in range(len(official["margin"])):
        margin = int(official["margin"][i])
        b64 = boundary_map(official["mask"][i].numpy())[margin:-margin, margin:-margin]
        differs += int(int(official["label"][i]) == 1 and not np.array_equal(b64, official["boundary_uint8"][i].numpy()))
    assert differs > 0


def test_nonoverlap_path_reproduces_the_official_bug(official: dict) -> None:
    for i in range(len(official["margin"])):
        parts, heatmap = nonoverlap_patch_heatmap(_boundary(official, i), 112, 14)
        assert parts.shape == (8, 8)  # 112 // 14 blocks, not the 14×14 token grid
        np.testing.assert_array_equal(parts, official["nonoverlap_vul_parts"][i].numpy(), err_msg=f"parts {i}")
        np.testing.assert_array_equal(heatmap, official["nonoverlap_heatmap"][i].numpy(), err_msg=f"heatmap {i}")


def test_patch_map_is_a_corner_to_corner_point_sample() -> None:
    """Cell (r, c) samples the map at (r, c)·(S−1)/(G−1): corners land on corners, nothing is averaged."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (27, 27), dtype=np.uint8)
    grid = patch_map(image, 14)  # (27 − 1)/(14 − 1) = 2: every cell is exactly pixel (2r, 2c)
    np.testing.assert_array_equal(grid, image[::2, ::2])
    ring = np.zeros((27, 27), np.uint8)
    ring[1::2, :] = 255  # lines on the odd rows fall between all grid points
    assert not patch_map(ring, 14).any()
    # a reference larger than the map: top-left kept, zero right/bottom border (crop before framing)
    shifted = patch_map(image[:20, :20], 14, reference=(27, 27))
    np.testing.assert_array_equal(shifted[:10, :10], image[:20:2, :20:2])
    assert not shifted[10:].any() and not shifted[:, 10:].any()


def test_encoder_global_maximum_ties_and_sigma() -> None:
    target = np.zeros((14, 14), np.uint8)
    target[2, 3] = target[10, 12] = 200
    target[5, 5] = 199  # below the global max: not a vulnerable patch
    heatmap, points = encode_patch_heatmap(target)
    assert points.tolist() == [[2, 3], [10, 12]]
    assert heatmap[0, 2, 3] == heatmap[0, 10, 12] == 1.0
    assert heatmap[0, 2, 4] == pytest.approx(np.exp(-0.5), rel=1e-6)  # σ = 1 cell
    assert heatmap[0, 3, 4] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert heatmap[0, 5, 5] == pytest.approx(np.exp(-6.5), rel=1e-6)  # from (2, 3): dy 3, dx 2, inside the 7×7
    assert heatmap[0, 6, 3] == 0.0  # 4 rows away: outside the 7×7 kernel
    assert gaussian_kernel().shape == (7, 7) and gaussian_kernel()[3, 3] == 1.0
    empty, none = encode_patch_heatmap(np.zeros((14, 14), np.uint8))
    assert not empty.any() and none.shape == (0, 2)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        patch_map(np.zeros((20, 20), np.float32), 14)
    with pytest.raises(ValueError, match="2-D"):
        encode_patch_heatmap(np.zeros((2, 14, 14)))
