"""Hull masks against the official mask functions' output (``../shared/fixtures/hulls/official_hulls.pt``).

The fixture holds 12 landmark sets (81 points in a 256-px crop) and, for each, the four official hull masks
of all 81 points and of the first 68. Every type must be one solid face region (IoU ≥ 0.99 per mask).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from laanet.synthesis import hull
from laanet.synthesis.hull import HULL_TYPES, hull_mask

OFFICIAL_HULLS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "hulls" / "official_hulls.pt"
POINT_SETS = {0: 81, 1: 68}  # fixture axis 1 → number of leading landmarks used


@pytest.fixture(scope="module")
def official_hulls() -> dict:
    import torch

    if not OFFICIAL_HULLS.is_file():
        pytest.skip(f"fixture not found: {OFFICIAL_HULLS}")
    return torch.load(OFFICIAL_HULLS, weights_only=True)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 127, b > 127
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("kind", HULL_TYPES)
@pytest.mark.parametrize("point_set", sorted(POINT_SETS))
def test_hull_masks_match_official(official_hulls: dict, kind: str, point_set: int) -> None:
    type_index = list(official_hulls["types"]).index(kind)
    landmarks = official_hulls["landmarks"].numpy()
    expected = official_hulls["masks"][:, point_set, type_index].numpy()  # 12, 256, 256 uint8
    n_points = POINT_SETS[point_set]
    ious, exact = [], []
    for lm, reference in zip(landmarks, expected):
        mask = np.round(hull_mask(lm[:n_points], reference.shape, kind) * 255).astype(np.uint8)
        ious.append(_iou(mask, reference))
        exact.append(bool(np.array_equal(mask, reference)))
    assert min(ious) >= 0.99, f"{kind}, {n_points} points: IoU per landmark set {np.round(ious, 4).tolist()}"
    assert all(exact), f"{kind}, {n_points} points: pixel-exact for {sum(exact)}/12 landmark sets only"


def test_hull_masks_have_no_holes(official_hulls: dict) -> None:
    """Each type is one region without holes (the eyes, nose and mouth are inside the mask)."""
    import cv2

    lm = official_hulls["landmarks"][0].numpy()
    for kind in HULL_TYPES:
        mask = (hull_mask(lm, (256, 256), kind) > 0.5).astype(np.uint8)
        contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        assert len(contours) == 1 and (hierarchy[0, :, 3] < 0).all(), kind
        for idx in (37, 44, 30, 62):  # an eyelid, the other eyelid, the nose tip, the inner lip
            x, y = lm[idx].astype(int)
            assert mask[y, x], (kind, idx)


def test_landmarks_are_truncated_toward_zero() -> None:
    """x.9 is filled as x (not rounded up); negative coordinates truncate toward zero (−0.9 → 0)."""
    lm = np.zeros((68, 2), np.float32)
    lm[:, 0] = np.linspace(-0.9, 40.9, 68)
    lm[:, 1] = np.where(np.arange(68) % 2, 10.9, 30.9)
    points = hull.hull_parts(lm, "facehull")[0]
    assert points.dtype == np.int32
    assert points[0].tolist() == [0, 30] and points[-1].tolist() == [40, 10]
    mask = hull_mask(lm, (48, 48), "facehull")
    assert mask[:, 41:].max() == 0 and mask[31:].max() == 0 and mask[10:31, 0].min() == 1


def test_extended_raises_the_brows(official_hulls: dict) -> None:
    lm = official_hulls["landmarks"][0].numpy()[:68]
    components = hull_mask(lm, (256, 256), "components")
    extended = hull_mask(lm, (256, 256), "extended")
    assert (extended >= components).all()  # every part only grows upwards
    top = lambda m: np.nonzero(m.any(axis=1))[0][0]  # noqa: E731
    assert top(extended) < top(components) - 5
    raised = hull.hull_parts(lm, "extended")[5]  # right eye region: brow 17-21 first
    assert (raised[:5, 1] < lm[17:22, 1].astype(int)).all()
