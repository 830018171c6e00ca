"""``laanet eval``: score prepared face crops with a model and measure frame- and video-level metrics.

Protocol (the official ``scripts/test.py`` and ``lib/metrics.py``, with the deliberate differences listed in
docs/reproduce.md):

- records of the chosen split (``test`` by default) from one or more prepared folders (``laanet prepare``);
- ``frames`` crops per video, evenly spaced among the stored ones (32 by default, the paper's protocol; None:
  every stored crop; the official code draws 32 *with replacement*);
- preprocessing: the stored 256-px crop (optionally perturbed, ``laanet.evaluation.perturb``) → the same
  ``laanet.inference.preprocess.crop_to_input`` as ``laanet detect``, with the model's own ``preprocess``
  (LAA-Net: a 5-px margin off every side, as the official SBI test loader, a bilinear resize to 384, RGB,
  (x/255 − 0.5)/0.5; FakeFormer: 9 px, the corner-aligned affine to 112, ImageNet mean/std);
- frame score = the cls logit; with ``flip_test`` (the default, as the official test and ``laanet detect``) the
  mean of the logits of the crop and its mirror image;
- video score = sigmoid(mean frame logit), per unique ``video_id`` (``laanet.evaluation.metrics``).
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from laanet.data.index import IndexRecord, group_by_video, read_index
from laanet.data.sources import even_indices
from laanet.evaluation.metrics import frame_and_video_metrics
from laanet.evaluation.perturb import Perturbation, apply_perturbations

logger = logging.getLogger(__name__)

__all__ = ["EvalItem", "EvalOptions", "LocalScorer", "Predictions", "compute_metrics", "load_items", "predict",
           "predictions_of"]


@dataclass
class EvalOptions:
    frames: int | None = 32  # crops per video, evenly spaced (the paper tests on 32); None = every stored crop
    flip_test: bool = True  # average the logits of the crop and of its horizontal flip (official test, laanet detect)
    perturbations: tuple[Perturbation, ...] = ()  # applied in order to every crop
    split: str | None = "test"  # None = every record
    batch_size: int = 32
    workers: int = 0  # DataLoader workers
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N, see laanet.device.resolve_device
    seed: int = 0  # seeds the random perturbations (block, noise)
    margin: int | None = None  # px cut from each side of the crop before framing; None = the model's (5 / 9 at 256)


@dataclass(frozen=True)
class EvalItem:
    """One crop to score: its record and the prepared folder its path is relative to."""

    record: IndexRecord
    root: Path

    @property
    def file(self) -> Path:
        return self.root / self.record.path


@dataclass
class Predictions:
    """Per-crop results, in the order of the items."""

    video_id: list[str]
    frame: np.ndarray  # int
    label: np.ndarray  # int, 0 real 1 fake
    logit: np.ndarray  # float, cls logit (flip-averaged when flip_test)
    dataset: list[str]
    method: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def subset(self, mask: np.ndarray) -> "Predictions":
        idx = np.flatnonzero(mask)
        return Predictions([self.video_id[i] for i in idx], self.frame[idx], self.label[idx], self.logit[idx],
                           [self.dataset[i] for i in idx], [self.method[i] for i in idx])


def load_items(data_dirs: Sequence[str | Path], *, split: str | None = "test", frames: int | None = None) -> list[EvalItem]:
    """Records of ``split`` from every prepared folder, ``frames`` evenly spaced crops per video.

    If no record has the requested split, every record is used (with a warning), so that a ``folder`` preparation
    made for training can still be scored.
    """
    items: list[EvalItem] = []
    for d in data_dirs:
        root = Path(d)
        records = read_index(root)
        chosen = [r for r in records if split is None or r.split == split]
        if not chosen and records:
            logger.warning("%s: no records of split %r; using all %d records", root, split, len(records))
            chosen = records
        for video in group_by_video(chosen).values():
            for i in even_indices(len(video), frames):
                items.append(EvalItem(video[i], root))
    if not items:
        raise ValueError(f"no face crops to evaluate in {', '.join(map(str, data_dirs))}")
    roots: dict[str, Path] = {}
    for it in items:  # the same video from two prepared folders (e.g. FF++ c0 and c23) would merge into one
        first = roots.setdefault(it.record.video_id, it.root)
        if first != it.root:
            raise ValueError(f"video {it.record.video_id!r} is in both {first} and {it.root}; evaluate them separately")
    return items


def _perturb_seed(record: IndexRecord, seed: int) -> int:
    return zlib.crc32(f"{record.video_id}:{record.frame}".encode()) ^ seed


class _CropDataset:
    """torch-style map dataset: index → (3×S×S float32 tensor, index)."""

    def __init__(self, items: list[EvalItem], preprocess: Any, perturbations: tuple[Perturbation, ...], seed: int,
                 margin: int | None) -> None:
        self.items, self.preprocess, self.perturbations, self.seed, self.margin = items, preprocess, perturbations, seed, margin

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        import cv2
        import torch

        from laanet.inference.preprocess import crop_to_input

        item = self.items[i]
        bgr = cv2.imread(str(item.file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"face crop missing or unreadable: {item.file}")
        crop = np.ascontiguousarray(bgr[..., ::-1])
        if self.perturbations:
            crop = apply_perturbations(crop, self.perturbations, seed=_perturb_seed(item.record, self.seed))
        return torch.from_numpy(np.ascontiguousarray(crop_to_input(crop, self.preprocess, margin=self.margin))), i


def predict(model: Any, items: list[EvalItem], options: EvalOptions, *, progress: bool = True) -> Predictions:
    """Run ``model`` (any family, eval mode) over ``items``, preprocessed as ``model.preprocess`` says; returns
    per-crop logits."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    dataset = _CropDataset(items, model.preprocess, tuple(options.perturbations), options.seed, options.margin)
    loader = DataLoader(dataset, batch_size=options.batch_size, shuffle=False, num_workers=options.workers,
                        pin_memory=device.type == "cuda")
    logits = np.empty(len(items), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for x, idx in tqdm(loader, desc="eval", unit="batch", disable=not progress, dynamic_ncols=True):
            x = x.to(device=device, dtype=dtype, non_blocking=True)
            z = model(x).cls[:, 0]  # B
            if options.flip_test:
                z = (z + model(torch.flip(x, dims=[3])).cls[:, 0]) / 2  # mean of logits, as the official test
            logits[idx.numpy()] = z.double().cpu().numpy()
    return predictions_of(items, logits)


def predictions_of(items: list[EvalItem], logits: np.ndarray) -> Predictions:
    """:class:`Predictions` of ``items`` from their logits (N,), in the same order."""
    recs = [it.record for it in items]
    return Predictions(
        video_id=[r.video_id for r in recs],
        frame=np.array([r.frame for r in recs], dtype=np.int64),
        label=np.array([r.label for r in recs], dtype=np.int64),
        logit=logits,
        dataset=[r.dataset for r in recs],
        method=[r.method for r in recs],
    )


class LocalScorer:
    """Scores crops with a model loaded in this process (``laanet eval``; ``laanet.scale.ray_eval`` has a Ray one).

    A scorer has ``input_size``, ``device`` (for metrics.json) and ``predict(items, options, progress=)``.
    """

    def __init__(self, weights: str | Path, device: str = "auto") -> None:
        from laanet.device import resolve_device
        from laanet.models.checkpoint import load_model

        self.device = resolve_device(device)
        self.model = load_model(weights, device=self.device)
        self.input_size = int(self.model.preprocess.input_size)
        self.family = self.model.family
        self.preprocess = self.model.preprocess

    def predict(self, items: list[EvalItem], options: EvalOptions, *, progress: bool = True) -> Predictions:
        return predict(self.model, items, options, progress=progress)


def compute_metrics(preds: Predictions) -> dict[str, Any]:
    """Frame and video metrics, overall and per dataset; per manipulation method where a dataset has several.

    ``{"frame": {...}, "video": {...}, "datasets": {name: {"frame", "video", "methods": {method: {...}}}}}``.
    A method's metrics pair its fakes with all reals of the same dataset.
    """
    out: dict[str, Any] = frame_and_video_metrics(preds.video_id, preds.label, preds.logit)
    out["datasets"] = {}
    datasets = np.array(preds.dataset)
    methods = np.array(preds.method)
    for name in dict.fromkeys(preds.dataset):
        sub_mask = datasets == name
        sub = preds.subset(sub_mask)
        entry = frame_and_video_metrics(sub.video_id, sub.label, sub.logit)
        fake_methods = sorted(set(methods[sub_mask & (preds.label == 1)].tolist()))
        if len(fake_methods) > 1:
            entry["methods"] = {}
            for m in fake_methods:
                part = preds.subset(sub_mask & ((preds.label == 0) | (methods == m)))
                entry["methods"][m] = frame_and_video_metrics(part.video_id, part.label, part.logit)
        out["datasets"][name] = entry
    return out
