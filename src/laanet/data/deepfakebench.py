"""Read DeepfakeBench's JSON dataset index (its ``preprocessing/rearrange.py`` output) as laanet sources.

Shape::

    {dataset_name: {label_name: {split: {[compression]: {video_name: {"label": label_name,
                                                                      "frames": [path, ...]}}}}}}

The FF-family sets have the compression level (``c23`` ...) between split and video; others do not. Label names
containing "real" (``FF-real``, ``CelebDFv2_real``, ``DFDCP_Real`` ...) are real, all others fake. Frame paths are
often written relative to DeepfakeBench's working directory and with Windows separators
(``./datasets\\FaceForensics++\\...``); they are resolved against ``root`` by dropping leading components until the
file exists. Each record's ``dataset`` is DeepfakeBench's dataset name (``Celeb-DF-v2`` ...). The frames are DeepfakeBench's aligned 256-px face crops, so they are used as they are
(``precropped``); their 81-point landmarks (``landmarks/<video>/<n>.npy``), if present, give the first 68 points.
Video ids are ``deepfakebench/<dataset>/<label_name>/<video>``: DeepfakeBench itself groups frames by folder
name for video-level AUC and merges different videos that share one (its
``training/metrics/utils.py``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any

from laanet.data.sources import SourceItem

logger = logging.getLogger(__name__)

__all__ = ["find_index_files", "list_deepfakebench"]


def find_index_files(root: Path) -> tuple[Path, list[Path]]:
    """(folder the frame paths resolve in, JSON index files) for ``root`` = a JSON file or a folder."""
    if root.is_file():
        return root.parent, [root]
    files = sorted((root / "dataset_json").glob("*.json")) or sorted(root.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"DeepfakeBench: no JSON index in {root} or {root}/dataset_json (pass the JSON file as --root)")
    return root, files


class _Resolver:
    """Map the JSON's frame paths to files under ``root`` (or up to two folders above it, for a JSON file kept in
    ``dataset_json/``); remembers the base and how many leading parts to drop once one path resolved."""

    def __init__(self, root: Path) -> None:
        self.bases = [root, *list(root.parents)[:2]]
        self.found: tuple[Path, int] | None = None

    def __call__(self, raw: str) -> Path | None:
        parts = [p for p in PurePosixPath(raw.replace("\\", "/")).parts if p not in (".", "", "/")]
        if raw.startswith("/") and Path(raw).is_file():
            return Path(raw)
        if self.found is not None:
            base, drop = self.found
            candidate = base.joinpath(*parts[drop:]) if len(parts) > drop else None
            if candidate is not None and candidate.is_file():
                return candidate
        for base in self.bases:
            for drop in range(len(parts)):
                candidate = base.joinpath(*parts[drop:])
                if candidate.is_file():
                    self.found = (base, drop)
                    return candidate
        return None


def _is_video_entry(value: Any) -> bool:
    return isinstance(value, dict) and "frames" in value


def _videos(node: dict[str, Any], compression: str) -> dict[str, dict[str, Any]]:
    """The ``video_name -> entry`` dict under one split node, stepping into the compression level if present."""
    if node and all(_is_video_entry(v) for v in node.values()):
        return node
    wanted = {"c0": ("c0", "raw"), "raw": ("c0", "raw")}.get(compression, (compression,))
    for key in wanted:
        if isinstance(node.get(key), dict):
            return node[key]
    nested = [v for v in node.values() if isinstance(v, dict)]
    if len(nested) == 1:  # a single compression level: take it
        return nested[0]
    return {}


def _landmark_file(frame: Path) -> Path | None:
    parts = list(frame.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "frames":
            candidate = Path(*parts[:i], "landmarks", *parts[i + 1 :]).with_suffix(".npy")
            return candidate if candidate.is_file() else None
    return None


def _relative_source(folder: Path, resolve: _Resolver) -> str:
    base = resolve.found[0] if resolve.found else resolve.bases[0]
    return folder.relative_to(base).as_posix() if folder.is_relative_to(base) else folder.as_posix()


def list_deepfakebench(root: Path, *, split: str | None = None, compression: str = "c23") -> list[SourceItem]:
    """Sources of every dataset in the JSON index file(s); see the module docstring."""
    base, files = find_index_files(Path(root))
    resolve = _Resolver(base)
    items: list[SourceItem] = []
    unresolved = 0
    for json_path in files:
        data = json.loads(json_path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{json_path}: not a DeepfakeBench index (top level must be a mapping)")
        for dataset_name, by_label in data.items():
            for label_name, by_split in (by_label or {}).items():
                label = 0 if "real" in label_name.lower() else 1
                for s, node in (by_split or {}).items():
                    if s not in ("train", "val", "test") or (split is not None and s != split):
                        continue
                    for video, entry in sorted(_videos(node or {}, compression).items()):
                        frames = [resolve(str(f)) for f in entry.get("frames", [])]
                        unresolved += sum(f is None for f in frames)
                        frames = [f for f in frames if f is not None]
                        if not frames:
                            continue
                        folder = frames[0].parent
                        items.append(SourceItem(
                            str(dataset_name), s, label, label_name,
                            f"deepfakebench/{dataset_name}/{label_name}/{video}",
                            _relative_source(folder, resolve),
                            "frames", folder, frames=tuple(frames), precropped=True,
                            landmarks=tuple(_landmark_file(f) for f in frames),
                        ))
    if unresolved:
        logger.warning("DeepfakeBench: %d frame paths in the index were not found under %s", unresolved, base)
    if not items:
        raise FileNotFoundError(f"DeepfakeBench: no frames of the index resolve under {base} (split={split})")
    return items
