"""``laanet prepare``: sample frames, detect, align and crop faces, and write the prepared-data index.

For every source of a dataset layout (``laanet.data.layouts``):

1. pick frames evenly spaced over the video (not the first N): by default 128 per training video and 32 per
   validation/test video, the counts of the official preprocessing (LAA-Net README); ``frames`` sets one
   count for every split;
2. detect faces with ``laanet.faces.FaceAnalyzer`` and keep the largest one;
3. crop it with ``laanet.faces.crop_face`` (the one crop function laanet uses everywhere) at ``crop_size``;
4. store ``PREP/crops/<video_id>/<frame:06d>.png`` and one :class:`~laanet.data.index.IndexRecord` per crop.

Pre-cropped sources (DFW, DeepfakeBench) are stored resized to ``crop_size``, without detection.

Bookkeeping in ``PREP/``:

- ``index.jsonl``: the index (``laanet.data.index``);
- ``prepare_log.jsonl``: one line per finished source ``{"video_id", "status", "frames", "faces", "message"}``
  with status ``ok`` (≥ 1 face stored), ``no_face`` or ``failed`` (unreadable file ...). A rerun skips sources
  that are ``ok`` or ``no_face`` (resumable) and retries ``failed`` ones; index lines of a source that was cut
  off before its log line are dropped first, so nothing is stored twice;
- ``prepare.json``: per dataset, the settings that must not change between runs (compression, crop size, and
  the frames per video of each split prepared so far).

Sources run in ``workers`` processes (0 = in this process), each with its own face analyser, or as Ray tasks
(``laanet prepare --ray``, :mod:`laanet.scale.ray_prepare`) with the same bookkeeping.
"""
from __future__ import annotations

import json
import logging
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from laanet.data.index import IndexRecord, append_records, index_path, read_index, write_index
from laanet.data.sources import SourceItem, even_indices

logger = logging.getLogger(__name__)

__all__ = [
    "LOG_NAME",
    "PAPER_FRAMES_PER_SPLIT",
    "PrepareOptions",
    "PrepareSummary",
    "SourceResult",
    "prepare_sources",
    "process_source",
    "run_local",
]

LOG_NAME = "prepare_log.jsonl"
MANIFEST_NAME = "prepare.json"
CROPS_DIR = "crops"
RunSources = Callable[[list["SourceItem"], Path, "PrepareOptions"], Iterable["SourceResult"]]


# Frames per video of the official preprocessing (LAA-Net README): 128 for training, 32 for validation/test.
PAPER_FRAMES_PER_SPLIT: dict[str, int] = {"train": 128, "val": 32, "test": 32}


@dataclass
class PrepareOptions:
    frames: int | None = None  # per video, for every split; None: frames_per_split
    frames_per_split: dict[str, int] = field(default_factory=lambda: dict(PAPER_FRAMES_PER_SPLIT))
    crop_size: int = 256  # stored crop side (official: 256)
    workers: int = 0  # processes; 0 = run in this process
    detector: str | None = None  # laanet.faces backend name; None = its default
    progress: bool = True

    def frames_for(self, split: str) -> int:
        """Frames to sample per video of ``split`` (a split missing from ``frames_per_split`` gets the test count)."""
        if self.frames is not None:
            return self.frames
        return self.frames_per_split.get(split, self.frames_per_split.get("test", PAPER_FRAMES_PER_SPLIT["test"]))

    def check(self) -> None:
        """``ValueError`` naming the bad option."""
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"--frames must be at least 1, got {self.frames}")
        for split, count in self.frames_per_split.items():
            if count < 1:
                raise ValueError(f"frames per {split} video must be at least 1, got {count}")
        if self.crop_size < 16:
            raise ValueError(f"crop size must be at least 16, got {self.crop_size}")


@dataclass
class SourceResult:
    """What one source produced."""

    video_id: str
    status: str  # ok | no_face | failed
    frames: int = 0  # frames read
    faces: int = 0  # crops stored
    message: str = ""
    records: list[IndexRecord] = field(default_factory=list)

    def log_line(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "records"}
        return json.dumps(data, separators=(",", ":"))


@dataclass
class PrepareSummary:
    total: int = 0  # sources listed
    skipped: int = 0  # already finished in an earlier run
    ok: int = 0
    no_face: int = 0
    failed: int = 0
    crops: int = 0  # crops stored in this run
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (video_id, status, message)

    def lines(self, limit: int = 10) -> list[str]:
        """A human-readable summary, with the first ``limit`` problems."""
        out = [
            f"{self.total} sources: {self.skipped} already done, {self.ok} prepared ({self.crops} crops), "
            f"{self.no_face} without a face, {self.failed} failed"
        ]
        for vid, status, msg in self.failures[:limit]:
            out.append(f"  {status}: {vid}: {msg}")
        if len(self.failures) > limit:
            out.append(f"  ... and {len(self.failures) - limit} more (see {LOG_NAME})")
        return out


