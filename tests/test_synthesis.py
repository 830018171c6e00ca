"""Pseudo-fake synthesis: hulls, SBI and BI pairs, statistics over many draws, determinism, edge cases."""
from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest

from laanet.faces.landmarks import flip_landmarks
from laanet.synthesis import bi as bi_module
from laanet.synthesis import sbi as sbi_module
from laanet.synthesis.augment import frame_affine
from laanet.synthesis.bi import (
    BIConfig,
    BISynthesizer,
    PartnerIndex,
    PoolFace,
    feathered_blend,
    normalise_landmarks,
    piecewise_affine,
)
from laanet.synthesis.hull import HULL_TYPES, hull_mask
from laanet.synthesis.landmarks import SynthesisInputError, forehead_to_arc
from laanet.synthesis.pipeline import boundary_map
from laanet.synthesis.preview import COLUMNS, render_grid
from laanet.synthesis.sample import SynthesisError
from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

NAMES = ("astronaut", "grace_hopper", "obama_portrait")


@pytest.fixture(scope="module")
def faces(sample_face_crops) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """256-px crops and their 68 landmarks of three bundled photos (laanet.faces, dlib backend)."""
    return sample_face_crops


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


# ------------------------------------------------------------------------------------------------ hulls
def test_hull_types_nonempty_and_mirror_equivariant(faces) -> None:
    image, lm = faces["astronaut"]
    areas = {}
    for kind in HULL_TYPES:
        mask = hull_mask(lm, image.shape, kind)
        assert mask.dtype == np.float32 and mask.shape == image.shape[:2] and 0 <= mask.min() and mask.max() == 1
        areas[kind] = (mask > 0.5).mean()
        mirrored = hull_mask(flip_landmarks(lm, image.shape[1]), image.shape, kind)
        assert _iou(mirrored, mask[:, ::-1]) > 0.95, kind
    assert 0.1 < areas["components"] < areas["extended"]  # extended raises the brows onto the forehead
    assert areas["components"] > 0.8 * areas["facehull"]  # solid: no holes at the eyes, nose and mouth
    with pytest.raises(ValueError):
        hull_mask(lm, image.shape, "ellipse")  # type: ignore[arg-type]


def test_forehead_points_extend_facehull(faces) -> None:
    image, lm = faces["astronaut"]
    brow_top = lm[17:27, 1].min()
    forehead = np.stack([np.linspace(lm[0, 0], lm[16, 0], 13), np.full(13, brow_top - 40)], axis=1)
    lm81 = np.concatenate([lm, forehead]).astype(np.float32)
    assert hull_mask(lm81, image.shape, "facehull").sum() > 1.1 * hull_mask(lm, image.shape, "facehull").sum()
    # raw dlib-81 order → arc order
    raw = lm81.copy()
    raw[[77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78]] = forehead
    np.testing.assert_array_equal(forehead_to_arc(raw, "dlib81"), lm81)
    assert forehead_to_arc(lm81, "arc") is lm81
    # SBI takes 81 points (flip re-indexes the forehead arc too)
    synth = SBISynthesizer(SBIConfig(input_size=64, subset68_p=0.0, flip_p=1.0, hull_types=("facehull",)))
    pair = synth(image, lm81, np.random.default_rng(0))
    assert pair.info["flip"] and pair.boundary.max() > 0


