"""Asynchronous jobs: ``POST /v1/jobs`` queues an upload, job workers analyse it, ``GET`` polls, ``DELETE`` cancels.

The jobs and their results live in a :class:`~laanet.service.job_store.JobStore` (SQLite + files), so they
survive the server: a restart, or a crash, loses no finished result. On start-up the jobs a previous server
left are settled (:meth:`JobStore.recover`): queued ones stay queued; a job that was running is **re-queued**
and runs again from the start, unless the server died running it twice already (then it is ``failed`` with the
reason ``interrupted``: the file may be what kills the server).

``job_workers`` workers (asyncio tasks) take the oldest queued job each. A worker first takes an analysis slot
from :class:`~laanet.service.admission.Admission`, in the same FIFO as ``POST /v1/detect`` requests, so jobs
and direct requests share the inference threads fairly; the analysis itself is
:func:`~laanet.service.inference.analyse_upload`, the same as ``/v1/detect``'s, with the detector's progress
callback counting frames. Cancelling a running job makes that callback raise: the analysis stops at the next
frame. A graceful stop (Ctrl-C, SIGTERM) interrupts running jobs the same way and re-queues them without
counting the attempt.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from laanet.media.image import IMAGE_EXTENSIONS
from laanet.service.admission import Admission
from laanet.service.errors import ServiceBusy, ServiceError
from laanet.service.health import HealthMonitor
from laanet.service.inference import DetectOptions, InferenceWorker, analyse_upload
from laanet.service.job_store import JobRecord, JobStore
from laanet.service.settings import ServeSettings
from laanet.service.uploads import Upload

_log = logging.getLogger(__name__)
PURGE_INTERVAL_S = 60.0  # retention is also applied after every finished job
BUSY_RETRY_S = 0.5  # a worker that found no analysis slot (queue full) tries again after this
UNAVAILABLE_RETRY_S = 1.0  # a worker waits this long while the model fails its self-check
PROGRESS_SAVE_S = 1.0  # running jobs' progress is written to the database at most this often
STOP_GRACE_S = 30.0  # at shutdown, running jobs have this long to reach their next progress point
DEFAULT_JOB_S = 5.0  # Retry-After estimate before any job has finished
MAX_RETRY_AFTER_S = 3600


class JobCancelled(Exception):
    """Raised in the progress callback of a running job whose cancellation was asked for."""


class JobInterrupted(Exception):
    """Raised in the progress callback of running jobs when the server stops."""


@dataclass
class _Live:
    """A running job's progress (written on the inference thread, read on the event loop)."""

    done: int = 0
    total: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    saved_at: float = 0.0


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


