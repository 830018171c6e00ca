"""The endpoints: ``GET /health``, ``POST /v1/detect``, the jobs (``POST /v1/jobs``, ``GET`` / ``DELETE
/v1/jobs/{id}``) and the web page at ``GET /``."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.requests import ClientDisconnect

from laanet.service.admission import Admission
from laanet.service.deps import get_admission, get_detector, get_jobs, get_monitor, get_settings, get_worker
from laanet.service.errors import (
    BadRequest, InternalError, InvalidField, JobNotDone, JobNotFound, ServiceError, UploadTimeout,
)
from laanet.service.health import HealthMonitor
from laanet.service.inference import DetectOptions, InferenceWorker, analyse_upload
from laanet.service.job_store import valid_job_id
from laanet.service.jobs import JobRunner
from laanet.service.openapi import (
    DETECT_REQUEST, DETECT_RESPONSES, HEALTH_RESPONSES, JOB_DELETE_RESPONSES, JOB_GET_RESPONSES, JOB_REPORT_RESPONSES,
    JOB_SUBMIT_RESPONSES,
)
from laanet.service.settings import ServeSettings
from laanet.service.uploads import Upload, receive_upload

_log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
T = TypeVar("T")
PUBLIC_MODEL_KEYS = (  # what /health tells about the model: no paths, no training command line
    "weights", "weights_sha256", "name", "format", "backend", "device", "input_size", "dtype", "parameters", "epoch",
    "step", "flip_test", "threshold", "frames_per_video", "face_backend", "family", "model_name",
    "calibration", "operating_point", "decision_threshold",
)
NO_SUCH_JOB = "no such job (it never existed, was deleted, or is past the retention limit)"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}

FORM_FIELDS = ("frames", "flip_test", "threshold", "overlays", "heatmaps")

router = APIRouter()


@router.get("/health", responses=HEALTH_RESPONSES)
async def health(
    detector=Depends(get_detector),
    admission: Admission = Depends(get_admission),
    monitor: HealthMonitor = Depends(get_monitor),
    jobs: JobRunner = Depends(get_jobs),
    settings: ServeSettings = Depends(get_settings),
) -> JSONResponse:
    """200 with ``status: ok`` while the model passes its self-check; 503 with ``status: error`` and the
    reason in ``problem`` while it is broken. Never shows server paths or how the weights were trained."""
    monitor.poll()
    report = monitor.report()
    body = {
        "status": report.pop("status"),
        "problem": report.pop("problem"),
        "model": public_model_info(detector.model_info),
        "limits": {
            "max_upload_mb": settings.max_upload_mb,
            "max_concurrency": settings.max_concurrency,
            "queue_size": settings.queue_size,
            "max_uploads": settings.max_uploads,
            "upload_timeout_s": settings.upload_timeout_s,
            "max_frames": settings.max_frames,
            "default_frames": settings.inference.frames,
            "default_flip_test": settings.inference.flip_test,
        },
        "in_progress": admission.running,
        "queued": admission.queued,
        "uploading": admission.uploading,
        **report,
        "jobs": {"queued": (counts := jobs.store.counts())["queued"], "running": counts["running"],
                 "max_jobs": settings.max_jobs, "workers": settings.job_workers},
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.post("/v1/detect", openapi_extra=DETECT_REQUEST, responses=DETECT_RESPONSES)
async def detect(
    request: Request,
    admission: Admission = Depends(get_admission),
    monitor: HealthMonitor = Depends(get_monitor),
    worker: InferenceWorker = Depends(get_worker),
    settings: ServeSettings = Depends(get_settings),
) -> JSONResponse:
    """Multipart ``file`` (+ optional ``frames``, ``flip_test``, ``threshold``, ``overlays``, ``heatmaps``) →
    one result (``laanet/schemas/result.schema.json``, part ``result``).

    The body is received without holding an analysis slot (within ``upload_timeout_s``); the complete
    upload then takes a slot or waits in the bounded queue.
    """
    started = time.perf_counter()
    monitor.poll()
    monitor.raise_if_unavailable()  # 503 while the model is broken, before reading the body
    admission.begin_upload()  # 503 at once when the uploads or the queue are full
    try:
        folder = Path(tempfile.mkdtemp(prefix="laanet-upload-", dir=settings.upload_dir))
    except OSError:
        admission.end_upload()
        raise
    job: concurrent.futures.Future | None = None
    holds_slot, failure = False, None
    timing: dict[str, float] = {}
    try:
        upload = await _receive(request, folder, admission, settings)
        options = parse_options(upload.fields, settings)
        timing["upload"] = time.perf_counter() - started
        # 503 when the queue is full or the wait too long; a client that leaves meanwhile loses its place
        await _acquire_while_connected(admission, settings.queue_timeout_s, request.receive)
        holds_slot = True
        timing["queue"] = time.perf_counter() - started - timing["upload"]
        job = worker.submit(_timed, timing, analyse_upload, request.app.state.detector, upload, options)
        entry = await asyncio.wrap_future(job)
    except ClientDisconnect:
        raise BadRequest("the client disconnected before its answer was ready") from None
    except (ServiceError, asyncio.CancelledError):
        raise
    except Exception as err:  # answered here, so the connection stays usable (uvicorn drops it on an escaped error)
        _log.exception("POST /v1/detect failed")
        failure = err
    finally:
        _release_when_done(job, folder, admission if holds_slot else None, timing)
    if failure is not None:
        await monitor.request_failed(failure)  # checks the model (and reloads it if the check fails)
        raise InternalError("internal server error (see the server log)")
    _log.info("%s: %s %s in %.2f s", upload.filename, entry["status"], entry["label"], time.perf_counter() - started)
    server_timing = ", ".join(f"{name};dur={seconds * 1e3:.1f}" for name, seconds in timing.items())
    return JSONResponse(entry, headers={"Server-Timing": server_timing})


async def _receive(request: Request, folder: Path, admission: Admission, settings: ServeSettings) -> Upload:
    """Stream the request's multipart body into ``folder`` within ``upload_timeout_s``, holding the upload place
    taken by :meth:`Admission.begin_upload` (given back here, whatever happens). Used by ``/v1/detect`` and
    ``/v1/jobs`` alike."""
    try:
        async with asyncio.timeout(settings.upload_timeout_s):
            return await receive_upload(
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                request.stream(),
                folder,
                settings.max_upload_bytes,
            )
    except TimeoutError:
        raise UploadTimeout(
            f"the upload did not arrive within {settings.upload_timeout_s:g} s", headers={"Connection": "close"}
        ) from None
    finally:
        admission.end_upload()


@router.post("/v1/jobs", status_code=202, openapi_extra=DETECT_REQUEST, responses=JOB_SUBMIT_RESPONSES)
async def submit_job(
    request: Request,
    admission: Admission = Depends(get_admission),
    monitor: HealthMonitor = Depends(get_monitor),
    jobs: JobRunner = Depends(get_jobs),
    settings: ServeSettings = Depends(get_settings),
) -> JSONResponse:
    """The same multipart upload and fields as ``POST /v1/detect``, analysed in the background: 202 with the
    job (``id``, ``status: queued``) and its URL in ``Location``. Poll ``GET /v1/jobs/{id}``."""
    monitor.poll()
    monitor.raise_if_unavailable()
    jobs.check_room()  # 503 before the body is read when max_jobs jobs are queued or running
    admission.begin_upload(check_queue=False)  # an upload place; the analysis queue is the jobs' own
    try:
        job_id, folder = jobs.new_folder()
    except OSError:
        admission.end_upload()
        raise
    try:
        upload = await _receive(request, folder, admission, settings)
        options = parse_options(upload.fields, settings)
        job = jobs.add(job_id, upload, options)  # 503 if the queue filled up meanwhile
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    location = f"/v1/jobs/{job.id}"
    return JSONResponse(jobs.describe(job), status_code=202, headers={"Location": location})


@router.get("/v1/jobs/{job_id}", responses=JOB_GET_RESPONSES)
async def get_job(job_id: str, jobs: JobRunner = Depends(get_jobs)) -> JSONResponse:
    """The job's status and progress; once ``done``, its ``result`` (the same as ``POST /v1/detect`` answers)."""
    job = _job_or_404(jobs, job_id)
    body = jobs.describe(job)
    if job.status == "done":
        try:
            body["result"] = await asyncio.to_thread(jobs.read_result, job_id)
        except (OSError, ValueError) as err:
            _log.error("job %s…: cannot read its result: %s", job_id[:6], err)
            raise InternalError("the job's result file cannot be read (see the server log)") from None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/v1/jobs/{job_id}/report", response_class=HTMLResponse, responses=JOB_REPORT_RESPONSES)
