"""``laanet serve``: the detector as an HTTP API and a web page (FastAPI + uvicorn)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from laanet.cli._common import fail
from laanet.cli._options import (
    DEFAULTS, Backend, BackendOption, BatchSizeOption, CalibrationOption, DeviceOption, FaceBackendOption,
    OperatingPointOption, Sha256Option, ThresholdOption, WeightsOption, inference_options,
)

HELP = (
    "Serve the detector over HTTP: a web page at / and a JSON API.\n\n"
    "GET /health answers once the model is loaded. POST /v1/detect takes a multipart 'file' (image or video) with "
    "optional 'frames', 'flip_test' and 'overlays' fields and returns the same JSON as one results.json entry of "
    "'laanet detect', with heatmap overlays as JPEG data URLs.\n\n"
    "Uploads over --max-upload-mb get 413 as soon as the limit is passed; unsupported files 415, undecodable ones "
    "422; a body that does not arrive within --upload-timeout 408. One model instance runs on one worker thread; "
    "a request takes one of --max-concurrency analysis slots only once its upload is complete, or waits in a "
    "queue of --queue-size; beyond that it gets 503 with Retry-After. /health answers 503 while the model fails "
    "its self-check.\n\n"
    "POST /v1/jobs takes the same upload and answers 202 with a job id at once; GET /v1/jobs/ID gives its status, "
    "progress and, when done, the result; DELETE cancels it. Jobs and results are kept in --jobs-dir (SQLite) and "
    "survive restarts; a job the server was running when it stopped runs again.\n\n"
    "With --calibration CAL.json every answer also gives the calibrated probability, the band and the operating "
    "point that decided the label (see docs/calibration.md).\n\n"
    "Listens on 127.0.0.1 by default. There is no authentication: put a proxy in front before exposing it. "
    "See docs/serve.md."
)


class _HideStartupTraceback(logging.Filter):
    """uvicorn logs the lifespan's traceback when the model fails to load; the CLI prints one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ModelLoadError" not in record.getMessage()


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    weights: WeightsOption = None,
    sha256: Sha256Option = None,
    backend: BackendOption = Backend(DEFAULTS["backend"]),
    device: DeviceOption = DEFAULTS["device"],
    threshold: ThresholdOption = DEFAULTS["threshold"],
    frames: Annotated[int, typer.Option(
        "--frames", min=1, help="Frames sampled per video unless a request says otherwise (paper: 32).")] = DEFAULTS["frames"],
    flip_test: Annotated[bool, typer.Option(
        "--flip-test/--no-flip-test", help="Default of the requests' flip_test field: average each face with its mirror.")] = DEFAULTS["flip_test"],
    face_backend: FaceBackendOption = DEFAULTS["face_backend"],
    batch_size: BatchSizeOption = DEFAULTS["batch_size"],
    calibration: CalibrationOption = None,
    operating_point: OperatingPointOption = None,
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", min=0.001, help="Largest accepted upload, MiB."),
    max_concurrency: int = typer.Option(4, "--max-concurrency", min=1, help="Analyses in flight at once (complete uploads only)."),
    inference_threads: int = typer.Option(1, "--inference-threads", min=1, help="Threads sharing the model (1 on a CPU; 2-4 on a GPU)."),
    queue_size: int = typer.Option(16, "--queue-size", min=0, help="Complete uploads that may wait for an analysis slot; more get 503."),
    queue_timeout: float = typer.Option(300.0, "--queue-timeout", min=0.001, help="Seconds a request may wait in that queue (then 503)."),
    max_uploads: int = typer.Option(32, "--max-uploads", min=1, help="Uploads received at once; more get 503 before their body is read."),
    upload_timeout: float = typer.Option(120.0, "--upload-timeout", min=0.001, help="Seconds within which a request body must arrive (else 408)."),
    jobs_dir: Annotated[Path | None, typer.Option(
        "--jobs-dir", help="Folder of the asynchronous jobs (POST /v1/jobs): a SQLite database, uploads and results; "
        "they survive restarts. Default: $LAANET_JOBS_DIR, else <user data dir>/laanet/jobs.")] = None,
    max_jobs: Annotated[int, typer.Option("--max-jobs", min=1, help="Jobs queued or running at once; more get 503 with Retry-After.")] = 64,
    job_workers: Annotated[int, typer.Option("--job-workers", min=1, help="Jobs analysed at once (each takes an analysis slot).")] = 1,
    job_retention: Annotated[str, typer.Option(
        "--job-retention", help="Finished jobs and their results are deleted this long after they finished: "
        "seconds, or 90m / 24h / 7d; 'forever' keeps them.")] = "7d",
    job_keep: Annotated[int, typer.Option("--job-keep", min=0, help="Finished jobs kept at most (the oldest go first).")] = 1000,
) -> None:
    """Serve the detector over HTTP (see the command help)."""
    import uvicorn

    from laanet.inference.detector import default_weights
    from laanet.service import ServeSettings, create_app

    options = inference_options(weights=weights, sha256=sha256, backend=backend, device=device, threshold=threshold,
                                frames=frames, flip_test=flip_test, face_backend=face_backend, batch_size=batch_size,
                                calibration=calibration, operating_point=operating_point)
    if options.weights is None:
        try:
            options = options.replace(weights=str(default_weights()))
        except FileNotFoundError as err:
            raise fail(str(err), code=2) from None
    try:
        settings = ServeSettings(
            options, max_upload_mb=max_upload_mb, max_concurrency=max_concurrency, max_frames=max(128, options.frames),
            inference_threads=inference_threads, queue_size=queue_size, queue_timeout_s=queue_timeout, max_uploads=max_uploads, upload_timeout_s=upload_timeout,
            jobs_dir=jobs_dir or default_jobs_dir(), max_jobs=max_jobs, job_workers=job_workers,
            job_retention_s=parse_duration(job_retention), job_keep=job_keep,
        )
    except ValueError as err:
        raise fail(str(err), code=2) from None

    service = create_app(settings)
    logging.getLogger("uvicorn.error").addFilter(_HideStartupTraceback())
    server = uvicorn.Server(uvicorn.Config(service, host=host, port=port, lifespan="on", log_level="info"))
    try:
        server.run()  # returns on Ctrl-C / SIGTERM
    except SystemExit as stop:  # uvicorn exits by itself when start-up fails (address in use, lifespan)
        if stop.code not in (None, 0) and not service.state.startup_error:
            raise fail("the server could not start (see the log above)") from None
    if service.state.startup_error:
        what = "open the jobs folder" if service.state.startup_stage == "jobs" else "load the model"
        raise fail(f"cannot {what}: {service.state.startup_error}", code=2)
    if not server.started:
        raise fail("the server did not start (see the log above)")


def default_jobs_dir() -> Path:
    """``$LAANET_JOBS_DIR``, else ``$XDG_DATA_HOME/laanet/jobs`` (``~/.local/share/laanet/jobs``)."""
    if os.environ.get("LAANET_JOBS_DIR"):
        return Path(os.environ["LAANET_JOBS_DIR"]).expanduser()
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "laanet" / "jobs"


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """``"3600"``, ``"90m"``, ``"24h"``, ``"7d"`` → seconds; ``"forever"`` / ``"none"`` → None.

    Raises:
        ValueError: anything else, or a duration that is not positive.
    """
    value = text.strip().lower()
    if value in ("forever", "none", "never"):
        return None
    unit = _UNITS.get(value[-1:], None)
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"--job-retention: expected seconds or a duration such as 90m, 24h, 7d (or 'forever'), got {text!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"--job-retention must be positive, got {text!r}")
    return seconds


def register(app: typer.Typer) -> None:
    app.command(help=HELP)(serve)
