"""Official quirks the paper presets reproduce: uint8 truncation of blend and boundary, SBI framing order."""
from __future__ import annotations

from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest

from laanet.config import load_config
from laanet.synthesis.augment import corner_affine, frame, frame_affine
from laanet.synthesis.pipeline import boundary_map, finish_pair, to_uint8
from laanet.synthesis.sbi import SBIConfig, SBISynthesizer


# ------------------------------------------------------------------------------------------------ truncation
def test_to_uint8_truncates_or_rounds() -> None:
    values = np.array([-3.0, 0.4, 0.6, 1.5, 254.99, 255.0, 300.0])
    assert to_uint8(values).tolist() == [0, 0, 0, 1, 254, 255, 255]
    assert to_uint8(values, "round").tolist() == [0, 0, 1, 2, 255, 255, 255]
    with pytest.raises(ValueError):
        to_uint8(values, "ceil")  # type: ignore[arg-type]


def test_boundary_map_truncates() -> None:
    # 255 · 4M(1 − M) = 254.6 at M = 0.5 ± 0.0198: truncation gives 254, rounding 255.
    m = np.array([[0.0, 0.25, 0.5 - 0.0198, 0.5, 0.5 + 0.0198, 1.0]], np.float32)
    assert boundary_map(m).tolist() == [[0, 191, 254, 255, 254, 0]]
    assert boundary_map(m, "round").tolist() == [[0, 191, 255, 255, 255, 0]]
    # Over a smooth ramp, truncation leaves a wider band of pixels one level below the peak.
    ramp = np.linspace(0, 1, 2001, dtype=np.float32)[None]
    trunc, rnd = boundary_map(ramp), boundary_map(ramp, "round")
    assert (trunc <= rnd).all() and (rnd - trunc).max() == 1
    assert (trunc == 254).sum() > 1.3 * (rnd == 255).sum()  # a band √2 wider about M = 0.5


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """A synthetic 128-px 'face': textured image and an ellipse of 68 landmarks (no detector needed)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:128, :128]
    image = np.stack([xx * 2, yy * 2, (xx + yy) % 256], axis=-1).astype(np.uint8)
    image = cv2.GaussianBlur((image + rng.integers(0, 30, image.shape)).clip(0, 255).astype(np.uint8), (5, 5), 0)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    landmarks = np.stack([64 + 36 * np.cos(angles), 66 + 44 * np.sin(angles)], axis=1).astype(np.float32)
    return image, landmarks


def test_sbi_blend_and_boundary_follow_quantize(face) -> None:
    """Same draws, two casts: truncation is never above rounding and is one level below it about half the time."""
    image, lm = face
    pairs = {}
    for quantize in ("truncate", "round"):
        synth = SBISynthesizer(SBIConfig(input_size=64, train=False, pair_colour=False, quantize=quantize))
        pairs[quantize] = synth(image, lm, np.random.default_rng(7))
    trunc, rnd = pairs["truncate"], pairs["round"]
    assert trunc.info == rnd.info
    np.testing.assert_array_equal(trunc.real, rnd.real)
    diff = rnd.fake.astype(int) - trunc.fake.astype(int)
    assert diff.min() >= 0 and diff.max() <= 1
    blended = trunc.fake != trunc.real
    assert 0.2 < diff[blended].mean() < 0.8  # the fraction of blended pixels rounded up
    assert (trunc.boundary.astype(int) <= rnd.boundary).all() and (trunc.boundary != rnd.boundary).any()


def test_paper_presets_use_official_casts_and_framing(tmp_path) -> None:
    from laanet.training.dataset import _build_synthesizer

    for preset in ("paper-sbi", "paper-bi"):
        cfg = load_config(preset)
        assert cfg.data.quantize == "truncate" and cfg.data.sbi_frame_before_geometry
        assert not cfg.data.pixel_aligned_framing
    cfg = load_config("paper-sbi")
    synth = _build_synthesizer("sbi", cfg, train=True, prep_dir=tmp_path, donors=[])
    assert synth.config.quantize == "truncate" and synth.config.frame_before_geometry
    assert not synth.config.pixel_aligned_framing
    options = ["data.quantize=round", "data.sbi_frame_before_geometry=false", "data.pixel_aligned_framing=true"]
    cfg = load_config("paper-sbi", options)
    synth = _build_synthesizer("sbi", cfg, train=True, prep_dir=tmp_path, donors=[])
    assert synth.config.quantize == "round" and not synth.config.frame_before_geometry
    assert synth.config.pixel_aligned_framing
    with pytest.raises(ValueError):
        SBIConfig(quantize="floor")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ framing order
def _gradient(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack([xx, yy, 255 - xx], axis=-1).clip(1, 255).astype(np.uint8)  # no black pixel anywhere


def _finish(image: np.ndarray, geometry: A.Compose | None, before: bool, pixel_aligned: bool = True):
    mask = np.zeros(image.shape[:2], np.float32)
    mask[64:192, 80:176] = 0.5  # boundary 255 inside a box
    return finish_pair(
        image,
        image.copy(),
        mask,
        np.random.default_rng(0),
        margin=0,
        input_size=256,
        geometry=geometry,
        colour=None,
        frame_before_geometry=before,
        pixel_aligned=pixel_aligned,  # the crop/scale tests below compare pixels at scale 1
    )


def _pair_geometry(transform: A.BasicTransform) -> A.Compose:
    return A.Compose([transform], additional_targets={"fake": "image", "boundary": "mask", "soft": "mask"})


def test_crop_before_framing_is_a_shift_with_black_borders() -> None:
    image = _gradient(256)
    crop = _pair_geometry(A.Crop(x_min=10, y_min=20, x_max=210, y_max=240, p=1.0))  # 200 × 220
    official = _finish(image, crop, before=True)
    # Affine of the 256-px image (identity): the crop is pasted at the top-left, black right/bottom borders.
    np.testing.assert_array_equal(official.real[:220, :200], image[20:240, 10:210])
    assert not official.real[220:].any() and not official.real[:, 200:].any()
    assert not official.boundary[55:].any() and not official.boundary[:, 50:].any()
    assert official.boundary[20, 20] == 255  # box (64-192, 80-176) moved by (-20, -10), at /4
    # laanet's order fits the 200 × 220 crop into the input: centred letterbox, no bottom border.
    fitted = _finish(image, crop, before=False)
    assert fitted.real[250:, 20:230].all() and not fitted.real[:, :8].any() and not fitted.real[:, -8:].any()


def test_scale_before_framing_is_a_zoom() -> None:
    image = _gradient(256)
    zoom = _pair_geometry(A.RandomScale(scale_limit=(0.15, 0.15), interpolation=cv2.INTER_LINEAR, p=1.0))
    official = _finish(image, zoom, before=True)
    scaled = cv2.resize(image, (294, 294), interpolation=cv2.INTER_LINEAR)
    assert np.abs(official.real.astype(int) - scaled[:256, :256]).mean() < 1  # zoomed, right/bottom cut off
    assert np.abs(official.real.astype(int) - image).mean() > 10
    fitted = _finish(image, zoom, before=False)
    assert np.abs(fitted.real.astype(int) - image).mean() < 2  # laanet's order: the scale changes nothing


def test_frame_reference_size() -> None:
    small = _gradient(100)
    np.testing.assert_array_equal(frame(small, 100), small)
    out = frame(small[:50, :80], 100, reference=(100, 100))
    np.testing.assert_array_equal(out[:50, :80], small[:50, :80])
    assert not out[50:].any() and not out[:, 80:].any()


def test_official_framing_is_corner_to_corner() -> None:
    """Official ``get_affine_transform``: scale (out − 1)/(W − 1), zero offset (W = 226 → 384: 1.70222, 0)."""
    np.testing.assert_allclose(corner_affine(226, 226, 384), [[383 / 225, 0, 0], [0, 383 / 225, 0]], atol=1e-12)
    assert abs(corner_affine(226, 226, 384)[0, 0] - 1.70222) < 1e-5
    np.testing.assert_allclose(corner_affine(238, 238, 14), [[13 / 237, 0, 0], [0, 13 / 237, 0]], atol=1e-12)
    np.testing.assert_allclose(corner_affine(246, 246, 96), frame_affine(246, 246, 96), atol=0)  # the default
    np.testing.assert_allclose(corner_affine(40, 60, 20, 10), [[9 / 59, 0, 19 / 2 - 9 / 59 * 19.5], [0, 9 / 59, 0]])
    with pytest.raises(ValueError):
        corner_affine(1, 100, 14)
    # Against the 384-px image, the 96-px targets (pixel h ↔ image pixel 4h + 1.5) are in place at the centre
    # and 1.5 input pixels off at the edges, in opposite directions.
    image_m, target_m = frame_affine(246, 246, 384), frame_affine(246, 246, 96)
    offset = lambda x: 4 * (target_m @ [x, x, 1])[0] + 1.5 - (image_m @ [x, x, 1])[0]  # noqa: E731
    np.testing.assert_allclose([offset(0), offset(122.5), offset(245)], [1.5, 0.0, -1.5], atol=1e-12)
    # laanet's option: targets exactly on the image everywhere
    image_a, target_a = frame_affine(246, 246, 384, pixel_aligned=True), frame_affine(246, 246, 96, pixel_aligned=True)
    for x in (0.0, 30.0, 200.0):
        np.testing.assert_allclose(4 * (target_a @ [x, x, 1]) + 1.5, image_a @ [x, x, 1], atol=1e-12)
    # finish_pair frames with the official affine unless asked
    image = _gradient(256)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[64:192, 80:176] = 0.5
    official = _finish(image, None, before=True, pixel_aligned=False)
    expected = cv2.warpAffine(boundary_map(mask), corner_affine(256, 256, 64), (64, 64), flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(official.boundary, expected)
    np.testing.assert_array_equal(official.real, cv2.warpAffine(image, corner_affine(256, 256, 256), (256, 256)))


FAKEFORMER_TARGETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "fakeformer" / "targets.pt"


def _bilinear_sample(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Exact (float64) bilinear point sample of ``image`` at the inverse of ``matrix`` on a ``size²`` grid, zero outside."""
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    padded = np.pad(image.astype(np.float64), 1)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    at = lambda y, x: padded[np.clip(y + 1, 0, padded.shape[0] - 1), np.clip(x + 1, 0, padded.shape[1] - 1)]  # noqa: E731
    return (at(y0, x0) * (1 - fx) * (1 - fy) + at(y0, x0 + 1) * fx * (1 - fy)
            + at(y0 + 1, x0) * (1 - fx) * fy + at(y0 + 1, x0 + 1) * fx * fy)


