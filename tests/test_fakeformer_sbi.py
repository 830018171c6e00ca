"""FakeFormer's SBI pairs: FakeFormer's geometry order, token-grid targets, the model's grid size."""
from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from laanet.synthesis.augment import GeometryConfig, RandomFractionCrop
from laanet.synthesis.fakeformer_sbi import FakeFormerSBIConfig, FakeFormerSBISynthesizer, build_fakeformer_geometry
from laanet.synthesis.patch_targets import encode_patch_heatmap, patch_map
from laanet.synthesis.pipeline import boundary_map
from laanet.synthesis.sbi import SBIConfig

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"


@pytest.fixture(scope="module")
def face(dlib_analyzer) -> tuple[np.ndarray, np.ndarray]:
    from laanet.faces import crop_face
    from laanet.media import read_image

    image = read_image(SAMPLES / "obama_portrait.jpg")
    crop = crop_face(image, dlib_analyzer.detect(image)[0])
    return crop.image, crop.landmarks


def test_geometry_is_one_of_crop_scale_then_flip_without_erasing() -> None:
    geometry = build_fakeformer_geometry()
    one_of, flip = geometry.transforms
    assert isinstance(one_of, A.OneOf) and isinstance(flip, A.HorizontalFlip)  # LAA-Net: flip first
    assert [type(t) for t in one_of.transforms] == [RandomFractionCrop, A.RandomScale]  # no Erasing
    assert one_of.p == 0.5 and flip.p == 0.5


def test_crop_then_flip_keeps_a_crop_of_the_mirror() -> None:
    """Crop first, then mirror: the result is the mirrored crop window (a window of the *mirrored* image)."""
    image = np.tile(np.arange(100, dtype=np.uint8)[None, :, None], (100, 1, 3))  # column index as value
    geometry = build_fakeformer_geometry(GeometryConfig(hflip_p=1.0, one_of_p=1.0, scale_limit=0.0))
    from laanet.synthesis.augment import run_seeded

    rng = np.random.default_rng(5)
    for _ in range(20):
        out = run_seeded(geometry, rng, image=image, fake=image, boundary=image[..., 0], soft=image[..., 0].astype(np.float32))
        row = out["image"][0, :, 0].astype(int)
        assert (np.diff(row) == -1).all()  # mirrored: values decrease along the row
        np.testing.assert_array_equal(out["boundary"][0], out["image"][0, :, 0])  # maps follow the image


def test_pairs_have_token_grid_targets(face) -> None:
    image, landmarks = face
    synth = FakeFormerSBISynthesizer()
    for seed in range(4):
        pair = synth(image, landmarks, np.random.default_rng(seed))
        assert pair.real.shape == pair.fake.shape == (112, 112, 3) and pair.boundary.shape == (14, 14)
        heatmap = pair.fake_targets.heatmap
        assert heatmap.shape == (1, 14, 14) and heatmap.max() == 1.0
        np.testing.assert_array_equal(heatmap, encode_patch_heatmap(pair.boundary)[0])  # version 0, global maxima
        assert not pair.real_targets.heatmap.any() and not pair.fake_targets.consistency.any()
        assert (pair.fake != pair.real).any() and pair.info["family"] == "fakeformer"


def test_grid_size_comes_from_the_config_not_input_over_4(face) -> None:
    image, landmarks = face
    cfg = FakeFormerSBIConfig(sbi=SBIConfig(input_size=64), heatmap_size=7)  # 64 // 4 = 16, the model says 7
    pair = FakeFormerSBISynthesizer(cfg)(image, landmarks, np.random.default_rng(0))
    assert pair.real.shape == (64, 64, 3) and pair.boundary.shape == (7, 7) and pair.fake_targets.heatmap.shape == (1, 7, 7)


def test_validation_pairs_use_no_flip_or_geometry_and_point_sample_the_boundary(face) -> None:
    """Val split: margin, blend, framing from the crop, colour; the 14×14 map is the exact corner sample of B."""
    image, landmarks = face
    synth = FakeFormerSBISynthesizer(FakeFormerSBIConfig(sbi=SBIConfig(input_size=112, train=False, pair_colour=False)))
    assert synth._geometry is None
    rng = np.random.default_rng(3)
    draw_rng = np.random.default_rng(3)
    pair = synth(image, landmarks, rng)
    draw = synth.draw(draw_rng, image.shape)
    real, fake, mask = synth.self_blend(image, synth_landmarks(landmarks), draw, draw_rng)
    m = draw.margin
    boundary = boundary_map(mask, dtype=np.float32)[m:-m, m:-m]
    assert not pair.info["flip"]
    np.testing.assert_array_equal(pair.boundary, patch_map(boundary, 14))


def synth_landmarks(landmarks: np.ndarray) -> np.ndarray:
    from laanet.synthesis.landmarks import check_landmarks, forehead_to_arc

    return forehead_to_arc(check_landmarks(landmarks, (256, 256, 3)), "arc")


def test_nonoverlap_option_draws_the_coarse_grid(face) -> None:
    image, landmarks = face
    pair = FakeFormerSBISynthesizer(FakeFormerSBIConfig(target_overlap=False))(image, landmarks, np.random.default_rng(1))
    assert pair.boundary.shape == (112, 112)  # sampled at input size, then 8×8 block means
    peaks = np.argwhere(pair.fake_targets.heatmap[0] == 1.0)
    assert len(peaks) and (peaks < 8).all()  # cells of the 8×8 grid drawn into 14×14: never beyond row/col 7