# --- one source (runs in a worker) ----------------------------------------------------------------------------

_ANALYZER: Any = None
_ANALYZER_BACKEND: str | None = None


def _analyzer(backend: str | None) -> Any:
    global _ANALYZER, _ANALYZER_BACKEND
    if _ANALYZER is None or _ANALYZER_BACKEND != backend:
        from laanet.faces import FaceAnalyzer

        _ANALYZER = FaceAnalyzer() if backend is None else FaceAnalyzer(backend=backend)
        _ANALYZER_BACKEND = backend
    return _ANALYZER


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write {path}")


def _frames_of(item: SourceItem, n: int) -> Iterable[tuple[int, np.ndarray, Path | None]]:
    """(frame index, RGB image, landmark file or None) for the frames to store."""
    from laanet.media import read_image, sample_video_frames

    if item.kind == "video":
        for frame in sample_video_frames(item.path, n):
            yield frame.index, frame.image, None
    elif item.kind == "image":
        yield 0, read_image(item.path), None
    else:
        for i in even_indices(len(item.frames), n):
            try:
                number = int(item.frames[i].stem)
            except ValueError:
                number = i
            lms = item.landmarks[i] if i < len(item.landmarks) else None
            yield number, read_image(item.frames[i]), lms


def _points(points: np.ndarray) -> list[list[float]]:
    return np.round(np.asarray(points, dtype=np.float64), 2).tolist()


def _precropped(image: np.ndarray, size: int, landmark_file: Path | None) -> tuple[np.ndarray, list, list]:
    import cv2

    h, w = image.shape[:2]
    crop = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR)
    landmarks: list = []
    if landmark_file is not None:
        points = np.load(landmark_file).astype(np.float64).reshape(-1, 2)[:68]
        landmarks = np.round(points * [size / w, size / h], 2).tolist()
    return crop, landmarks, [0.0, 0.0, float(w), float(h)]


def process_source(item: SourceItem, prep_dir: str | Path, options: PrepareOptions) -> SourceResult:
    """Prepare one source: store its face crops and return their records.

    Bad media (unreadable, empty, no face) is reported in the result, never raised. A face backend that cannot
    start (``FaceBackendError``) is raised: it would fail every source the same way.
    """
    from laanet.faces import FaceBackendError, crop_face
    from laanet.media import MediaError

    prep_dir = Path(prep_dir)
    result = SourceResult(item.video_id, "ok")
    try:
        analyzer = None if item.precropped else _analyzer(options.detector)
        for frame_index, image, lms_file in _frames_of(item, options.frames_for(item.split)):
            result.frames += 1
            landmarks81 = None
            if item.precropped:
                crop, landmarks, box = _precropped(image, options.crop_size, lms_file)
            else:
                faces = analyzer.detect(image)
                if not faces:
                    continue
                face = max(faces, key=lambda f: f.area)  # the official crop script keeps ~the largest face
                cropped = crop_face(image, face, size=options.crop_size)
                crop = cropped.image
                landmarks = _points(cropped.landmarks)
                landmarks81 = None if cropped.landmarks81 is None else _points(cropped.landmarks81)
                box = [round(float(v), 2) for v in face.box]
            rel = f"{CROPS_DIR}/{item.video_id}/{frame_index:06d}.png"
            _write_png(prep_dir / rel, crop)
            result.records.append(IndexRecord(
                dataset=item.dataset, split=item.split, label=item.label, method=item.method,
                video_id=item.video_id, frame=int(frame_index), path=rel, landmarks=landmarks, box=box,
                source=item.source, landmarks81=landmarks81,
            ))
    except FaceBackendError:
        raise
    except Exception as err:  # noqa: BLE001 - one bad source must not stop a dataset; it is reported instead
        if not isinstance(err, (MediaError, OSError, ValueError)):
            logger.debug("%s failed", item.video_id, exc_info=True)
        result.status, result.message = "failed", f"{type(err).__name__}: {err}"
        result.records = []
        return result
    result.faces = len(result.records)
    if result.frames == 0:
        result.status, result.message = "failed", "no frame could be read"
    elif result.faces == 0:
        result.status, result.message = "no_face", f"no face in {result.frames} frame(s)"
    return result


def _worker_init(level: int) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# --- the run --------------------------------------------------------------------------------------------------

def _read_log(prep_dir: Path) -> dict[str, str]:
    path = prep_dir / LOG_NAME
    status: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut off by a kill
            status[entry["video_id"]] = entry["status"]
    return status