def test_corner_affine_matches_the_official_warp() -> None:
    """Official FakeFormer fixture: each S×S boundary map warped onto 14×14 by the official code.

    The bilinear point samples at ``corner_affine(S, S, 14)``, rounded, equal the official maps exactly; OpenCV
    4.11's fixed-point ``warpAffine`` of the same matrix is within one level. The former out/S mapping is not.
    """
    if not FAKEFORMER_TARGETS.is_file():
        pytest.skip(f"fixture not found: {FAKEFORMER_TARGETS}")
    import torch

    data = torch.load(FAKEFORMER_TARGETS, weights_only=True)
    former_mismatch = 0
    for boundary, target in zip(data["boundary_uint8"], data["target14_uint8"]):
        boundary, target = boundary.numpy(), target.numpy().astype(int)
        size = boundary.shape[0]
        exact = np.round(_bilinear_sample(boundary, corner_affine(size, size, 14), 14)).astype(int)
        np.testing.assert_array_equal(exact, target)
        assert np.abs(frame(boundary, 14).astype(int) - target).max() <= 1
        k = 14 / size  # the former mapping: scale out/S, centre to out/2
        former = np.array([[k, 0, 7 - k * (size - 1) / 2], [0, k, 7 - k * (size - 1) / 2]])
        former_mismatch += not np.array_equal(np.round(_bilinear_sample(boundary, former, 14)).astype(int), target)
    assert former_mismatch >= 8  # of 10 fakes (2 reals are all zero)


