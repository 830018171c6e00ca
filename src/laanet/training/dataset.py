"""Training and validation data: real faces of a prepared folder → (real, pseudo-fake) pairs with targets.

LAA-Net learns from real faces only (as in the paper and the official ``datasets/face_forensic_sbi.py``): every
item is one real face crop and a pseudo-fake made from it on the fly (SBI or BI, :mod:`laanet.synthesis`), with
the heatmap and self-consistency targets of both.

* **Frames.** ``data.frames_per_video`` frames of every training video are drawn once for the whole run, as
  the official SBI loader does (it never re-samples), or, with ``data.redraw_frames=true``, again every epoch
  (:meth:`PairDataset.set_epoch`; the paper's "8 frames dynamically selected", and the official BI loader).
  The N frames of a video are drawn with replacement, as the official sampler does (``random.choices``), so
  a frame may come twice; with ``data.distinct_frames=true`` a video with at least N frames gives N distinct
  frames and a shorter one (a still image is a 1-frame video) all of its frames plus random repeats. The synthesis and augmentation of an item vary with the
  epoch either way.
* **Validation** is on the source domain only: held-out *real* videos (the index's ``val`` split, or else
  ``data.val_fraction`` of the training videos, chosen by the seed) plus pseudo-fakes made from them. Its frames
  are drawn once; its pseudo-fakes are made anew every epoch as the official loaders do, or, with
  ``data.fixed_validation=true``, drawn once so that every epoch is measured on the same pairs. The ``test`` split and
  every fake record of the index are never used.
* **Landmarks.** SBI gets a record's 81 points (68 + 13 forehead points, ``landmarks81``, given by the MediaPipe
  backend) when it has them, as the official SBI loader uses the 81-point model; BI gets the 68.
* **Randomness.** Item ``i`` of epoch ``e`` draws from ``numpy.random.default_rng([seed, stream, e, i])``:
  it is the same whichever worker builds it and in whatever order, which is what makes ``--resume`` exact.

An item is a dict of tensors, the real face first: ``image`` 2×3×S×S float, normalised as the model wants it
(LAA-Net: [-1, 1]; FakeFormer: ImageNet mean/std), ``heatmap`` and ``consistency`` 2×1×G×G float (G = the model's
heatmap grid: S/4 for LAA-Net, the 14×14 token grid for FakeFormer ViT-S/8, whose consistency target is unused
zeros), ``label`` 2 (0 real, 1 fake), ``index`` 2 (a unique id per image), ``redraws`` 2 (rejected fake
candidates; 0 for the real). A FakeFormer model gets FakeFormer's SBI or BI pipeline
(:mod:`laanet.synthesis.fakeformer_sbi`, :mod:`laanet.synthesis.fakeformer_bi`).

With ``data.bi_single_images=true`` (BI only) an item is **one image** instead, as the official BI loaders give
them: a BI fake with p 0.5 (drawn per item and epoch), else the real face alone; every tensor then has a leading
axis of 1 and ``train.batch_size`` counts images, so a batch is not exactly half fake.
:func:`collate_pairs` turns B items into one batch of 2B images: B reals, then B fakes.
"""
from __future__ import annotations

import functools
import logging
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from laanet.config import RunConfig
from laanet.data.index import IndexRecord, group_by_video, read_index
from laanet.synthesis.landmarks import SynthesisInputError
from laanet.synthesis.sample import SynthesisError, to_network_input

__all__ = ["PairDataset", "build_datasets", "collate_pairs", "split_videos"]

log = logging.getLogger(__name__)

TRAIN_STREAM, VAL_STREAM = 0, 1