class JobRunner:
    """The job queue's workers, cancellation, retention and answers.

    Args:
        settings: the service settings (``jobs_dir``, ``max_jobs``, ``job_workers``, ``job_retention_s``,
            ``job_keep``, and the upload and queue settings shared with ``/v1/detect``).
        state: ``app.state``; ``state.detector`` is the detector in use when a job starts.
        worker: the inference threads.
        admission: analysis slots (shared with ``/v1/detect``).
        monitor: the model's health (jobs wait while it fails its self-check).
    """

    def __init__(self, settings: ServeSettings, state: Any, worker: InferenceWorker, admission: Admission,
                 monitor: HealthMonitor) -> None:
        self.settings, self.state, self.worker, self.admission, self.monitor = settings, state, worker, admission, monitor
        self._temporary = settings.jobs_dir is None
        self.store = JobStore(Path(settings.jobs_dir) if settings.jobs_dir is not None else Path())
        self._live: dict[str, _Live] = {}
        self._wake = asyncio.Event()
        self._stopping = threading.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[int] = set()  # workers running a job now
        self._recent_s: deque[float] = deque(maxlen=16)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def open(self) -> dict[str, int]:
        """Open the store, settle what a previous server left and apply the retention; the recovery counts."""
        if self._temporary:
            self.store = JobStore(Path(tempfile.mkdtemp(prefix="laanet-jobs-")))
        self.store.open()
        try:
            outcome = self.store.recover()
            self.purge()
        except BaseException:
            self.store.close()
            raise
        if any(outcome.values()):
            _log.info("jobs left by the previous server: %s", ", ".join(f"{k} {v}" for k, v in outcome.items() if v))
        return outcome

    def start(self) -> None:
        """Start the workers and the retention timer (on the running event loop)."""
        self._tasks = [asyncio.ensure_future(self._work(n)) for n in range(self.settings.job_workers)]
        self._tasks.append(asyncio.ensure_future(self._purge_every(PURGE_INTERVAL_S)))
        if self.store.counts()["queued"]:
            self._wake.set()

    async def close(self) -> None:
        """Stop: running jobs are interrupted at their next progress point and re-queued; the store closes."""
        self._stopping.set()
        self._wake.set()
        workers, purger = self._tasks[:-1], self._tasks[-1:]
        for number, task in enumerate(workers):
            if number not in self._busy:  # waiting for work or a slot: nothing to finish
                task.cancel()
        for task in purger:
            task.cancel()
        if workers:
            _, pending = await asyncio.wait(workers, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await asyncio.gather(*purger, return_exceptions=True)
        self.store.close()
        if self._temporary:
            shutil.rmtree(self.store.root, ignore_errors=True)

    # -- submitting, reading, cancelling -------------------------------------------------------------------

    def check_room(self) -> None:
        """503 with ``Retry-After`` when ``max_jobs`` jobs are already queued or running (before any upload)."""
        counts = self.store.counts()
        if counts["queued"] + counts["running"] >= self.settings.max_jobs:
            raise self.busy()

    def busy(self) -> ServiceBusy:
        counts = self.store.counts()
        unfinished = counts["queued"] + counts["running"]
        per_job = sum(self._recent_s) / len(self._recent_s) if self._recent_s else DEFAULT_JOB_S
        seconds = int(min(MAX_RETRY_AFTER_S, max(1, math.ceil(per_job * max(1, unfinished) / self.settings.job_workers))))
        return ServiceBusy(
            f"busy: the job queue is full ({unfinished} of {self.settings.max_jobs} jobs queued or running); "
            f"retry in about {seconds} s", headers={"Retry-After": str(seconds)},
        )

    def new_folder(self) -> tuple[str, Path]:
        """A new job id and the folder its upload is received into."""
        return self.store.new_folder()

    def add(self, job_id: str, upload: Upload, options: DetectOptions) -> JobRecord:
        """Queue the received ``upload`` (already in the job's folder).

        Raises:
            ServiceBusy: the queue filled up while the file was being received (the folder is removed).
        """
        job = self.store.add(job_id, filename=upload.filename, extension=upload.extension, size=upload.size,
                             options=asdict(options), max_unfinished=self.settings.max_jobs)
        if job is None:
            shutil.rmtree(self.store.folder(job_id), ignore_errors=True)
            raise self.busy()
        _log.info("job %s… queued: %s (%d bytes)", job_id[:6], upload.filename, upload.size)
        self._wake.set()
        return job

    def get(self, job_id: str) -> JobRecord | None:
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> tuple[JobRecord | None, bool]:
        """Cancel (queued), ask to stop (running) or delete (finished) ``job_id``.

        Returns:
            (the job after the change, or None if there is none / it was deleted, whether it is still running).
        """
        if self.store.cancel_queued(job_id):
            return self.store.get(job_id), False
        if self.store.request_cancel(job_id):
            live = self._live.get(job_id)
            if live is not None:
                live.cancel.set()
            return self.store.get(job_id), True
        job = self.store.get(job_id)
        if job is not None and job.finished:
            self.store.delete(job_id)
        return None, False

    def describe(self, job: JobRecord) -> dict[str, Any]:
        """The job as the API shows it (without its result)."""
        live = self._live.get(job.id) if job.status == "running" else None
        done, total = (live.done, live.total) if live is not None else (job.progress_done, job.progress_total)
        return {
            "id": job.id,
            "status": job.status,
            "file": {"name": job.filename, "size": job.size,
                     "kind": "image" if job.extension in IMAGE_EXTENSIONS else "video"},
            "created_at": iso(job.created_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
            "progress": {"done": done, "total": total, "unit": "frames"},
            "position": self.store.position(job) if job.status == "queued" else None,
            "attempts": job.attempts,
            "cancel_requested": job.cancel_requested,
            "error": None if job.error_code is None else {"error": job.error_code, "detail": job.error},
            "note": job.note,
            "result": None,
        }

    def read_result(self, job_id: str) -> dict[str, Any]:
        return self.store.read_result(job_id)

    def result_file(self, job_id: str) -> Path:
        """The finished job's result file (one result, ``result.schema.json``)."""
        return self.store.result_path(job_id)

    # -- retention -----------------------------------------------------------------------------------------

    def purge(self) -> list[str]:
        """Delete the finished jobs beyond the retention (``job_retention_s``, ``job_keep``)."""
        return self.store.purge(self.settings.job_retention_s, self.settings.job_keep)

    async def _purge_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await asyncio.to_thread(self.purge)
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                _log.exception("purging finished jobs failed")

    # -- the workers ---------------------------------------------------------------------------------------

    async def _work(self, number: int) -> None:
        while not self._stopping.is_set():
            await self._wake.wait()
            if self._stopping.is_set():
                return
            if self.monitor.status != "ok":  # no point failing every job while the model is broken
                self.monitor.poll()
                await asyncio.sleep(UNAVAILABLE_RETRY_S)
                continue
            try:
                await self.admission.acquire(self.settings.queue_timeout_s)
            except ServiceBusy:
                await asyncio.sleep(BUSY_RETRY_S)
                continue
            try:
                job = None if self._stopping.is_set() else self.store.claim_next()
            except Exception:  # noqa: BLE001 - a database error must not end the worker
                _log.exception("cannot take the next job")
                self.admission.release()
                await asyncio.sleep(UNAVAILABLE_RETRY_S)
                continue
            if job is None:
                self.admission.release()
                self._wake.clear()
                continue
            self._busy.add(number)
            try:
                await self._run(job)
            except Exception:  # noqa: BLE001 - e.g. the store failed while recording the outcome
                _log.exception("job %s… could not be completed", job.id[:6])
            finally:
                self._busy.discard(number)

    async def _run(self, job: JobRecord) -> None:
        """Run one claimed job on an inference thread (holding an analysis slot, freed when it ends)."""
        live = self._live[job.id] = _Live()
        began = time.perf_counter()
        future = self.worker.submit(self._execute, job, live)
        loop = asyncio.get_running_loop()

        def finished(_: object) -> None:  # on the inference thread, or here if the job never ran
            self._live.pop(job.id, None)
            with contextlib.suppress(RuntimeError):  # the loop is closed (server gone)
                loop.call_soon_threadsafe(self.admission.release, time.perf_counter() - began)

        future.add_done_callback(finished)
        try:
            failure = await asyncio.wrap_future(future)
        except concurrent.futures.CancelledError:  # the executor shut down before the job started
            self.store.requeue(job.id, job.note or "", count_attempt=False)
            return
        self._recent_s.append(time.perf_counter() - began)
        if failure is not None:
            await self.monitor.request_failed(failure)  # checks the model (and reloads it if broken)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.purge)

    def _execute(self, job: JobRecord, live: _Live) -> BaseException | None:
        """Blocking, on an inference thread: analyse the job's file and store its outcome. Returns the error
        of an unexpected failure (the caller then checks the model), else None."""
        store = self.store
        upload = Upload(path=store.upload_path(job), filename=job.filename, extension=job.extension, size=job.size)
        known = {f.name for f in fields(DetectOptions)}  # a row written by another laanet version may differ
        options = DetectOptions(**{k: v for k, v in job.options.items() if k in known})

        def check() -> None:
            if live.cancel.is_set():
                raise JobCancelled
            if self._stopping.is_set():
                raise JobInterrupted

        def on_total(total: int) -> None:
            live.total = total
            store.set_progress(job.id, 0, total)
            check()

        def on_frames(count: int) -> None:
            check()
            live.done = min(live.done + count, live.total or live.done + count)
            now = time.monotonic()
            if now - live.saved_at >= PROGRESS_SAVE_S:
                live.saved_at = now
                store.set_progress(job.id, live.done, live.total)

        try:
            if job.cancel_requested:
                raise JobCancelled
            entry = analyse_upload(self.state.detector, upload, options, on_frames=on_frames, on_total=on_total)
        except JobCancelled:
            store.set_progress(job.id, live.done, live.total)
            store.finish(job.id, "cancelled", "cancelled",
                         f"cancelled while running, after {live.done} of {live.total or '?'} frames")
            _log.info("job %s… cancelled while running", job.id[:6])
        except JobInterrupted:
            store.requeue(job.id, "resumed: the server was stopped while this job was running, so it ran again",
                          count_attempt=False)
            _log.info("job %s… interrupted by the shutdown; it stays queued", job.id[:6])
        except ServiceError as err:  # the file's fault: 413 / 415 / 422 as /v1/detect would answer
            store.finish(job.id, "failed", err.code, err.message)
            _log.info("job %s… failed: %s", job.id[:6], err.message)
        except Exception as err:  # noqa: BLE001 - the job fails; the caller checks the model
            _log.exception("job %s… failed unexpectedly", job.id[:6])
            store.finish(job.id, "failed", "internal", "internal error while analysing the file (see the server log)")
            return err
        else:
            frames = len(entry.get("frames") or [])
            store.set_progress(job.id, frames, frames)
            store.save_result(job.id, entry)
            _log.info("job %s… done: %s %s", job.id[:6], entry.get("status"), entry.get("label"))
        return None