def test_sbi_and_bi_pass_the_framing_options(face) -> None:
    image, lm = face
    boundaries = []
    for aligned in (False, True):
        synth = SBISynthesizer(SBIConfig(input_size=64, train=False, pair_colour=False, pixel_aligned_framing=aligned))
        boundaries.append(synth(image, lm, np.random.default_rng(5)).boundary)
    assert not np.array_equal(*boundaries)


# ------------------------------------------------------------------------------------------------ low-impact quirks
def _leaf(pipeline, kind):
    from albumentations.core.composition import BaseCompose

    stack = [pipeline]
    while stack:
        t = stack.pop()
        if isinstance(t, BaseCompose):
            stack.extend(t.transforms)
        elif isinstance(t, kind):
            return t
    raise LookupError(kind)


def test_random_scale_resamples_masks_nearest() -> None:
    """Official RandomScale (albumentations 1.1 ``apply_to_mask``): nearest, so the boundary keeps its levels."""
    from laanet.synthesis.augment import GeometryConfig, build_geometry

    yy, xx = np.mgrid[:64, :64]
    boundary = ((np.abs(np.hypot(yy - 30, xx - 36) - 18) < 2) * 255).astype(np.uint8)
    levels = set(np.unique(boundary))
    for linear in (False, True):
        scale = _leaf(build_geometry(GeometryConfig(scale_mask_linear=linear)), A.RandomScale)
        new_levels = set()
        for seed in range(10):
            scale.set_random_seed(seed)
            out = scale(image=np.zeros((64, 64, 3), np.uint8), mask=boundary)["mask"]
            new_levels |= set(np.unique(out)) - levels
        assert bool(new_levels) == linear