# ------------------------------------------------------------------------------------------------ SBI statistics
def test_sbi_draw_statistics() -> None:
    """Frequencies of the discrete choices over many draws (cheap: no images involved)."""
    synth = SBISynthesizer(SBIConfig())
    rng = np.random.default_rng(0)
    n = 6000
    draws = [synth.draw(rng, (256, 256, 3)) for _ in range(n)]
    hulls = Counter(d.hull for d in draws)
    assert set(hulls) == set(HULL_TYPES)
    for kind in HULL_TYPES:
        assert abs(hulls[kind] / n - 0.25) < 0.025, hulls  # ±4.5 sd
    ratios = Counter(d.blend_ratio for d in draws)
    assert set(ratios) == {0.25, 0.5, 0.75, 1.0}
    for r in (0.25, 0.5, 0.75):
        assert abs(ratios[r] / n - 1 / 6) < 0.022, ratios
    assert abs(ratios[1.0] / n - 0.5) < 0.03
    for attr, p in (("subset68", 0.25), ("flip", 0.5), ("transform_source", 0.5)):
        assert abs(np.mean([getattr(d, attr) for d in draws]) - p) < 0.03, attr
    margins = np.array([d.margin for d in draws])
    assert margins.min() == 5 and margins.max() == 24  # U{5..24} per side at 256 px
    kernels = np.array([[d.kernel1, d.kernel2] for d in draws])
    assert set(np.unique(kernels)) == set(range(5, 26, 2))
    sigmas = np.array([d.sigma2 for d in draws])
    assert sigmas.min() == 5 and sigmas.max() == 45
    sizes = np.array([d.mask_size for d in draws])
    assert sizes.min() >= int(0.8 * 256) and sizes.max() < int(256 / 0.8)
    # margins scale with the crop size
    small = [synth.draw(rng, (128, 128, 3)).margin for _ in range(500)]
    assert min(small) >= 2 and max(small) <= 12
    # val: no flip
    assert not any(SBISynthesizer(SBIConfig(train=False)).draw(rng, (256, 256, 3)).flip for _ in range(200))


@pytest.fixture(scope="module")
def sbi_pairs(faces):
    synth = SBISynthesizer(SBIConfig(input_size=384))
    pairs = []
    for i in range(24):
        image, lm = faces[NAMES[i % len(NAMES)]]
        pairs.append(synth(image, lm, np.random.default_rng([7, i])))
    return pairs


def test_sbi_pairs_are_valid_fakes(sbi_pairs) -> None:
    for pair in sbi_pairs:
        assert pair.real.shape == pair.fake.shape == (384, 384, 3) and pair.real.dtype == np.uint8
        assert pair.boundary.shape == pair.mask.shape == (96, 96) and pair.boundary.dtype == np.uint8
        assert (pair.fake != pair.real).any(), "unblended fake"
        assert pair.mask.max() > 0.5 and pair.boundary.max() > 0, "empty mask"
        ft, rt = pair.fake_targets, pair.real_targets
        assert ft.label == 1 and rt.label == 0
        assert ft.heatmap.shape == ft.consistency.shape == (1, 96, 96)
        assert ft.heatmap.max() == 1.0 and ft.consistency.max() == 1.0
        assert not rt.heatmap.any() and not rt.consistency.any()  # real targets all zero
        # the boundary peaks where the (warped) soft mask crosses 0.5
        peaks = np.argwhere(pair.boundary == pair.boundary.max())
        assert np.abs(pair.mask[tuple(peaks.T)] - 0.5).max() < 0.1
        arrays = pair.to_arrays()
        assert arrays["image"].shape == (2, 3, 384, 384) and arrays["image"].dtype == np.float32
        assert -1.0 <= arrays["image"].min() and arrays["image"].max() <= 1.0
        np.testing.assert_array_equal(arrays["label"], [0.0, 1.0])
        assert arrays["heatmap"].shape == arrays["consistency"].shape == (2, 1, 96, 96)


def test_sbi_margins_and_info(sbi_pairs) -> None:
    margins = [p.info["margin"] for p in sbi_pairs]
    assert all(5 <= m <= 24 for m in margins)
    assert {p.info["hull"] for p in sbi_pairs} <= set(HULL_TYPES)
    assert all(p.redraws == 0 for p in sbi_pairs)