def split_videos(
    records: list[IndexRecord], *, val_fraction: float, seed: int
) -> tuple["OrderedDict[str, list[IndexRecord]]", "OrderedDict[str, list[IndexRecord]]"]:
    """(train videos, validation videos) of the real faces in ``records``; fakes and the test split are dropped.

    Validation = the real videos of the ``val`` split; when there are none, ``val_fraction`` of the training
    videos (at least one when there are two or more), picked by ``seed``.
    """
    usable = [r for r in records if r.label == 0 and r.split in ("train", "val")]
    no_landmarks = [r for r in usable if len(r.landmarks) < 68]
    if no_landmarks:
        log.warning("%d real face crop(s) have no 68-point landmarks and are skipped (e.g. %s)", len(no_landmarks), no_landmarks[0].path)
        usable = [r for r in usable if len(r.landmarks) >= 68]
    skipped = len(records) - len(usable) - len(no_landmarks)
    if skipped:
        log.info("%d index record(s) of fakes or of the test split are not used for training", skipped)
    train = group_by_video(r for r in usable if r.split == "train")
    val = group_by_video(r for r in usable if r.split == "val")
    if not train:
        raise ValueError("the prepared index holds no real training faces with landmarks (split 'train', label 0)")
    if not val and val_fraction > 0 and len(train) >= 2:
        ids = sorted(train)
        random.Random(seed).shuffle(ids)
        n_val = min(len(ids) - 1, max(1, round(val_fraction * len(ids))))
        held = set(ids[:n_val])
        val = OrderedDict((k, v) for k, v in train.items() if k in held)
        train = OrderedDict((k, v) for k, v in train.items() if k not in held)
    if not val:
        log.warning("no validation videos (one training video only, or data.val_fraction=0): validation AUC is not measured")
    return train, val


def _draw_frames(n_frames: int, n: int, rng: np.random.Generator, *, distinct: bool = True) -> np.ndarray:
    """``n`` frame positions out of ``n_frames``, sorted.

    ``distinct``: distinct when possible, all frames plus repeats otherwise (laanet option); else ``n`` independent
    uniform draws with replacement, as the official sampler (``random.choices``), so a frame may come twice.
    """
    if not distinct:
        return np.sort(rng.choice(n_frames, size=n, replace=True))
    if n_frames >= n:
        return np.sort(rng.choice(n_frames, size=n, replace=False))
    extra = rng.choice(n_frames, size=n - n_frames, replace=True)
    return np.sort(np.concatenate([np.arange(n_frames), extra]))