def test_paper_presets_pass_the_geometry_options(tmp_path) -> None:
    from laanet.training.dataset import _build_synthesizer

    for options, nearest, reference in (([], True, True), (["data.scale_mask_linear=true", "data.erase_relative_to_image=true"], False, False)):
        synth = _build_synthesizer("sbi", load_config("paper-sbi", options), train=True, prep_dir=tmp_path, donors=[])
        scale = _leaf(synth._geometry, A.RandomScale)
        assert (scale.mask_interpolation == cv2.INTER_NEAREST) == nearest
        from laanet.synthesis.augment import ReferenceErasing

        assert isinstance(_leaf(synth._geometry, (ReferenceErasing, A.Erasing)), ReferenceErasing) == reference
    cfg = load_config("paper-sbi")
    assert not cfg.data.scale_mask_linear and not cfg.data.erase_relative_to_image and not cfg.data.exact_landmark_flip


def _erased_fractions(erasing, side: int, crop_side: int, n: int = 400) -> np.ndarray:
    image = np.full((side, side, 3), 255, np.uint8)
    mask = np.full((side, side), 255, np.uint8)
    fractions = []
    for seed in range(n):
        erasing.set_random_seed(seed)
        out = erasing(image=image, mask=mask, crop_side=crop_side)
        assert np.array_equal(out["image"][..., 0] == 0, out["mask"] == 0)  # masks erased alike
        fractions.append((out["image"][..., 0] == 0).mean())
    return np.array(fractions)


def test_erasing_box_is_relative_to_a_257_px_reference() -> None:
    """Official RandomErasing: 2-33 % of a fixed 257² square, top-left anywhere in it, clipped to the image.

    On a 128-px image (of a 256-px crop) the box often covers much of the image or misses it entirely; an
    erasing box relative to the image (albumentations Erasing) is 2-33 % of it and always inside.
    """
    from laanet.synthesis.augment import GeometryConfig, build_geometry

    official = _erased_fractions(_leaf(build_geometry(), (A.Erasing,) + _reference_erasing()), 128, 256)
    assert official.max() > 0.6  # up to 33 % of 257², i.e. most of a 128-px image
    assert (official == 0).mean() > 0.2  # box drawn wholly off the image (measured 31 %)
    relative = _erased_fractions(_leaf(build_geometry(GeometryConfig(erase_reference=None)), A.Erasing), 128, 256)
    assert relative.max() < 0.34 and relative.min() > 0.01
    # At the official size (256-px crop, margin 15 → 226 px): 20 % of the image on average (measured 20.4 %;
    # relative to the image: 15.6 %), up to 43 %.
    at_size = _erased_fractions(_leaf(build_geometry(), (A.Erasing,) + _reference_erasing()), 226, 256)
    assert 0.18 < at_size.mean() < 0.23 and at_size.max() > 0.34


