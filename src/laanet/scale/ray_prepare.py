"""``laanet prepare --ray``: one Ray task per source (video → sampled frames → faces → stored crops).

Each task runs the local per-source worker, :func:`laanet.data.prepare.process_source`, on a Ray worker: it
decodes the video, detects the faces, writes the crop PNGs under ``PREP/crops/`` and returns the index records.
The driver keeps the books with :func:`laanet.data.prepare.prepare_sources` exactly as a local run does
(``index.jsonl``, ``prepare_log.jsonl``, ``prepare.json``, resume, progress bar, failure summary), so a folder
prepared on Ray and one prepared locally hold the same crops and the same records (in completion order, as
with ``--workers``), and either can resume the other.

The sources and ``PREP`` must be on storage every node mounts at the same path (docs/scale.md). A Ray worker
process is reused across tasks, so each loads its face analyser once. A task whose worker dies (killed for
memory, a crashing decoder) is retried once by Ray, then recorded as ``failed`` (retried on the next run).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Callable

from laanet.data.prepare import PrepareOptions, PrepareSummary, SourceResult, prepare_sources, process_source
from laanet.data.sources import SourceItem
from laanet.scale.ray_cluster import RayOptions, connect, max_in_flight

__all__ = ["prepare_sources_ray", "run_on_ray"]


def _prepare_one(item: SourceItem, prep_dir: str, options: PrepareOptions) -> SourceResult:
    """The Ray task: the local per-source worker, unchanged."""
    return process_source(item, prep_dir, options)


def _absolute(item: SourceItem) -> SourceItem:
    """``item`` with absolute file paths (a Ray worker may not share the driver's working directory)."""
    absolute = lambda p: None if p is None else Path(os.path.abspath(p))  # noqa: E731
    return dataclasses.replace(item, path=absolute(item.path), frames=tuple(map(absolute, item.frames)),
                               landmarks=tuple(map(absolute, item.landmarks)))


def _collect(ray: Any, ref: Any, item: SourceItem) -> SourceResult:
    """The task's result; a task that failed as a whole becomes a ``failed`` result (FaceBackendError is raised)."""
    from ray.exceptions import RayError, RayTaskError

    from laanet.faces import FaceBackendError

    try:
        return ray.get(ref)
    except RayTaskError as err:
        cause = getattr(err, "cause", None) or err
        if isinstance(cause, FaceBackendError):
            raise cause from None  # every source would fail the same way
        return SourceResult(item.video_id, "failed", message=f"{type(cause).__name__}: {cause}")
    except RayError as err:  # the worker or its node died
        first_line = (str(err).strip().splitlines() or [""])[0]
        return SourceResult(item.video_id, "failed", message=f"Ray {type(err).__name__}: {first_line}")


def run_on_ray(todo: list[SourceItem], prep_dir: Path, options: PrepareOptions, *,
               ray_options: RayOptions) -> Iterator[SourceResult]:
    """One Ray task per source of ``todo``, two per free CPU slot in flight; yields results as they finish."""
    ray = connect(ray_options.address)
    task = ray.remote(num_cpus=ray_options.cpus, max_retries=1)(_prepare_one)
    folder = os.path.abspath(prep_dir)
    task_options = dataclasses.replace(options, workers=0, progress=False)
    limit = max_in_flight(ray, ray_options.cpus)
    queue = iter(todo)
    pending: dict[Any, SourceItem] = {}

    def submit() -> bool:
        item = next(queue, None)
        if item is not None:
            pending[task.remote(_absolute(item), folder, task_options)] = item
        return item is not None

    try:
        while len(pending) < limit and submit():
            pass
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                item = pending.pop(ref)
                yield _collect(ray, ref, item)
                submit()
    finally:
        for ref in pending:  # stopped early (Ctrl-C, a face backend that cannot start): drop the rest
            ray.cancel(ref)


def prepare_sources_ray(
    items: list[SourceItem],
    prep_dir: str | Path,
    options: PrepareOptions | None,
    ray_options: RayOptions,
    *,
    compression: str | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
) -> PrepareSummary:
    """:func:`laanet.data.prepare.prepare_sources` with the sources processed on a Ray cluster."""
    connect(ray_options.address)  # fail before touching PREP when the cluster cannot be reached
    return prepare_sources(items, prep_dir, options, compression=compression, on_result=on_result,
                           run=partial(run_on_ray, ray_options=ray_options))