class PairDataset(Dataset):
    """(real, pseudo-fake) pairs from the real faces of some videos; see the module docstring.

    Args:
        prep_dir: the prepared folder the records' ``path`` are relative to.
        videos: video id → its frames (records).
        cfg: the run configuration (``data.*`` and ``model.input_size`` are used).
        frames_per_video: frames drawn per video.
        train: training augmentation, drawn anew every epoch (False: validation, everything drawn once).
        redraw_frames: training only: draw the frames again every epoch (default: once for the run).
        distinct_frames: draw distinct frames of each video when it has enough (default: with replacement, as
            the official sampler).
        fixed_validation: validation only: keep the pseudo-fakes of epoch 0 for the whole run (default: new ones
            every epoch, as the official loaders); the validation frames are drawn once either way.
        seed: base seed of every draw.
        donors: BI only: the faces a partner may be taken from (default: the frames of ``videos``).
        heatmap_size: the model's heatmap grid (``model.heatmap_size``; default ``input_size // 4``, LAA-Net).
        preprocess: the model's :class:`~laanet.models.family.Preprocess` (its mean/std normalise the images;
            default LAA-Net's 0.5/0.5).
    """

    def __init__(
        self,
        prep_dir: str | Path,
        videos: "OrderedDict[str, list[IndexRecord]]",
        cfg: RunConfig,
        *,
        frames_per_video: int,
        train: bool,
        seed: int,
        donors: list[IndexRecord] | None = None,
        redraw_frames: bool = False,
        distinct_frames: bool = False,
        fixed_validation: bool = False,
        heatmap_size: int | None = None,
        preprocess: Any = None,
    ) -> None:
        if frames_per_video < 1:
            raise ValueError(f"frames per video must be >= 1, got {frames_per_video}")
        self.prep_dir = Path(prep_dir)
        self.videos = list(videos.values())
        donors = donors if donors is not None else [r for frames in self.videos for r in frames]
        self.frames_per_video = frames_per_video
        self.train = train
        self.redraw_frames = redraw_frames and train
        self.distinct_frames = distinct_frames
        self.fixed_validation = fixed_validation and not train
        self.seed = seed
        self.stream = TRAIN_STREAM if train else VAL_STREAM
        # data.method "mix" draws SBI or BI per item (p 0.5 each); otherwise one method for every item.
        self.methods = ("sbi", "bi") if cfg.data.method == "mix" else (cfg.data.method,)
        # data.bi_single_images: one image per item, fake with p 0.5 (the official BI loaders)
        self.single_images = bool(getattr(cfg.data, "bi_single_images", False))
        if self.single_images and self.methods != ("bi",):
            raise ValueError(f"data.bi_single_images=true needs data.method=bi, got {cfg.data.method!r}")
        self.synthesizers = {
            m: _build_synthesizer(m, cfg, train=train, prep_dir=self.prep_dir, donors=donors, heatmap_size=heatmap_size)
            for m in self.methods
        }
        # LAA-Net's (x/255 − 0.5)/0.5 (to_network_input, bit-identical to earlier runs) or the model's mean/std
        laanet_norm = preprocess is None or (tuple(preprocess.mean) == (0.5,) * 3 and tuple(preprocess.std) == (0.5,) * 3)
        self._to_input = to_network_input if laanet_norm else functools.partial(normalise, preprocess=preprocess)
        self.epoch = -1  # seeds the synthesis/augmentation of every item
        self.frames_epoch = -1  # the epoch whose frame draw ``items`` holds
        self.items: list[IndexRecord] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Go to ``epoch``: new synthesis and augmentation draws and, with ``redraw_frames``, new frames.

        Validation keeps its frames of epoch 0, and with ``fixed_validation`` its pseudo-fakes too.
        """
        epoch = 0 if self.fixed_validation else epoch
        frames_epoch = epoch if self.redraw_frames else 0
        if frames_epoch != self.frames_epoch:
            rng = np.random.default_rng([self.seed, self.stream, frames_epoch, 2**31 - 1])
            items: list[IndexRecord] = []
            for frames in self.videos:
                draw = _draw_frames(len(frames), self.frames_per_video, rng, distinct=self.distinct_frames)
                items.extend(frames[i] for i in draw)
            self.items, self.frames_epoch = items, frames_epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        record = self.items[index]
        rng = np.random.default_rng([self.seed, self.stream, self.epoch, index])
        image = _read_crop(self.prep_dir / record.path)
        method = self.methods[0]
        if len(self.methods) > 1:  # separate stream, so single-method runs draw exactly as before
            method = self.methods[int(np.random.default_rng([self.seed, self.stream, self.epoch, index, 1]).integers(2))]
        landmarks = np.asarray(_landmarks_for(record, method), dtype=np.float32)
        synthesizer = self.synthesizers[method]
        try:
            if self.single_images:
                # real or fake with p 0.5 per item (official ``random.randint(0, 1)``), on its own stream
                fake = bool(np.random.default_rng([self.seed, self.stream, self.epoch, index, 2]).integers(2))
                sample = synthesizer.single(image, landmarks, rng, fake=fake, identity=record.video_id)
            elif method == "bi":
                sample = synthesizer(image, landmarks, rng, identity=record.video_id)
            else:
                sample = synthesizer(image, landmarks, rng)
        except (SynthesisError, SynthesisInputError) as err:
            # No silent fallback to another sample (the official ``__getitem__`` swallows every error and
            # retries a random index): name the face and stop.
            raise type(err)(f"{record.path} (video {record.video_id}): {err}") from err
        arrays = sample.to_arrays(self._to_input)
        n = len(arrays["label"])  # 2 (real then fake), or 1 with data.bi_single_images
        return {
            "image": torch.from_numpy(arrays["image"]),  # n, 3, S, S normalised
            "heatmap": torch.from_numpy(arrays["heatmap"]),  # n, 1, G, G
            "consistency": torch.from_numpy(arrays["consistency"]),  # n, 1, G, G
            "label": torch.from_numpy(arrays["label"]),  # n: 0 real, 1 fake
            "index": torch.arange(n * index, n * index + n),  # a unique id per image
            "redraws": torch.from_numpy(arrays["redraws"]),  # re-drawn fake candidates (logged per epoch)
        }


def _landmarks_for(record: IndexRecord, method: str) -> list[list[float]]:
    """The landmarks the synthesizer of ``method`` gets, as the official loaders give them.

    SBI: the 81 points (68 + forehead) when the record has them (official ``datasets/face_forensic_sbi.py`` reads
    the 81-point landmarks; SBI then keeps only the first 68 with p 0.25, and ``facehull`` covers the forehead
    otherwise), else the 68. BI: the 68 points (official ``datasets/face_forensic_hm.py``).
    """
    if method == "sbi" and record.landmarks81:
        return record.landmarks81
    return record.landmarks


def normalise(image: np.ndarray, preprocess: Any) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W float32 ``(x/255 − mean)/std`` with the model's ``preprocess.mean/std``."""
    mean = np.asarray(preprocess.mean, np.float32)[:, None, None]
    std = np.asarray(preprocess.std, np.float32)[:, None, None]
    return (image.astype(np.float32).transpose(2, 0, 1) / np.float32(255) - mean) / std