def _reference_erasing() -> tuple:
    try:
        from laanet.synthesis.augment import ReferenceErasing
    except ImportError:
        return ()
    return (ReferenceErasing,)


def test_finish_pair_passes_the_crop_side() -> None:
    from laanet.synthesis.augment import ReferenceErasing

    seen = []

    class Recording(ReferenceErasing):
        def get_params_dependent_on_data(self, params, data):
            seen.append((data.get("crop_side"), params["shape"][:2]))
            return super().get_params_dependent_on_data(params, data)

    image = _gradient(160)
    finish_pair(image, image.copy(), np.zeros((160, 160), np.float32), np.random.default_rng(0), margin=12,
                input_size=64, geometry=_pair_geometry(Recording(p=1.0)), colour=None)
    assert seen == [(160, (136, 136))]


def test_sbi_landmark_flip_is_official(face, monkeypatch) -> None:
    """Official SBI flips landmarks x → W − x; ``exact_landmark_flip`` gives the exact mirror W − 1 − x."""
    from laanet.faces.landmarks import IBUG68_MIRROR, flip_landmarks
    from laanet.synthesis import sbi as sbi_module

    image, lm = face
    width = image.shape[1]
    np.testing.assert_allclose(flip_landmarks(lm, width)[:, 0], width - 1 - lm[list(IBUG68_MIRROR), 0])
    np.testing.assert_allclose(flip_landmarks(lm, width, pixel_centres=False)[:, 0], width - lm[list(IBUG68_MIRROR), 0])
    seen = []
    original = sbi_module.hull_mask
    monkeypatch.setattr(sbi_module, "hull_mask", lambda points, *a, **k: seen.append(np.array(points)) or original(points, *a, **k))
    for exact, offset in ((False, 0), (True, 1)):
        seen.clear()
        config = SBIConfig(input_size=64, flip_p=1.0, subset68_p=0.0, pair_colour=False, exact_landmark_flip=exact)
        SBISynthesizer(config)(image, lm, np.random.default_rng(2))
        np.testing.assert_allclose(seen[0], np.stack([width - offset - lm[list(IBUG68_MIRROR), 0], lm[list(IBUG68_MIRROR), 1]], 1), atol=1e-4)
    assert not load_config("paper-sbi").data.exact_landmark_flip


def test_bi_colour_transfer_and_blend_truncate(face) -> None:
    """Official BI truncates the colour transfer and the blend into uint8; ``quantize="round"`` rounds the blend."""
    from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex, PoolFace, colour_transfer, feathered_blend

    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (64, 64, 3)).astype(np.float32) + 0.5
    bg = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 12:52] = 1
    transferred = colour_transfer(fg, bg, mask)
    assert transferred.dtype == np.float32
    np.testing.assert_array_equal(colour_transfer(fg, bg, mask, "truncate"), transferred.astype(np.uint8))
    trunc, alpha = feathered_blend(transferred, bg, mask, 0.2, "truncate")
    rnd, _ = feathered_blend(transferred, bg, mask, 0.2, "round")
    exact = alpha[..., None] * transferred + (1 - alpha[..., None]) * bg
    np.testing.assert_array_equal(trunc, np.clip(exact, 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(rnd, np.clip(np.round(exact), 0, 255).astype(np.uint8))
    # Through the synthesizer (same draws): the official casts lose about one level where the blend acts.
    image, lm = face
    other = np.ascontiguousarray(image[:, ::-1])
    pool = PartnerIndex([PoolFace(other, lm, "b"), PoolFace(image, lm + 0.5, "c")])
    pairs = {q: BISynthesizer(pool, BIConfig(input_size=64, train=False, quantize=q))(image, lm, np.random.default_rng(4), identity="a")
             for q in ("truncate", "round")}
    assert pairs["truncate"].info == pairs["round"].info
    diff = pairs["round"].fake.astype(int) - pairs["truncate"].fake.astype(int)
    assert 0.3 < diff[pairs["round"].fake != pairs["round"].real].mean() < 1.5
