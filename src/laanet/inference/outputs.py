"""The files ``laanet detect`` writes: ``results.jsonl`` as results come, ``results.json`` and ``results.csv`` at the end.

- :class:`ResultsLog`: one JSON line per input, appended and flushed as each input finishes, so that a run that
  stops part-way (Ctrl-C, a crash, a full disk) keeps every result it computed; :func:`read_results_log` reads
  it back (a last line cut in the middle by a kill is ignored) for ``--resume``.
- :func:`write_json`: strict JSON (never ``NaN``/``Infinity``: non-finite numbers become ``null``), written to a
  temporary file and renamed, so ``results.json`` is either the previous file or the complete new one.
- :func:`write_csv`: one row per face per frame.

Write failures raise :class:`OutputError` naming the file.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

__all__ = ["CSV_FIELDS", "OutputError", "ResultsLog", "json_safe", "read_results_log", "write_csv", "write_json"]


class OutputError(OSError):
    """A result file or folder could not be written (read-only folder, full disk, ...)."""


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, recursively (dicts, lists, tuples)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``value`` (non-finite numbers → ``null``; anything else non-JSON raises TypeError)."""
    return json.dumps(json_safe(value), allow_nan=False, indent=indent)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented strict JSON, atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    text = dumps(payload, indent=2)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def read_results_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The results recorded in a ``results.jsonl`` (empty when the file does not exist).

    A line that is not complete JSON (the last one, when a run was killed while writing it) is skipped.
    """
    path = Path(path)
    if not path.is_file():
        return []
    results = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and "path" in item:
                results.append(item)
    return results


class ResultsLog:
    """Append-only ``results.jsonl``: :meth:`write` adds one line per result and flushes it at once.

    Args:
        path: the ``.jsonl`` file.
        append: keep what the file holds (``--resume``); otherwise it is emptied. A last line left incomplete
            by a killed run is cut off before appending.
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = False) -> None:
        self.path = Path(path)
        try:
            if append and self.path.is_file():
                _drop_incomplete_last_line(self.path)
            self._fh: IO[str] = open(self.path, "a" if append else "w", encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from None

    def write(self, result: dict[str, Any]) -> None:
        try:
            self._fh.write(dumps(result) + "\n")
            self._fh.flush()
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from None

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_incomplete_last_line(path: Path) -> None:
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


CSV_FIELDS = [
    "path", "kind", "status", "file_score", "label", "frame_index", "time_s", "frame_score",
    "face_index", "x1", "y1", "x2", "y2", "face_score", "heatmap", "error",
    "person", "file_person", "flags", "calibrated", "file_probability", "file_band", "face_probability", "face_band",
]


def write_csv(path: str | os.PathLike, results: Iterable[dict[str, Any]]) -> Path:
    """One row per face per frame; a file without faces gets one row with empty face fields.

    ``person``: the face's person (track) id; ``file_person``: the person the file's verdict comes from;
    ``flags``: the result's flag codes, ``;``-separated (a ``no_face`` file has an empty ``label``).
    ``calibrated`` (true/false), ``file_probability``/``file_band`` and ``face_probability``/``face_band``: the
    calibrated probability of being fake and the decision band (``likely real``, ``uncertain``, ``likely fake``)
    of the file and of the face under ``--calibration``; empty without one."""
    path = Path(path)
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for r in map(json_safe, results):
                base = {"path": r["path"], "kind": r["kind"], "status": r["status"], "file_score": r["score"],
                        "label": r["label"], "error": r["error"], "file_person": r.get("person"),
                        "flags": ";".join(f["code"] for f in r.get("flags") or [])}
                calibration = r.get("calibration") or {}
                base.update({"calibrated": str(bool(calibration.get("calibrated"))).lower(),
                             "file_probability": calibration.get("probability"), "file_band": calibration.get("band")})
                rows = 0
                for frame in r["frames"]:
                    for k, face in enumerate(frame["faces"]):
                        x1, y1, x2, y2 = face["box"]
                        face_calibration = face.get("calibration") or {}
                        writer.writerow({**base, "frame_index": frame["index"], "time_s": frame["time_s"],
                                         "frame_score": frame["score"], "face_index": k, "x1": x1, "y1": y1, "x2": x2,
                                         "y2": y2, "face_score": face["score"], "heatmap": face.get("heatmap"),
                                         "person": face.get("person"),
                                         "face_probability": face_calibration.get("probability"),
                                         "face_band": face_calibration.get("band")})
                        rows += 1
                if not rows:
                    writer.writerow(base)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    return path