def _build_synthesizer(
    method: str, cfg: RunConfig, *, train: bool, prep_dir: Path, donors: list[IndexRecord], heatmap_size: int | None = None
):
    """The pseudo-fake maker of ``method``: SBI (from the face itself) or BI (from a partner face), in the pipeline
    of the model's family (``model.family``: laanet or fakeformer)."""
    from laanet.synthesis.augment import GeometryConfig

    size = cfg.model.input_size
    geometry = GeometryConfig(
        scale_mask_linear=cfg.data.scale_mask_linear,
        erase_reference=None if cfg.data.erase_relative_to_image else GeometryConfig.erase_reference,
    )
    if getattr(cfg.model, "family", "laanet") == "fakeformer":
        return _build_fakeformer_synthesizer(method, cfg, train=train, heatmap_size=heatmap_size, geometry=geometry,
                                             prep_dir=prep_dir, donors=donors)
    if method == "sbi":
        from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

        sbi_config = SBIConfig(
            input_size=size,
            train=train,
            quantize=cfg.data.quantize,
            frame_before_geometry=cfg.data.sbi_frame_before_geometry,
            pixel_aligned_framing=cfg.data.pixel_aligned_framing,
            exact_landmark_flip=cfg.data.exact_landmark_flip,
            geometry=geometry,
        )
        return SBISynthesizer(sbi_config)
    if method == "bi":
        from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex

        if not donors:
            return None  # an empty dataset needs no partner pool
        bi_config = BIConfig(
            input_size=size,
            train=train,
            quantize=cfg.data.quantize,
            pixel_aligned_framing=cfg.data.pixel_aligned_framing,
            geometry=geometry,
        )
        return BISynthesizer(PartnerIndex.from_records(donors, prep_dir), bi_config)
    raise ValueError(f"data.method must be 'sbi', 'bi' or 'mix', got {method!r}")