async def job_report(job_id: str, jobs: JobRunner = Depends(get_jobs)) -> HTMLResponse:
    """The finished job's report, as ``laanet report`` writes it: verdict, band, flags, people, timeline, the most
    suspicious frames, provenance and the model card, in one HTML file to save, print or attach (409 until done)."""
    job = _job_or_404(jobs, job_id)
    if job.status != "done":
        raise JobNotDone(f"the job is {job.status}: a report needs its result"
                         + (" (retry when it is done)" if not job.finished else ""))
    try:
        html = await asyncio.to_thread(_render_report, jobs.result_file(job_id), job.filename)
    except (OSError, ValueError) as err:
        _log.error("job %s…: cannot make its report: %s", job_id[:6], err)
        raise InternalError("the job's report cannot be made (see the server log)") from None
    from laanet.report.template import CSP

    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                       "Cache-Control": "no-store"})


def _job_or_404(jobs: JobRunner, job_id: str):
    """The job ``job_id``; 404 for an unknown, deleted, purged or malformed id (one answer for all)."""
    job = jobs.get(job_id) if valid_job_id(job_id) else None
    if job is None:
        raise JobNotFound(NO_SUCH_JOB)
    return job


def _render_report(result_file: Path, filename: str) -> str:
    from laanet.report import load_results, render_report

    return render_report(load_results(result_file), title=f"laanet report: {filename}")