def _check_manifest(prep_dir: Path, items: list[SourceItem], settings: dict[str, Any], options: PrepareOptions) -> None:
    """Refuse to mix settings in one prepared folder; record the settings of this run.

    ``settings`` must match for the whole dataset; the frames per video must match per split (a folder may hold
    the train split at 128 frames and the val split at 32). Keys missing from an older manifest are added.
    """
    path = prep_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    for dataset in sorted({i.dataset for i in items}):
        old = dict(manifest.get(dataset) or {})
        changed = [f"{k} {old[k]} -> {v}" for k, v in settings.items() if k in old and old[k] != v]
        old_frames = dict(old.get("frames_per_video") or {})
        for split in sorted({i.split for i in items if i.dataset == dataset}):
            count = options.frames_for(split)
            if split in old_frames and old_frames[split] != count:
                changed.append(f"frames per {split} video {old_frames[split]} -> {count}")
            old_frames[split] = count
        if changed:
            raise ValueError(
                f"{prep_dir} already holds {dataset} prepared with other settings ({', '.join(changed)}); "
                "use the same settings to resume, or another --out"
            )
        manifest[dataset] = {**old, **settings, "frames_per_video": old_frames}
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _drop_unfinished(prep_dir: Path, done: set[str]) -> None:
    """Remove index lines of sources that have no finished log line (a run killed mid-source)."""
    if not index_path(prep_dir).is_file():
        return
    records = read_index(prep_dir)
    kept = [r for r in records if r.video_id in done]
    if len(kept) != len(records):
        logger.info("dropping %d index lines of unfinished sources", len(records) - len(kept))
        write_index(prep_dir, kept)


def prepare_sources(
    items: list[SourceItem],
    prep_dir: str | Path,
    options: PrepareOptions | None = None,
    *,
    compression: str | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
    run: RunSources | None = None,
) -> PrepareSummary:
    """Prepare ``items`` into ``prep_dir`` (resumable, parallel); returns counts and the failures.

    ``run(todo, prep_dir, options)`` yields one :class:`SourceResult` per unfinished source, in any order; the
    default runs :func:`process_source` here or in ``options.workers`` processes (``laanet.scale.ray_prepare``
    passes one that runs on a Ray cluster). Whatever runs them, this function keeps the books.
    """
    options = options or PrepareOptions()
    options.check()
    from laanet.faces import BACKENDS

    if options.detector is not None and options.detector not in BACKENDS:
        raise ValueError(f"unknown face detector {options.detector!r}; choose from {', '.join(BACKENDS)}")
    prep_dir = Path(prep_dir)
    prep_dir.mkdir(parents=True, exist_ok=True)
    ids = [i.video_id for i in items]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate video ids in the source list")  # a layout bug; ids must be unique
    _check_manifest(prep_dir, items, {"compression": compression, "crop_size": options.crop_size}, options)
    status = _read_log(prep_dir)
    done = {vid for vid, st in status.items() if st in ("ok", "no_face")}
    _drop_unfinished(prep_dir, done)
    todo = [i for i in items if i.video_id not in done]
    summary = PrepareSummary(total=len(items), skipped=len(items) - len(todo))
    if summary.skipped:
        logger.info("resuming: %d of %d sources already prepared", summary.skipped, len(items))

    log_file = (prep_dir / LOG_NAME).open("a", encoding="utf-8")
    bar = _progress(len(todo), options.progress)

    def record(result: SourceResult) -> None:
        append_records(prep_dir, result.records)  # records first, then the log line that marks the source done
        log_file.write(result.log_line() + "\n")
        log_file.flush()
        setattr(summary, result.status, getattr(summary, result.status) + 1)
        summary.crops += len(result.records)
        if result.status != "ok":
            summary.failures.append((result.video_id, result.status, result.message))
        if on_result is not None:
            on_result(result)
        bar.update(1)
        bar.set_postfix(ok=summary.ok, no_face=summary.no_face, failed=summary.failed, refresh=False)

    try:
        for result in (run or run_local)(todo, prep_dir, options):
            record(result)
    finally:
        bar.close()
        log_file.close()
    return summary


def run_local(todo: list[SourceItem], prep_dir: Path, options: PrepareOptions) -> Iterator[SourceResult]:
    """:func:`process_source` over ``todo`` in this process, or in ``options.workers`` processes."""
    if options.workers <= 0:
        for item in todo:
            yield process_source(item, prep_dir, options)
        return
    ctx = get_context("spawn")  # no fork: parents may hold threads (progress bar, torch)
    with ProcessPoolExecutor(options.workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(logging.getLogger().level,)) as pool:
        pending = set()
        for item in todo:  # keep at most 2 sources per worker in flight
            pending.add(pool.submit(process_source, item, prep_dir, options))
            if len(pending) >= 2 * options.workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
        for fut in pending:
            yield fut.result()


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="video", desc="prepare", disable=not enabled, dynamic_ncols=True)
