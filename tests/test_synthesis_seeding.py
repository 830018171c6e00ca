"""Joint frequencies of the augmentation pipelines: every transform draws independently, as in the official code.

The official code (albumentations 1.1) draws every ``p`` and parameter from one global stream, so the ops of a
pipeline are independent of each other. These tests count, over many seeded calls on tiny images, which leaf
transforms ran, and compare joint frequencies with the products of the configured probabilities.
"""
from __future__ import annotations

from collections import Counter

import albumentations as A
import numpy as np
import pytest
from albumentations.core.composition import BaseCompose

from laanet.synthesis.augment import (
    build_background_colour,
    build_geometry,
    build_pair_colour,
    run_seeded,
    seed_transforms,
)
from laanet.synthesis.sbi import SBISynthesizer


def _leaves(transform):
    if isinstance(transform, BaseCompose):
        for child in transform.transforms:
            yield from _leaves(child)
    else:
        yield transform


def _record(pipeline: A.BaseCompose) -> list:
    """Make every leaf of ``pipeline`` append itself to the returned list when it is applied."""
    applied: list = []
    for leaf in _leaves(pipeline):
        original = leaf.apply_with_params

        def wrapped(params, *args, _leaf=leaf, _original=original, **kwargs):
            if not applied or applied[-1] is not _leaf:  # one entry per call, not per target
                applied.append(_leaf)
            return _original(params, *args, **kwargs)

        leaf.apply_with_params = wrapped
    return applied


def _runs(pipeline: A.BaseCompose, n: int, seed: int, **data) -> list[list]:
    """The leaves applied in each of ``n`` calls of ``pipeline`` seeded from one generator."""
    applied = _record(pipeline)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        applied.clear()
        run_seeded(pipeline, rng, **data)
        out.append(list(applied))
    return out


def _image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_pair_colour_ops_are_independent() -> None:
    """RGBShift, HSV, brightness/contrast (p 0.3 each) and JPEG (p 0.5): the number of ops is a binomial mix.

    Shared seeds gave 0 ops in 50 % of pairs and all 4 in 29 % (officially 17 % and 1.4 %).
    """
    pipeline = build_pair_colour()
    n = 3000
    image = _image(8)
    runs = _runs(pipeline, n, seed=1, image=image, fake=image.copy())
    counts = Counter(len(r) for r in runs)
    colour = [0.343, 0.441, 0.189, 0.027]  # Binomial(3, 0.3)
    expected = [0.5 * colour[0]] + [0.5 * (colour[k] + colour[k - 1]) for k in (1, 2, 3)] + [0.5 * colour[3]]
    for k, p in enumerate(expected):  # .1715, .392, .315, .108, .0135
        assert abs(counts[k] / n - p) < 0.03, (k, counts, expected)
    names = [{type(t).__name__ for t in r} for r in runs]
    both = np.mean([{"RGBShift", "ImageCompression"} <= s for s in names])
    assert abs(both - 0.15) < 0.025  # P(RGBShift) · P(JPEG)


def test_geometry_flip_independent_of_the_one_of() -> None:
    """hflip (p 0.5) × OneOf(crop, scale, erase) (p 0.5): four cells of 25 %; shared seeds gave 49/0/0/51 %."""
    pipeline = build_geometry()
    n = 2000
    image = _image(32)
    data = dict(image=image, fake=image.copy(), boundary=image[..., 0].copy(), soft=image[..., 0].astype(np.float32))
    runs = _runs(pipeline, n, seed=2, **data)
    flips = [any(isinstance(t, A.HorizontalFlip) for t in r) for r in runs]
    joint = Counter((flip, len(r) - flip) for flip, r in zip(flips, runs))
    for cell in ((False, 0), (False, 1), (True, 0), (True, 1)):
        assert abs(joint[cell] / n - 0.25) < 0.035, joint
    chosen = Counter(type(t).__name__ for r in runs for t in r if not isinstance(t, A.HorizontalFlip))
    assert len(chosen) == 3 and {"RandomFractionCrop", "RandomScale"} < set(chosen)  # and the erasing
    for name in chosen:
        assert abs(chosen[name] / n - 1 / 6) < 0.03, chosen