def test_sbi_deterministic_and_picklable(faces) -> None:
    image, lm = faces["grace_hopper"]
    synth = SBISynthesizer(SBIConfig(input_size=128))
    a = synth(image, lm, np.random.default_rng(3))
    b = pickle.loads(pickle.dumps(synth))(image, lm, np.random.default_rng(3))
    c = synth(image, lm, np.random.default_rng(4))
    for name in ("real", "fake", "boundary", "mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.fake_targets.heatmap, b.fake_targets.heatmap)
    assert a.info == b.info
    assert not np.array_equal(a.fake, c.fake)
    assert a.real.shape == (128, 128, 3) and a.boundary.shape == (32, 32)


def test_sbi_fake_equals_real_outside_the_mask(faces) -> None:
    """Without colour augmentation, the pair differs only where the blend mask is non-zero."""
    import cv2

    image, lm = faces["astronaut"]
    for train in (False, True):
        synth = SBISynthesizer(SBIConfig(input_size=128, train=train, pair_colour=False))
        for seed in range(4):
            pair = synth(image, lm, np.random.default_rng(seed))
            if not train:
                assert not pair.info["flip"]
            support = cv2.resize((pair.mask > 0).astype(np.uint8), (128, 128), interpolation=cv2.INTER_NEAREST)
            support = cv2.dilate(support, np.ones((9, 9), np.uint8)).astype(bool)
            assert (pair.fake[~support] == pair.real[~support]).all()
            assert (pair.fake[support] != pair.real[support]).any()


def test_empty_mask_is_redrawn_then_fails(faces, monkeypatch) -> None:
    image, lm = faces["astronaut"]
    real_hull = sbi_module.hull_mask
    calls = {"n": 0}

    def sometimes_empty(landmarks, shape, kind):
        calls["n"] += 1
        if calls["n"] <= 2:
            return np.zeros(shape[:2], np.float32)
        return real_hull(landmarks, shape, kind)

    monkeypatch.setattr(sbi_module, "hull_mask", sometimes_empty)
    synth = SBISynthesizer(SBIConfig(input_size=128, max_redraws=3))
    pair = synth(image, lm, np.random.default_rng(0))
    assert pair.redraws == 2 and pair.fake_targets.heatmap.max() == 1.0

    monkeypatch.setattr(sbi_module, "hull_mask", lambda landmarks, shape, kind: np.zeros(shape[:2], np.float32))
    with pytest.raises(SynthesisError, match="empty mask"):
        synth(image, lm, np.random.default_rng(0))


def test_bad_inputs_raise_typed_errors(faces) -> None:
    image, lm = faces["astronaut"]
    synth = SBISynthesizer(SBIConfig(input_size=128))
    rng = np.random.default_rng(0)
    with pytest.raises(SynthesisInputError, match="68"):
        synth(image, lm[:5], rng)  # too few landmarks
    bad = lm.copy()
    bad[3] = np.nan
    with pytest.raises(SynthesisInputError, match="NaN"):
        synth(image, bad, rng)
    with pytest.raises(SynthesisInputError, match="inside"):
        synth(image, lm + 10_000, rng)
    with pytest.raises(SynthesisInputError, match="uint8"):
        synth(image.astype(np.float32), lm, rng)
    assert issubclass(SynthesisInputError, ValueError)
    with pytest.raises(ValueError):
        SBIConfig(input_size=130)
    with pytest.raises(ValueError):
        SBIConfig(blur_kernel=(4, 25))


# ------------------------------------------------------------------------------------------------ pipeline pieces
def test_boundary_map_and_framing() -> None:
    m = np.linspace(0, 1, 101, dtype=np.float32)[None, :]
    b = boundary_map(m)
    assert b.dtype == np.uint8 and b.max() == 255
    peak = m[0, b[0] == 255]
    assert 0.5 in peak and np.abs(peak - 0.5).max() <= 0.03  # uint8 ties around M = 0.5
    # framing keeps the aspect (letterbox), centre onto centre; official: corner pixel onto corner pixel
    for aligned in (False, True):
        np.testing.assert_allclose(frame_affine(256, 256, 256, pixel_aligned=aligned), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    mat = frame_affine(200, 100, 50, pixel_aligned=True)
    assert mat[0, 0] == mat[1, 1] == 0.25
    np.testing.assert_allclose(mat @ [99.5, 49.5, 1], [24.5, 24.5])
    mat = frame_affine(200, 100, 50)
    assert mat[0, 0] == mat[1, 1] == 49 / 199
    np.testing.assert_allclose(mat @ [[0, 199], [0, 99], [1, 1]], [[0, 49], [24.5 - 49.5 * 49 / 199, 24.5 + 49.5 * 49 / 199]])


# ------------------------------------------------------------------------------------------------ BI
def test_partner_index_knn_excludes_identity() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 200, (68, 2)).astype(np.float32)
    shapes = [base + rng.normal(0, s, (68, 2)).astype(np.float32) for s in np.linspace(0.5, 20, 40)]
    ids = [f"v{i % 8}" for i in range(40)]
    index = PartnerIndex([PoolFace(np.zeros((8, 8, 3), np.uint8), lm, ident) for lm, ident in zip(shapes, ids)])
    got = index.neighbours(base, identity="v0", k=5)
    feats = np.stack([normalise_landmarks(s) for s in shapes])
    dist = np.linalg.norm(feats - normalise_landmarks(base), axis=1)
    dist[[i for i, ident in enumerate(ids) if ident == "v0"]] = np.inf
    np.testing.assert_array_equal(got, np.argsort(dist)[:5])
    assert all(ids[i] != "v0" for i in got)
    # position and scale do not matter
    np.testing.assert_array_equal(index.neighbours(base * 1.7 + 30, identity="v0", k=5), got)
    single = PartnerIndex([PoolFace(np.zeros((8, 8, 3), np.uint8), base, "only")])
    with pytest.raises(SynthesisError, match="another identity"):
        single.neighbours(base, identity="only")


def test_piecewise_affine_and_feathered_blend() -> None:
    mask = np.zeros((128, 128), np.float32)
    mask[32:96, 40:88] = 1
    rng = np.random.default_rng(0)
    assert _iou(piecewise_affine(mask, 0.0, 4, rng), mask) == 1.0
    assert 0.6 < _iou(piecewise_affine(mask, 0.05, 4, rng), mask) < 1.0
    fg = np.full((128, 128, 3), 200, np.uint8)
    bg = np.zeros((128, 128, 3), np.uint8)
    fake, alpha = feathered_blend(fg, bg, mask, 0.2)
    assert alpha[mask == 0].max() == 0 and alpha.max() == 1.0
    assert (fake[mask == 0] == 0).all() and fake[64, 64].tolist() == [200, 200, 200]


@pytest.fixture(scope="module")
def bi_synth(faces) -> BISynthesizer:
    pool = [PoolFace(img, lm, name) for name, (img, lm) in faces.items()]
    return BISynthesizer(PartnerIndex(pool), BIConfig(input_size=128))


def test_bi_pairs(faces, bi_synth) -> None:
    hulls = Counter()
    for i in range(9):
        name = NAMES[i % 3]
        image, lm = faces[name]
        pair = bi_synth(image, lm, np.random.default_rng([1, i]), identity=name)
        assert pair.info["partner_identity"] != name
        assert pair.real.shape == pair.fake.shape == (128, 128, 3)
        assert (pair.fake != pair.real).any() and pair.boundary.max() > 0
        assert pair.fake_targets.heatmap.max() == 1.0 and not pair.real_targets.heatmap.any()
        assert 5 <= pair.info["margin"] <= 24
        hulls[pair.info["hull"]] += 1
    assert len(hulls) >= 2


def test_bi_deterministic_and_picklable(faces, bi_synth) -> None:
    image, lm = faces["obama_portrait"]
    a = bi_synth(image, lm, np.random.default_rng(11), identity="obama_portrait")
    b = pickle.loads(pickle.dumps(bi_synth))(image, lm, np.random.default_rng(11), identity="obama_portrait")
    np.testing.assert_array_equal(a.fake, b.fake)
    np.testing.assert_array_equal(a.boundary, b.boundary)
    assert a.info == b.info


def test_bi_redraws_empty_masks(faces, bi_synth, monkeypatch) -> None:
    image, lm = faces["astronaut"]
    monkeypatch.setattr(bi_module, "hull_mask", lambda landmarks, shape, kind: np.zeros(shape[:2], np.float32))
    with pytest.raises(SynthesisError, match="empty mask"):
        bi_synth(image, lm, np.random.default_rng(0), identity="astronaut")


# ------------------------------------------------------------------------------------------------ preview
def test_preview_grid(sbi_pairs) -> None:
    grid = render_grid(sbi_pairs[:3], tile=64)
    assert grid.dtype == np.uint8 and grid.shape == (22 + 3 * 64, len(COLUMNS) * 64, 3)
    with pytest.raises(ValueError):
        render_grid([])