def _build_fakeformer_synthesizer(
    method: str, cfg: RunConfig, *, train: bool, heatmap_size: int | None, geometry: Any,
    prep_dir: Path, donors: list[IndexRecord],
):
    """FakeFormer's SBI or BI pipeline (:mod:`laanet.synthesis.fakeformer_sbi`, :mod:`laanet.synthesis.fakeformer_bi`)
    at the model's input and heatmap size."""
    if method not in ("sbi", "bi"):
        raise ValueError(f"data.method must be 'sbi', 'bi' or 'mix', got {method!r}")
    if heatmap_size is None:
        raise ValueError("FakeFormer training data needs the model's heatmap_size (build the model first)")
    if method == "bi":
        from laanet.synthesis.bi import BIConfig, PartnerIndex
        from laanet.synthesis.fakeformer_bi import FakeFormerBIConfig, FakeFormerBISynthesizer

        if not donors:
            return None  # an empty dataset needs no partner pool
        bi = BIConfig(
            input_size=cfg.model.input_size,
            train=train,
            quantize=cfg.data.quantize,
            pixel_aligned_framing=cfg.data.pixel_aligned_framing,
            geometry=geometry,  # FakeFormer's order, no erasing
        )
        config = FakeFormerBIConfig(bi=bi, heatmap_size=heatmap_size, target_overlap=cfg.data.target_overlap)
        return FakeFormerBISynthesizer(PartnerIndex.from_records(donors, prep_dir), config)
    from laanet.synthesis.fakeformer_sbi import FakeFormerSBIConfig, FakeFormerSBISynthesizer
    from laanet.synthesis.sbi import SBIConfig

    sbi = SBIConfig(
        input_size=cfg.model.input_size,
        train=train,
        quantize=cfg.data.quantize,
        frame_before_geometry=cfg.data.sbi_frame_before_geometry,
        pixel_aligned_framing=cfg.data.pixel_aligned_framing,
        exact_landmark_flip=cfg.data.exact_landmark_flip,
        geometry=geometry,  # FakeFormer's order, no erasing (its erasing options do not apply)
    )
    return FakeFormerSBISynthesizer(
        FakeFormerSBIConfig(sbi=sbi, heatmap_size=heatmap_size, target_overlap=cfg.data.target_overlap)
    )


def _read_crop(path: Path) -> np.ndarray:
    """A stored face crop as H×W×3 RGB uint8."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"face crop {path} is missing or unreadable (was the prepared folder moved?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def collate_pairs(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """B pair items → one batch of 2B images (all reals, then all fakes), every key flattened the same way;
    B single-image items (``data.bi_single_images``) → B images in item order."""
    return {key: torch.stack([it[key] for it in items], dim=1).flatten(0, 1) for key in items[0]}  # 2B, ...


def build_datasets(
    prep_dir: str | Path, cfg: RunConfig, *, heatmap_size: int | None = None, preprocess: Any = None
) -> tuple[PairDataset, PairDataset]:
    """(training pairs, validation pairs) of the prepared folder ``prep_dir`` for the run ``cfg``.

    ``heatmap_size`` and ``preprocess`` come from the model (``model.heatmap_size``, ``model.preprocess``); the
    defaults are LAA-Net's (``input_size // 4``, mean/std 0.5).
    """
    extra = {"heatmap_size": heatmap_size, "preprocess": preprocess}
    records = read_index(prep_dir)
    train_videos, val_videos = split_videos(records, val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    log.info("videos: %d for training, %d held out for validation", len(train_videos), len(val_videos))
    train_set = PairDataset(prep_dir, train_videos, cfg, frames_per_video=cfg.data.frames_per_video, train=True,
                            seed=cfg.train.seed, redraw_frames=cfg.data.redraw_frames,
                            distinct_frames=cfg.data.distinct_frames, **extra)
    # BI partners of validation fakes may come from any real face; the validation *reals* stay unseen.
    pool = [r for frames in (*train_videos.values(), *val_videos.values()) for r in frames]
    val_set = PairDataset(prep_dir, val_videos, cfg, frames_per_video=cfg.data.val_frames_per_video, train=False,
                          seed=cfg.train.seed, donors=pool, distinct_frames=cfg.data.distinct_frames,
                          fixed_validation=cfg.data.fixed_validation, **extra)
    return train_set, val_set
