"""Exact resume: a run killed mid-epoch and resumed from its periodic checkpoint continues the loss curve of an
uninterrupted run bit for bit; frame re-sampling per epoch; validation split from held-out real videos."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import laanet.training.engine as engine_module
from conftest import prepare_samples
from laanet.config import load_config
from laanet.data.index import read_index
from laanet.training.dataset import build_datasets, collate_pairs, split_videos
from laanet.training.loop import train

PHOTOS = ("astronaut.jpg", "grace_hopper.jpg", "obama_portrait.jpg")


@pytest.fixture(scope="module")
def prep(tmp_path_factory) -> Path:
    return prepare_samples(tmp_path_factory, PHOTOS, crop_size=96)


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny tensors: one intra-op thread is as fast and does not stall when the CI machine is busy.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(**train):
    # 3 one-frame videos: 2 train (2 frames each, with repeats) + 1 held out -> 4 steps of 1 pair per epoch
    overrides = ["model.input_size=64", "data.frames_per_video=2", "data.val_frames_per_video=2", "data.val_fraction=0.3",
                 "train.batch_size=1", "train.epochs=2", "train.freeze_backbone_epochs=1", "train.log_every=100"]
    return load_config("cpu-tiny", overrides + [f"train.{k}={v}" for k, v in train.items()])


def _cfg_data(**data):
    return load_config("cpu-tiny", ["model.input_size=64", "data.frames_per_video=2", "data.val_frames_per_video=2",
                                    "data.val_fraction=0.3"] + [f"data.{k}={v}" for k, v in data.items()])


def test_dataset_split_pairs_and_resampling(prep):
    cfg = _cfg()
    train_videos, val_videos = split_videos(read_index(prep), val_fraction=0.3, seed=cfg.train.seed)
    assert len(train_videos) == 2 and len(val_videos) == 1 and not set(train_videos) & set(val_videos)
    train_set, val_set = build_datasets(prep, cfg)
    assert len(train_set) == 4 and len(val_set) == 2
    batch = collate_pairs([train_set[0], train_set[1]])
    assert batch["image"].shape == (4, 3, 64, 64) and batch["heatmap"].shape == (4, 1, 16, 16)
    assert batch["label"].tolist() == [0, 0, 1, 1]  # reals first, then fakes
    assert batch["heatmap"][:2].abs().sum() == 0 and batch["heatmap"][2:].amax() == 1.0
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    again = train_set[0]
    assert torch.equal(again["image"], batch["image"][[0, 2]])  # an item depends only on (seed, epoch, index)
    train_set.set_epoch(1)
    assert not torch.equal(train_set[0]["image"], again["image"])  # new epoch, new pseudo-fake
    val_0 = val_set[0]["image"]
    val_set.set_epoch(5)
    assert not torch.equal(val_set[0]["image"], val_0)  # official: new validation pseudo-fakes every epoch
    val_set.set_epoch(0)
    assert torch.equal(val_set[0]["image"], val_0)  # ... a function of (seed, epoch, index)
    _, fixed = build_datasets(prep, _cfg_data(fixed_validation="true"))
    val_0 = fixed[0]["image"]
    fixed.set_epoch(5)
    assert torch.equal(fixed[0]["image"], val_0)  # data.fixed_validation: the same pairs every epoch


def test_killed_run_resumes_exactly(prep, tmp_path, monkeypatch):
    full = train(_cfg(), data_dir=prep, out_dir=tmp_path / "full", tensorboard=False)
    assert [r["step"] for r in full.history] == list(range(1, 9))
    assert (tmp_path / "full" / "best.pt").is_file() and (tmp_path / "full" / "summary.csv").is_file()

    # Second run: checkpoint every 2 steps, "killed" (an exception, no final save) during its 4th step.
    real_step, calls = engine_module.train_step, {"n": 0}

    def dying_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(engine_module, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(save_every=2), data_dir=prep, out_dir=tmp_path / "killed", tensorboard=False)
    monkeypatch.setattr(engine_module, "train_step", real_step)
    ckpt = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["epoch_step"], ckpt["step"]) == (0, 2, 2)

    with pytest.raises(FileExistsError):
        train(_cfg(), data_dir=prep, out_dir=tmp_path / "killed", tensorboard=False)
    resumed = train(_cfg(save_every=2), data_dir=prep, out_dir=tmp_path / "killed", resume=True, tensorboard=False)
    assert [r["step"] for r in resumed.history] == list(range(3, 9))
    for a, b in zip(full.history[2:], resumed.history):
        assert a == b, (a, b)  # every loss term and lr of every step, bit-identical
    assert full.epochs[-1]["val_auc"] == resumed.epochs[-1]["val_auc"]
    end_full = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["model"]
    end_resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(end_full[k], end_resumed[k]) for k in end_full)


def test_bi_pairs(prep):
    cfg = _cfg()
    cfg.data.method = "bi"  # partner faces from the other training videos (never the same video)
    train_set, val_set = build_datasets(prep, cfg)
    batch = collate_pairs([train_set[0], val_set[0]])
    assert batch["image"].shape == (4, 3, 64, 64)
    assert batch["label"].tolist() == [0, 0, 1, 1] and batch["heatmap"][2:].amax() == 1.0


def test_mix_draws_sbi_and_bi_per_item(prep):
    cfg = _cfg()
    cfg.data.method = "mix"
    train_set, _ = build_datasets(prep, cfg)
    assert set(train_set.synthesizers) == {"sbi", "bi"}
    calls: list[str] = []
    for name, synth in list(train_set.synthesizers.items()):
        train_set.synthesizers[name] = lambda *a, _s=synth, _n=name, **k: (calls.append(_n), _s(*a, **k))[1]
    seen = set()
    for epoch in range(6):  # 4 items per epoch; both methods appear (p 0.5 each, fixed seed)
        train_set.set_epoch(epoch)
        for i in range(len(train_set)):
            item = train_set[i]
            assert item["heatmap"][1].amax() == 1.0
        seen |= set(calls)
    assert seen == {"sbi", "bi"}
    first = list(calls)
    calls.clear()
    for epoch in range(6):
        train_set.set_epoch(epoch)
        for i in range(len(train_set)):
            train_set[i]
    assert calls == first  # the choice depends only on (seed, epoch, index)


def _videos(n_videos: int, n_frames: int):
    from collections import OrderedDict

    from laanet.data.index import IndexRecord

    return OrderedDict(
        (f"v{v}", [IndexRecord("folder", "train", 0, "real", f"v{v}", f, f"v{v}/{f}.png") for f in range(n_frames)])
        for v in range(n_videos)
    )


@pytest.mark.parametrize("redraw", [False, True])
def test_frames_drawn_once_or_every_epoch(redraw: bool):
    """Official SBI (default): the 8 frames of each video are drawn once for the run; redraw_frames: every epoch."""
    from laanet.training.dataset import PairDataset

    cfg = load_config("paper-sbi", ["model.pretrained=false"])
    assert cfg.data.frames_per_video == 8 and cfg.data.redraw_frames is False
    data = PairDataset("unused", _videos(3, 40), cfg, frames_per_video=8, train=True, seed=317, redraw_frames=redraw,
                       distinct_frames=True)
    first = [(r.video_id, r.frame) for r in data.items]
    assert len(first) == 24 and len(set(first)) == 24  # 8 distinct frames of each of the 3 videos
    changed = []
    for epoch in range(1, 4):
        data.set_epoch(epoch)
        assert data.epoch == epoch  # the synthesis/augmentation seeds follow the epoch either way
        changed.append([(r.video_id, r.frame) for r in data.items] != first)
    assert changed == ([True] * 3 if redraw else [False] * 3)
    val = PairDataset("unused", _videos(2, 40), cfg, frames_per_video=4, train=False, seed=317, redraw_frames=True)
    items = list(val.items)
    val.set_epoch(3)
    assert val.items == items and val.epoch == 3  # validation frames never change; its pseudo-fakes do


def test_float64_training_as_official(prep, tmp_path):
    """train.dtype=float64: parameters, inputs and losses in float64 (the official precision)."""
    result = train(_cfg(dtype="float64", max_steps=2, epochs=1), data_dir=prep, out_dir=tmp_path / "f64", tensorboard=False)
    assert result.step == 2 and all(math.isfinite(r["total"]) for r in result.history)
    state = torch.load(tmp_path / "f64" / "last.pt", weights_only=True)["model"]
    assert state["heatmap_head.3.weight"].dtype == torch.float64
    with pytest.raises(ValueError, match="train.dtype=float32"):
        train(_cfg(dtype="float64", amp="bf16"), data_dir=prep, out_dir=tmp_path / "amp", tensorboard=False)


def test_frames_drawn_with_replacement_as_official_or_distinct():
    """Paper presets: 8 frames per video drawn with replacement (official random.choices): with 10 frames per
    video, some of 200 videos get a frame twice; data.distinct_frames=true never repeats one."""
    from laanet.training.dataset import PairDataset

    cfg = load_config("paper-sbi", ["model.pretrained=false"])
    assert cfg.data.distinct_frames is False
    videos = _videos(200, 10)
    for distinct in (False, True):
        data = PairDataset("unused", videos, cfg, frames_per_video=8, train=True, seed=317, distinct_frames=distinct)
        per_video: dict[str, list[int]] = {}
        for r in data.items:
            per_video.setdefault(r.video_id, []).append(r.frame)
        repeats = sum(len(f) != len(set(f)) for f in per_video.values())
        assert all(len(f) == 8 for f in per_video.values())
        # P(no repeat in 8 draws of 10) = 10!/(2! 10^8) ~ 1.8 %: with replacement nearly every video repeats one.
        assert (repeats == 0) if distinct else (repeats > 150), (distinct, repeats)


def test_the_run_moves_validation_to_each_epoch(prep, tmp_path, monkeypatch):
    """The training loop gives the validation set every epoch (its pseudo-fakes are new each epoch, as official)."""
    from laanet.training.dataset import PairDataset

    calls: list[tuple[bool, int]] = []
    real = PairDataset.set_epoch

    def record(self, epoch):
        calls.append((self.train, epoch))
        return real(self, epoch)

    monkeypatch.setattr(PairDataset, "set_epoch", record)
    train(_cfg(max_steps=8), data_dir=prep, out_dir=tmp_path / "run", tensorboard=False)
    assert sorted({epoch for is_train, epoch in calls if not is_train}) == [0, 1]
