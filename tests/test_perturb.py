"""The DeeperForensics-1.0 perturbations: parameters, determinism, monotone severity."""
from __future__ import annotations

import numpy as np
import pytest

from laanet.evaluation.perturb import (
    DF1_PERTURBATIONS,
    LEVELS,
    PERTURBATIONS,
    Perturbation,
    apply_perturbations,
    parse_perturbation,
)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    import cv2
    from skimage.data import astronaut

    return cv2.resize(astronaut()[0:256, 100:356], (128, 128), interpolation=cv2.INTER_AREA)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_seven_df1_perturbations_with_published_levels():
    assert DF1_PERTURBATIONS == ("saturation", "contrast", "block", "noise", "blur", "pixelation", "compression")
    assert LEVELS["saturation"][0] == (0.4, 0.3, 0.2, 0.1, 0.0)
    assert LEVELS["contrast"][0] == (0.85, 0.725, 0.6, 0.475, 0.35)
    assert LEVELS["block"][0] == (16, 32, 48, 64, 80)
    assert LEVELS["noise"][0] == (0.001, 0.002, 0.005, 0.01, 0.05)
    assert LEVELS["blur"][0] == (7, 9, 13, 17, 21)
    assert LEVELS["pixelation"][0] == (2, 3, 4, 5, 6)
    assert LEVELS["compression"][0] == (30, 32, 35, 38, 40)


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_shape_dtype_and_severity_grows(face, name):
    dists = []
    for level in (1, 3, 5):
        out = Perturbation(name, level)(face, np.random.default_rng(0))
        assert out.shape == face.shape and out.dtype == np.uint8
        assert out is not face
        dists.append(_distance(out, face))
    assert dists[0] > 0
    assert dists[0] <= dists[1] + 0.5 <= dists[2] + 1.0, dists  # non-decreasing, small slack for codecs


def test_specific_effects(face):
    gray = Perturbation("saturation", 5)(face)
    ycc_spread = np.abs(gray.astype(int) - gray.mean(axis=2, keepdims=True)).max()
    assert ycc_spread <= 3  # chroma 0: grey image
    dark = Perturbation("contrast", 5)(face)
    assert dark.max() <= int(face.max() * 0.35) + 1
    blocks = Perturbation("block", 1)(np.zeros((256, 256, 3), np.uint8), np.random.default_rng(1))
    assert set(np.unique(blocks).tolist()) == {0, 128}
    assert (blocks[..., 0] == 128).sum() <= 16 * 64


def test_random_perturbations_are_seeded(face):
    a = apply_perturbations(face, [Perturbation("noise", 3), Perturbation("block", 2)], seed=5)
    b = apply_perturbations(face, [Perturbation("noise", 3), Perturbation("block", 2)], seed=5)
    c = apply_perturbations(face, [Perturbation("noise", 3), Perturbation("block", 2)], seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_compression_handles_odd_sizes(face):
    odd = face[:101, :77]
    out = Perturbation("compression", 2)(np.ascontiguousarray(odd))
    assert out.shape == odd.shape


def test_parse():
    assert parse_perturbation("blur:3") == Perturbation("blur", 3)
    assert parse_perturbation("GB:2") == Perturbation("blur", 2)
    assert parse_perturbation("vc:5") == Perturbation("compression", 5)
    assert str(Perturbation("jpeg", 4)) == "jpeg:4"
    for bad in ("blur", "blur:x", "blur:0", "blur:6", "sharpen:2"):
        with pytest.raises(ValueError):
            parse_perturbation(bad)
    with pytest.raises(ValueError, match="uint8"):
        Perturbation("blur", 1)(np.zeros((8, 8, 3), np.float32))
