"""Read the results of a ``laanet detect --out`` folder for a report.

The folder holds ``results.json`` once a run has finished (provenance once, then one entry per input) and
``results.jsonl`` while it runs (one complete result per line, each with its provenance); ``run.json`` records
the model the run used. A report can be written from either: a run stopped part-way still gets one, marked
unfinished.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laanet.inference.outputs import read_results_log

RESULTS_JSON = "results.json"
RESULTS_LOG = "results.jsonl"
RUN_INFO = "run.json"


class ReportError(ValueError):
    """The folder or file given holds no results a report can be made of."""


@dataclass
class RunResults:
    """What a report shows: the entries (one dict per input, ``result.schema.json``) and where they came from.

    Attributes:
        folder: the results folder; overlays are looked up under it (never outside it).
        source: the file the entries were read from (``results.json`` or ``results.jsonl``).
        entries: one dict per input, in input order.
        provenance: the document's provenance (``results.json``), or None.
        model: the model info of ``results.json`` / ``run.json`` (weights, options the run used), or None.
        created: when the results document was written, or None.
        complete: False when only ``results.jsonl`` was found (a run that stopped part-way or still runs).
    """

    folder: Path
    source: Path
    entries: list[dict[str, Any]]
    provenance: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    created: str | None = None
    complete: bool = True


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ReportError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise ReportError(f"{path} is not valid JSON: {err}") from None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def load_results(path: str | os.PathLike) -> RunResults:
    """The results in ``path``: a ``detect --out`` folder, its ``results.json``, or its ``results.jsonl``.

    Raises:
        ReportError: nothing usable there (no such folder, no results file, not JSON, no entries).
    """
    path = Path(path)
    if path.is_dir():
        folder = path
        source = path / RESULTS_JSON if (path / RESULTS_JSON).is_file() else path / RESULTS_LOG
    elif path.is_file():
        folder, source = path.parent, path
    else:
        raise ReportError(f"no such folder or file: {path}")
    if not source.is_file():
        raise ReportError(f"{folder} holds no {RESULTS_JSON} or {RESULTS_LOG} (the output folder of laanet detect --out)")
    if source.suffix == ".jsonl":
        entries = read_results_log(source)
        if not entries:
            raise ReportError(f"{source} holds no results")
        run_info = _read_json(folder / RUN_INFO) if (folder / RUN_INFO).is_file() else {}
        model = _dict_or_none(run_info.get("model")) if isinstance(run_info, dict) else None
        return RunResults(folder, source, entries, provenance=_dict_or_none(entries[-1].get("provenance")),
                          model=model, complete=False)
    document = _read_json(source)
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        entries = [e for e in document["results"] if isinstance(e, dict)]
        return RunResults(folder, source, entries, provenance=_dict_or_none(document.get("provenance")),
                          model=_dict_or_none(document.get("model")), created=_str_or_none(document.get("created")))
    if isinstance(document, dict) and "path" in document:  # one result (Detector.detect(...).save(), a server answer)
        return RunResults(folder, source, [document], provenance=_dict_or_none(document.get("provenance")))
    raise ReportError(f"{source} is not a laanet results document (no \"results\" list)")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
