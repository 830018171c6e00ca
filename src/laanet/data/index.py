"""The prepared-data index: one JSON line per stored face crop (``PREP/index.jsonl``).

``laanet prepare`` writes it, ``laanet train`` and ``laanet eval`` read it. One record::

    {"dataset": "ffpp", "split": "test", "label": 1, "method": "Deepfakes",
     "video_id": "ffpp/Deepfakes/000_003", "frame": 12, "path": "crops/ffpp/Deepfakes/000_003/000012.png",
     "landmarks": [[x, y], ...68], "box": [x1, y1, x2, y2], "source": "manipulated_sequences/.../000_003.mp4"}

``video_id`` is unique across datasets, methods and labels (the official code and DeepfakeBench key videos by
their folder name only, so ``Deepfakes/000_003`` and ``Face2Face/000_003`` merge: official ``scripts/test.py``,
DeepfakeBench ``training/metrics/utils.py``).
``path`` is relative to the prepared folder; ``landmarks`` (68×2, iBUG order) are in crop coordinates and
``box`` is the detected face box in source-frame coordinates. ``landmarks81`` (68 + 13 forehead points) is only
present when the face backend gives forehead points.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

logger = logging.getLogger(__name__)

__all__ = [
    "INDEX_NAME",
    "IndexRecord",
    "append_records",
    "group_by_video",
    "index_path",
    "read_index",
    "write_index",
]

INDEX_NAME = "index.jsonl"
Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass
class IndexRecord:
    """One face crop of one source frame."""

    dataset: str  # "ffpp", "cdf2", "dfd", "dfdcp", "dfdc", "dfw", "folder", ...
    split: str  # train | val | test
    label: int  # 0 real, 1 fake
    method: str  # "original", "Deepfakes", "Celeb-synthesis", "real", ...
    video_id: str  # unique across datasets/methods/labels, e.g. "ffpp/Deepfakes/000_003"
    frame: int  # frame index in the source video (0 for still images)
    path: str  # crop PNG, relative to the prepared folder
    landmarks: list[list[float]] = field(default_factory=list)  # 68×2, crop coordinates
    box: list[float] = field(default_factory=list)  # [x1, y1, x2, y2] in source-frame coordinates
    source: str = ""  # source file, relative to the dataset root
    landmarks81: list[list[float]] | None = None  # optional 81×2 (68 + 13 forehead points, SBI order), crop coords

    def to_json(self) -> str:
        data = asdict(self)
        if data["landmarks81"] is None:
            del data["landmarks81"]  # optional: only backends with forehead points (MediaPipe) give it
        return json.dumps(data, separators=(",", ":"))

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"index record {self.video_id!r}: split must be one of {SPLITS}, got {self.split!r}")
        if self.label not in (0, 1):
            raise ValueError(f"index record {self.video_id!r}: label must be 0 or 1, got {self.label!r}")
        if not self.video_id:
            raise ValueError("index record: video_id must not be empty")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IndexRecord":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        missing = [k for k in ("dataset", "split", "label", "method", "video_id", "frame", "path") if k not in known]
        if missing:
            raise ValueError(f"index record lacks {', '.join(missing)}: {data!r:.200}")
        known["label"] = int(known["label"])
        known["frame"] = int(known["frame"])
        return cls(**known)


def index_path(prep_dir: str | Path) -> Path:
    """``PREP/index.jsonl`` (``prep_dir`` may also be the index file itself)."""
    p = Path(prep_dir)
    return p if p.suffix == ".jsonl" else p / INDEX_NAME


def read_index(prep_dir: str | Path) -> list[IndexRecord]:
    """Read every record of ``PREP/index.jsonl``.

    A truncated last line (a run killed while writing) is skipped with a warning; any other malformed line is a
    ``ValueError`` naming the line.
    """
    path = index_path(prep_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no prepared index at {path} (run `laanet prepare ... --out {path.parent}` first)")
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[IndexRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(IndexRecord.from_dict(json.loads(line)))
        except json.JSONDecodeError as err:
            if number == len(lines):
                logger.warning("%s: ignoring a truncated last line (%s)", path, err)
                continue
            raise ValueError(f"{path}:{number}: not valid JSON ({err})") from err
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}:{number}: {err}") from err
    return records


def write_index(prep_dir: str | Path, records: Iterable[IndexRecord]) -> Path:
    """(Over)write ``PREP/index.jsonl`` atomically with ``records``; returns its path."""
    path = index_path(prep_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(rec.to_json() + "\n")
    tmp.replace(path)
    return path


def append_records(prep_dir: str | Path, records: Iterable[IndexRecord]) -> int:
    """Append ``records`` to ``PREP/index.jsonl`` (created if missing); returns how many were written."""
    path = index_path(prep_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(rec.to_json() + "\n" for rec in records)
    if not text:
        return 0
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
    return text.count("\n")


def group_by_video(records: Iterable[IndexRecord]) -> "OrderedDict[str, list[IndexRecord]]":
    """Records grouped by ``video_id`` in first-seen order, each group sorted by frame index."""
    groups: OrderedDict[str, list[IndexRecord]] = OrderedDict()
    for rec in records:
        groups.setdefault(rec.video_id, []).append(rec)
    for frames in groups.values():
        frames.sort(key=lambda r: r.frame)
    return groups