@router.delete("/v1/jobs/{job_id}", responses=JOB_DELETE_RESPONSES)
async def delete_job(job_id: str, jobs: JobRunner = Depends(get_jobs)) -> JSONResponse:
    """Cancel a queued job (200, ``cancelled``); stop a running one at its next frame (202, still ``running``
    with ``cancel_requested``, then ``cancelled``); delete a finished one and its result (200, ``deleted``)."""
    before = _job_or_404(jobs, job_id)
    job, running = jobs.cancel(job_id)
    if job is None:  # it was finished: now deleted
        return JSONResponse({"id": job_id, "status": before.status, "deleted": True})
    body = jobs.describe(job)
    if running:
        body["detail"] = "the job is running: it stops at its next frame (GET it to see it cancelled)"
    return JSONResponse(body, status_code=202 if running else 200)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


def parse_options(fields: dict[str, str], settings: ServeSettings) -> DetectOptions:
    """Validate the optional form fields; unknown names are refused (a typo should not pass silently)."""
    unknown = sorted(set(fields) - set(FORM_FIELDS))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise InvalidField(f"unknown form field(s) {names}; expected {', '.join(FORM_FIELDS)}")
    frames = settings.inference.frames
    if fields.get("frames", "").strip():
        try:
            frames = int(fields["frames"])
        except ValueError:
            raise InvalidField(f"frames must be an integer, got {fields['frames']!r}") from None
        if not 1 <= frames <= settings.max_frames:
            raise InvalidField(f"frames must be between 1 and {settings.max_frames}, got {frames}")
    threshold = settings.inference.threshold
    if fields.get("threshold", "").strip():
        try:
            threshold = float(fields["threshold"])
        except ValueError:
            raise InvalidField(f"threshold must be a number, got {fields['threshold']!r}") from None
        if not 0.0 <= threshold <= 1.0:  # also refuses nan
            raise InvalidField(f"threshold is a probability in [0, 1], got {fields['threshold']!r}")
    return DetectOptions(
        frames=frames,
        flip_test=_parse_bool(fields, "flip_test", settings.inference.flip_test),
        threshold=threshold,
        overlays=_parse_bool(fields, "overlays", True),
        heatmaps=_parse_bool(fields, "heatmaps", False),
        overlay_max_side=settings.overlay_max_side,
        max_pixels=settings.max_pixels,
    )


def public_model_info(info: dict) -> dict:
    """The :data:`PUBLIC_MODEL_KEYS` of ``Detector.model_info``, with the weights' file name instead of its path."""
    public = {k: info[k] for k in PUBLIC_MODEL_KEYS if k in info}
    if isinstance(public.get("weights"), str):
        public["weights"] = Path(public["weights"]).name
    return public


def _parse_bool(fields: dict[str, str], name: str, default: bool) -> bool:
    value = fields.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidField(f"{name} must be true or false, got {fields[name]!r}")


async def _acquire_while_connected(admission: Admission, timeout_s: float, receive: Callable) -> None:
    """Wait for an analysis slot (:meth:`Admission.acquire`), unless the client disconnects first.

    Raises:
        ServiceBusy: no slot (queue full, or none within ``timeout_s``).
        ClientDisconnect: the client left while waiting (its place goes to the next request).
    """
    acquire = asyncio.ensure_future(admission.acquire(timeout_s))
    gone = asyncio.ensure_future(_disconnected(receive))
    kept = False
    try:
        await asyncio.wait({acquire, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not acquire.done():
            _log.info("a client left while its request was queued")
            raise ClientDisconnect()
        acquire.result()  # ServiceBusy, or the slot is ours
        kept = True
    finally:
        gone.cancel()
        if not acquire.done():
            acquire.cancel()
            await asyncio.gather(acquire, return_exceptions=True)
        elif not kept and not acquire.cancelled() and acquire.exception() is None:
            admission.release()  # a slot nobody will use (this request was cancelled meanwhile)


async def _disconnected(receive: Callable) -> None:
    """Return when the client disconnects (the request body has been read: nothing else can arrive)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _timed(timing: dict[str, float], fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` (on an inference thread), recording its duration as ``timing["analyse"]``."""
    began = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timing["analyse"] = time.perf_counter() - began


def _release_when_done(
    job: concurrent.futures.Future | None, folder: Path, admission: Admission | None, timing: dict[str, float]
) -> None:
    """Delete the request's folder and free its analysis slot, once the inference threads are done with them."""
    loop = asyncio.get_running_loop()

    def release(_: object = None) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        if admission is None:
            return
        if _in_loop(loop):
            admission.release(timing.get("analyse"))
        else:  # a done-callback on an inference thread: the admission lives on the event loop
            with contextlib.suppress(RuntimeError):  # the loop is already closed (server stopped)
                loop.call_soon_threadsafe(admission.release, timing.get("analyse"))

    if job is None or job.done():
        release()
    else:  # the request was cancelled while its job runs: clean up when the job ends
        job.add_done_callback(release)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
