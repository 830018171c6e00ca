"""A detection run into an output folder that loses nothing when it stops part-way (``laanet detect``).

Output folder::

    OUT/run.json         what the run uses (weights, options), written first; ``resume`` checks it
    OUT/results.jsonl    one line per input, appended and flushed as each input finishes
    OUT/results.json     every result in input order, written once all inputs are done
    OUT/results.csv      the same, one row per face per frame (``csv=True``)
    OUT/heatmaps/        overlays and video timelines (``save_heatmaps=True``)

A run that stops part-way (Ctrl-C, a kill, a crash) keeps ``results.jsonl``; ``resume=True`` skips the inputs
already in it and appends the others, so a large folder can be finished over several runs. Starting a new run
(``resume=False``) into a folder whose ``results.jsonl`` holds an unfinished run is refused, so that forgetting
``--resume`` never throws results away.

An input that makes the detector raise does not end the run: the inputs in flight are scored again one at a time,
the one that fails alone is recorded as an ``error`` result with the exception's message, and batching resumes.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laanet.inference.outputs import OutputError, ResultsLog, read_results_log, write_csv, write_json

__all__ = ["FolderRun", "ResumeError", "detect_to_folder"]

_log = logging.getLogger(__name__)

RESULTS_LOG = "results.jsonl"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
RUN_INFO = "run.json"
HEATMAPS = "heatmaps"
MAX_FAILURES = 8  # detector exceptions in one run before it is stopped (the detector itself is broken)
# Options that change scores or labels: resuming with other values would mix incomparable results.
_SCORE_OPTIONS = ("weights_sha256", "input_size", "flip_test", "threshold", "frames_per_video", "frames", "face_backend")


class ResumeError(ValueError):
    """The output folder holds results that this run must not silently replace or mix with its own."""


class DetectionStopped(RuntimeError):
    """The detector failed on input after input; the run stopped (the results so far are kept)."""


@dataclass
class FolderRun:
    """What :func:`detect_to_folder` did."""

    out_dir: Path
    results: list[dict[str, Any]]  # one per input, in input order (earlier runs' included when resuming)
    scored: int  # inputs scored by this run
    skipped: int  # inputs already in results.jsonl (resume)
    results_json: Path
    results_csv: Path | None

    @property
    def errors(self) -> int:
        return sum(r.get("status") == "error" for r in self.results)


def _key(path: str | os.PathLike) -> str:
    return os.path.normpath(os.path.abspath(path))


def _flat_options(info: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, dict):
            flat.update({k: v for k, v in value.items() if not isinstance(v, dict)})
        else:
            flat[key] = value
    return {k: v for k, v in flat.items() if k in _SCORE_OPTIONS}


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".laanet-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write to {folder}: {err.strerror or err}") from None


def _error_result(path: Path, message: str) -> dict[str, Any]:
    from laanet.inference.results import FileResult
    from laanet.media.image import VIDEO_EXTENSIONS

    kind = "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"
    return FileResult(path=str(path), kind=kind, status="error", error=message).to_dict()


def _score_resilient(detector: Any, inputs: Sequence[Path], heatmap_dir: Path | None,
                     on_frames: Callable[[int], None] | None) -> Iterator[dict[str, Any]]:
    """Result dicts of ``inputs`` in order; inputs that make the detector raise become ``error`` results."""
    pending = deque(inputs)
    failures = 0

    def run(paths: list[Path]) -> Iterator[dict[str, Any]]:
        for result in detector.detect_many(paths, heatmap_dir=heatmap_dir, on_frames=on_frames):
            yield result.to_dict()

    def failed(path: Path, err: Exception) -> None:
        nonlocal failures
        if heatmap_dir is not None:
            _check_writable(heatmap_dir)  # a write failure is the folder's fault, not the input's
        failures += 1
        if failures > MAX_FAILURES:
            raise DetectionStopped(f"the detector failed {failures} times, last near {path}: "
                                   f"{type(err).__name__}: {err}") from err
        _log.warning("detection failed near %s (%s: %s)", path, type(err).__name__, err,
                     exc_info=_log.isEnabledFor(logging.DEBUG))

    while pending:
        try:
            for result in run(list(pending)):
                pending.popleft()
                yield result
            return
        except Exception as err:  # noqa: BLE001 - one bad input must not end a 100,000-file run
            failed(pending[0], err)
        # Find the culprit among the inputs in flight: score them one at a time until one fails alone.
        for _ in range(min(len(pending), 4 * max(1, int(getattr(detector, "batch_size", 8))))):
            path = pending[0]
            try:
                result = next(run([path]), None)
                if result is None:
                    raise RuntimeError("the detector returned no result")
            except Exception as err:  # noqa: BLE001
                failed(path, err)
                pending.popleft()
                yield _error_result(path, f"internal error: {type(err).__name__}: {err}")
                break
            pending.popleft()
            yield result


def detect_to_folder(
    detector: Any,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    save_heatmaps: bool = True,
    csv: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> FolderRun:
    """Score ``inputs`` (files, already expanded) with ``detector`` and write the output folder (module docstring).

    Args:
        detector: a :class:`laanet.Detector` (anything with ``detect_many(paths, heatmap_dir=, on_frames=)``
            yielding results with ``to_dict()``, and ``model_info``).
        resume: skip the inputs already in ``OUT/results.jsonl`` and append to it.
        on_result: called with each new result dict as soon as it is safely written.
        on_frames: progress callback, called as frames are analysed.

    Raises:
        OutputError: the folder or a result file cannot be written (what was written so far stays).
        ResumeError: ``OUT`` holds an unfinished run and ``resume`` is False, or ``resume`` is True but the
            earlier run used other weights or options.
        DetectionStopped: the detector kept failing.
        KeyboardInterrupt: passed on; ``results.jsonl`` keeps every finished input.
    """
    out = Path(out_dir)
    _check_writable(out)
    log_path, json_path, info_path = out / RESULTS_LOG, out / RESULTS_JSON, out / RUN_INFO
    info = {"model": detector.model_info}

    earlier = read_results_log(log_path)
    if resume:
        if earlier and info_path.is_file():
            _check_same_options(info_path, info)
    elif earlier and not json_path.is_file():
        raise ResumeError(f"{out} holds an unfinished run ({len(earlier)} results in {log_path.name}, no "
                          f"{json_path.name}); add --resume to finish it, or delete {log_path} to start again")
    heatmap_dir = out / HEATMAPS if save_heatmaps else None
    if heatmap_dir is not None:
        _check_writable(heatmap_dir)

    done = {_key(r["path"]): r for r in earlier} if resume else {}
    paths = [Path(p) for p in inputs]
    todo = [p for p in paths if _key(p) not in done]
    if not resume or not info_path.is_file():
        write_json(info_path, info)
    try:
        json_path.unlink(missing_ok=True)  # stale until this run completes; fails early when it cannot be replaced
    except OSError as err:
        raise OutputError(f"cannot write {json_path}: {err.strerror or err}") from None
    with ResultsLog(log_path, append=resume) as log:
        for result in _score_resilient(detector, todo, heatmap_dir, on_frames):
            log.write(result)
            done[_key(result["path"])] = result
            if on_result is not None:
                on_result(result)

    results = [done[_key(p)] for p in paths]
    write_json(json_path, _results_document(detector, info, results))
    csv_path = write_csv(out / RESULTS_CSV, results) if csv else None
    return FolderRun(out, results, scored=len(todo), skipped=len(paths) - len(todo), results_json=json_path,
                     results_csv=csv_path)


def _results_document(detector: Any, info: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """``results.json``: schema version, provenance once (``result.schema.json``, part ``document``), the model
    info, and the entries without their per-line provenance (``results.jsonl`` lines keep theirs)."""
    from laanet.inference.results import results_document

    provenance = detector.provenance() if hasattr(detector, "provenance") else None
    entries = [{k: v for k, v in r.items() if k not in ("schema_version", "provenance")} for r in results]
    return {**results_document(entries, provenance), **info}


def _check_same_options(info_path: Path, info: dict[str, Any]) -> None:
    import json

    try:
        before = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return  # unreadable: nothing to compare against
    old, new = _flat_options(before.get("model", {})), _flat_options(info["model"])
    changed = [f"{k} {old[k]!r} -> {new[k]!r}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    if changed:
        raise ResumeError(f"{info_path.parent} holds results made with other options ({'; '.join(changed)}); "
                          "resume with the same options, or use another --out")
