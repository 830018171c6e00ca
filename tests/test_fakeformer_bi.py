"""FakeFormer's BI path (official ``datasets/fakesformer_bi.py``) and single-image BI items (both families)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from laanet.synthesis.augment import frame
from laanet.synthesis.bi import BIConfig, PartnerIndex, PoolFace
from laanet.synthesis.fakeformer_bi import FakeFormerBIConfig, FakeFormerBISynthesizer
from laanet.synthesis.pipeline import resize

NAMES = ("astronaut", "grace_hopper", "obama_portrait")


@pytest.fixture(scope="module")
def faces(sample_face_crops) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return sample_face_crops


@pytest.fixture(scope="module")
def big_pool(faces) -> PartnerIndex:
    """40 pool faces of 40 identities: the three photos with their landmarks jittered by 0-4 px (so that the
    30-nearest ranking is not trivial)."""
    rng = np.random.default_rng(5)
    pool = []
    for i in range(40):
        image, lm = faces[NAMES[i % 3]]
        pool.append(PoolFace(image, lm + rng.normal(0, 0.1 * (i % 10 + 1), lm.shape).astype(np.float32), f"id{i}"))
    return PartnerIndex(pool)


def _synth(pool: PartnerIndex, **bi) -> FakeFormerBISynthesizer:
    return FakeFormerBISynthesizer(pool, FakeFormerBIConfig(bi=BIConfig(input_size=224, **bi)))  # 21 of 30: its default


def test_partner_is_drawn_among_the_21_nearest_of_30(faces, big_pool) -> None:
    image, lm = faces["astronaut"]
    synth = _synth(big_pool, train=False)
    nearest = big_pool.neighbours(lm, identity="me", k=30)
    assert list(synth.partners(lm, "me")) == list(nearest[:21])
    drawn = {synth(image, lm, np.random.default_rng([7, i]), identity="me").info["partner"] for i in range(60)}
    assert drawn <= set(nearest[:21].tolist()) and len(drawn) >= 12  # 21 choices, 60 draws


def test_bi_images_are_framed_from_a_randomly_placed_257_box_of_the_317_face(faces, big_pool) -> None:
    """Validation (no colour, no geometry), no down-sampling: the real image is exactly the corner-aligned framing of
    rows/cols [30 + s, 287 + s) of the face resized to 317 px, for every drawn s."""
    image, lm = faces["grace_hopper"]
    synth = _synth(big_pool, train=False, downsample_p=0.0)
    shifts = set()
    for i in range(12):
        item = synth.single(image, lm, np.random.default_rng([9, i]), fake=False, identity="me")
        s = item.info["box_shift"]
        shifts.add(s)
        box = resize(image, 317, 317)[30 + s: 287 + s, 30 + s: 287 + s]
        np.testing.assert_array_equal(item.image, frame(box, 224, reference=(257, 257), pixel_aligned=False))
        assert item.label == 0 and not item.targets.heatmap.any() and not item.boundary.any()
    assert len(shifts) >= 6 and all(-30 <= s <= 29 for s in shifts)


def test_bi_fakes_have_token_grid_targets_and_single_fakes_are_the_pairs_fake_half(faces, big_pool) -> None:
    image, lm = faces["obama_portrait"]
    synth = _synth(big_pool)  # training: colour, geometry, down-sampling
    for i in range(4):
        pair = synth(image, lm, np.random.default_rng([11, i]), identity="me")
        assert pair.real.shape == pair.fake.shape == (224, 224, 3) and pair.boundary.shape == (14, 14)
        assert pair.fake_targets.heatmap.shape == (1, 14, 14) and pair.fake_targets.heatmap.max() == 1.0
        assert pair.info["family"] == "fakeformer" and pair.info["partner_identity"] != "me"
        assert 128 <= pair.info["blend_size"][0] <= 317  # the official 128-317 px blend sizes of a 317-px face
        # the targets are the version-0 encoder of the token-grid boundary: peaks exactly at its global maxima
        peaks = np.argwhere(pair.boundary == pair.boundary.max())
        assert all(pair.fake_targets.heatmap[0, r, c] == 1.0 for r, c in peaks)
        single = synth.single(image, lm, np.random.default_rng([11, i]), fake=True, identity="me")
        np.testing.assert_array_equal(single.image, pair.fake)
        np.testing.assert_array_equal(single.targets.heatmap, pair.fake_targets.heatmap)
        assert single.label == 1 and single.to_arrays()["image"].shape == (1, 3, 224, 224)


def test_a_real_bi_image_is_not_resampled_through_a_blend_size(faces, big_pool) -> None:
    """The official real item never goes through the blend: its real image is sharper than the pair's real half,
    which was resized to a random 128-317 px blend size and back."""
    image, lm = faces["astronaut"]
    synth = _synth(big_pool, train=False, downsample_p=0.0)

    def detail(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x.astype(np.float64), axis=1)).mean())

    single, paired = [], []
    for i in range(8):
        rng = [13, i]
        single.append(detail(synth.single(image, lm, np.random.default_rng(rng), fake=False).image))
        pair = synth(image, lm, np.random.default_rng(rng), identity="me")
        paired.append(detail(pair.real) if pair.info["blend_size"][0] < 300 else np.nan)
    assert np.nanmean(paired) < np.mean(single)


def test_single_image_items_in_the_dataset(train_prep: Path) -> None:
    """data.bi_single_images: one image per item, real or fake per item, targets of the model's grid, collated in
    item order; with both families; SBI refuses the option."""
    from laanet.config import load_config
    from laanet.models.family import build_model
    from laanet.training.dataset import build_datasets, collate_pairs

    tiny_ff = ["model.input_size=32", "model.pretrained=false", "data.frames_per_video=8", "data.workers=0",
               "data.method=bi", "data.bi_single_images=true"]
    for preset, extra, grid, size in (("fakeformer-vit-s8-sbi", tiny_ff, 4, 32),
                                      ("cpu-tiny", ["data.method=bi", "data.bi_single_images=true",
                                                    "data.frames_per_video=8"], 32, 128)):
        cfg = load_config(preset, extra)
        model = build_model(cfg.model)
        train_set, _ = build_datasets(train_prep, cfg, heatmap_size=model.heatmap_size, preprocess=model.preprocess)
        items = [train_set[i] for i in range(len(train_set))]
        labels = [int(it["label"].item()) for it in items]
        assert set(labels) == {0, 1}, labels  # 16 items, p 0.5 each
        for it in items:
            assert it["image"].shape == (1, 3, size, size) and it["heatmap"].shape == (1, 1, grid, grid)
            assert (it["heatmap"].max() == 1.0) == bool(it["label"].item())
        again = train_set[3]
        assert torch.equal(again["image"], items[3]["image"]) and torch.equal(again["label"], items[3]["label"])
        batch = collate_pairs(items[:5])
        assert batch["image"].shape == (5, 3, size, size) and batch["label"].tolist() == [float(y) for y in labels[:5]]
        assert batch["index"].tolist() == [0, 1, 2, 3, 4]
        train_set.set_epoch(1)  # a new draw of labels and fakes every epoch
        assert [int(train_set[i]["label"].item()) for i in range(len(train_set))] != labels
    with pytest.raises(ValueError, match="bi_single_images"):
        build_datasets(train_prep, load_config("cpu-tiny", ["data.bi_single_images=true"]))


def test_fakeswin_s_bi_preset_follows_swin_bi_small() -> None:
    from laanet.config import load_config
    from laanet.models.family import build_model
    from laanet.training.schedule import lr_at

    cfg = load_config("fakeswin-s-bi")
    assert (cfg.model.arch, cfg.model.input_size, cfg.model.deconv_channels) == ("swin_s", 224, 768)
    assert (cfg.data.method, cfg.data.bi_single_images, cfg.data.frames_per_video, cfg.data.redraw_frames) == ("bi", True, 16, True)
    tc = cfg.train
    assert (tc.lr, tc.booster, tc.start_decay, tc.epochs, tc.optimizer) == (1e-7, 250.0, 4, 200, "adam")
    assert (tc.hm_weight, tc.heatmap_loss, tc.focal_eps, tc.best_by, tc.dtype) == (10.0, "focal", 0.1, "acc", "float64")
    assert lr_at(50, base_lr=tc.lr, booster=tc.booster, epochs=tc.epochs, start_decay=tc.start_decay) == pytest.approx(2.5e-5)
    assert cfg.model.pretrained  # ImageNet-22k Swin-S from timm, or model.pretrained_path=FILE
    model = build_model(load_config("fakeswin-s-bi", ["model.pretrained=false"]).model)  # no download in tests
    # the official Swin-S BI model has 63,594,956 parameters, 1,344 of them in the unused norm0..2 that timm lacks
    assert sum(p.numel() for p in model.parameters()) == 63_594_956 - 1_344
    assert model.heatmap_size == 14
    paper_bi = load_config("paper-bi")
    assert paper_bi.data.bi_single_images and paper_bi.train.batch_size == 16  # the official LAA-Net BI batch
