"""Labelled calibration data → one logit per file, scored as ``laanet detect`` / ``laanet eval`` score it.

Two kinds of folder:

- ``real/`` and ``fake/`` sub-folders of images and/or videos (searched recursively): every file goes through
  the normal :class:`~laanet.inference.detector.Detector` path (face detection, crop, flip test, frames per
  video), and its file logit is the one ``laanet detect`` reports (an image's highest face logit, a video's
  mean frame logit). Files without a face, or unreadable, are left out and counted.
- a prepared folder (``laanet prepare`` output, with ``index.jsonl``): its stored face crops are scored as
  ``laanet eval`` scores them (:mod:`laanet.evaluation.evaluate`: ``frames`` evenly spaced crops per video, flip
  test), and each ``video_id`` gives one file logit, the mean of its crop logits.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from laanet.calibration.file import DataSummary

__all__ = ["LabelledScores", "is_index", "score_folder", "score_index"]
_log = logging.getLogger(__name__)


@dataclass
class LabelledScores:
    """One entry per scored file (label 1 = fake)."""

    names: list[str]
    labels: np.ndarray  # int, (N,)
    logits: np.ndarray  # float, (N,)
    kinds: list[str]  # "image" | "video"
    skipped: dict[str, int] = field(default_factory=dict)
    family: str | None = None  # the model family of the weights that scored them, when known

    def summary(self, name: str, kind: str) -> DataSummary:
        return DataSummary(name=name, kind=kind, n_real=int((self.labels == 0).sum()), n_fake=int(self.labels.sum()),
                           images=self.kinds.count("image"), videos=self.kinds.count("video"), skipped=dict(self.skipped))


def is_index(root: Path) -> bool:
    from laanet.data.index import index_path

    return index_path(root).is_file()


def score_folder(detector, root: Path, *, on_file=None) -> LabelledScores:
    """Score ``root/real`` (label 0) and ``root/fake`` (label 1) with ``detector``; see the module docstring.

    Raises:
        ValueError: ``real/`` or ``fake/`` is missing or holds no image or video.
    """
    from laanet.inference.sources import collect_inputs

    names: list[str] = []
    labels: list[int] = []
    logits: list[float] = []
    kinds: list[str] = []
    skipped: dict[str, int] = {}
    for label, sub in ((0, "real"), (1, "fake")):
        folder = root / sub
        if not folder.is_dir():
            raise ValueError(f"{root}: no {sub}/ folder (calibration data is real/ and fake/ folders, or a prepared index)")
        files = collect_inputs([folder])
        if not files:
            raise ValueError(f"{folder}: no images or videos")
        for result in detector.detect_many(files):
            if on_file is not None:
                on_file(result)
            logit = result.logit
            if result.status != "ok" or logit is None or not np.isfinite(logit):
                skipped[result.status] = skipped.get(result.status, 0) + 1
                _log.info("calibration: %s left out (%s%s)", result.path, result.status, f": {result.error}" if result.error else "")
                continue
            names.append(str(Path(result.path).relative_to(root)) if Path(result.path).is_relative_to(root) else result.path)
            labels.append(label)
            logits.append(float(logit))
            kinds.append(result.kind)
    return LabelledScores(names, np.array(labels, np.int64), np.array(logits, np.float64), kinds, skipped)


def score_index(weights: Path, root: Path, *, frames: int | None = 32, flip_test: bool = True, split: str | None = None,
                device: str = "auto", batch_size: int = 32, progress: bool = False) -> LabelledScores:
    """Score a prepared folder's crops as ``laanet eval`` does, one logit per ``video_id`` (module docstring)."""
    from laanet.evaluation.evaluate import EvalOptions, LocalScorer, load_items
    from laanet.evaluation.metrics import video_level
    from laanet.media.image import IMAGE_EXTENSIONS

    items = load_items([root], split=split, frames=frames)
    options = EvalOptions(frames=frames, flip_test=flip_test, split=split, batch_size=batch_size, device=device)
    scorer = LocalScorer(weights, device)
    preds = scorer.predict(items, options, progress=progress)
    family = getattr(scorer.model, "family", None) or scorer.model.meta.get("family")
    ids, labels, logits = video_level(preds.video_id, preds.label, preds.logit)
    source_of = {it.record.video_id: it.record.source for it in items}
    kinds = ["image" if Path(source_of[v]).suffix.lower() in IMAGE_EXTENSIONS else "video" for v in ids]
    return LabelledScores(list(ids), labels, logits, kinds, family=None if family is None else str(family))