def test_random_scale_zooms_in_and_out() -> None:
    """RandomScale in [0.85, 1.15]: shared seeds kept it below 1 (the OneOf's draw < 0.5 was reused)."""
    pipeline = build_geometry()
    scale = next(t for t in _leaves(pipeline) if isinstance(t, A.RandomScale))
    image = _image(32)
    data = dict(image=image, fake=image.copy(), boundary=image[..., 0].copy(), soft=image[..., 0].astype(np.float32))
    rng = np.random.default_rng(3)
    scales = []
    for _ in range(1500):
        scale.params = {}
        run_seeded(pipeline, rng, **data)
        if scale.params:
            scales.append(scale.params["scale"])
    scales = np.array(scales)
    assert len(scales) > 150
    assert 0.35 < (scales > 1).mean() < 0.65 and scales.min() < 0.88 and scales.max() > 1.12


def test_source_transform_downscale_factors() -> None:
    """SBI source transform: OneOf(OneOf(Downscale ×2, ×4), Sharpen); shared seeds never chose ×4."""
    pipeline = SBISynthesizer()._source_transform
    n = 2000
    runs = _runs(pipeline, n, seed=4, image=_image(16))
    kinds = Counter()
    for r in runs:
        last = r[-1]
        kinds["x4" if isinstance(last, A.Downscale) and last.scale_range[0] == 0.25 else
              "x2" if isinstance(last, A.Downscale) else type(last).__name__] += 1
        assert sum(isinstance(t, (A.HueSaturationValue, A.RandomBrightnessContrast)) for t in r) == 2  # p 1
    assert abs(kinds["x2"] / n - 0.25) < 0.035 and abs(kinds["x4"] / n - 0.25) < 0.035, kinds
    assert abs(kinds["Sharpen"] / n - 0.5) < 0.04, kinds
    rgb = np.array([isinstance(r[0], A.RGBShift) for r in runs])
    sharpen = np.array([isinstance(r[-1], A.Sharpen) for r in runs])
    assert abs(rgb.mean() - 0.3) < 0.03
    assert abs(rgb[sharpen].mean() - rgb[~sharpen].mean()) < 0.06  # independent of the OneOf


def test_bi_background_colour_ops() -> None:
    """BI background colour: six independent ops (p .3 .5 .3 .5 .5 .5); none in 3 % (shared seeds: 47 %)."""
    pipeline = build_background_colour()
    n = 2000
    runs = _runs(pipeline, n, seed=5, image=_image(16))
    counts = np.array([len(r) for r in runs])
    assert 0.015 < (counts == 0).mean() < 0.05
    assert abs(counts.mean() - 2.6) < 0.1
    assert set(np.unique(counts)) == set(range(7))  # shared seeds gave 0, 4 or 6 only


def test_seeds_are_distinct_and_reproducible() -> None:
    pipeline = build_geometry()
    image = _image(32)
    data = dict(image=image, fake=image.copy(), boundary=image[..., 0].copy(), soft=image[..., 0].astype(np.float32))
    run_seeded(pipeline, np.random.default_rng(0), **data)
    seeds = [pipeline.seed, *(t.seed for t in _leaves(pipeline)), pipeline.transforms[1].seed]
    assert len(set(seeds)) == len(seeds)
    for seed in range(5):
        a = run_seeded(pipeline, np.random.default_rng(seed), **data)
        b = run_seeded(pipeline, np.random.default_rng(seed), **data)
        for key in data:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("builder", [build_pair_colour, build_background_colour])
def test_every_leaf_gets_its_own_seed(builder) -> None:
    pipeline = builder()
    seed_transforms(pipeline, np.random.default_rng(1))
    seeds = [t.seed for t in _leaves(pipeline)]
    assert len(set(seeds)) == len(seeds)
    run_seeded(pipeline, np.random.default_rng(1), image=_image(8))  # run_seeded seeds the same way
    assert [t.seed for t in _leaves(pipeline)] == seeds
