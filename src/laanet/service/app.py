"""Build the FastAPI app: the model loads once in the lifespan; every error answers ``{"error", "detail"}``."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import laanet
from laanet.service.admission import Admission
from laanet.service.errors import ModelLoadError, ServiceError
from laanet.service.health import HealthMonitor, SelfCheckFailed
from laanet.service.inference import InferenceWorker
from laanet.service.jobs import JobRunner
from laanet.service.openapi import install_openapi
from laanet.service.routes import STATIC_DIR, router
from laanet.service.settings import ServeSettings

_log = logging.getLogger(__name__)


def load_detector(settings: ServeSettings):
    """The one :class:`~laanet.inference.detector.Detector` the service uses (built on an inference thread)."""
    from laanet.inference.detector import Detector

    return Detector(settings.inference)


def create_app(
    settings: ServeSettings | None = None,
    *,
    loader: Callable[[ServeSettings], Any] = load_detector,
) -> FastAPI:
    """The service as an ASGI app; serve it with uvicorn.

    Args:
        settings: service settings (defaults: bundled weights, torch backend, 50 MiB uploads).
        loader: builds the detector from the settings, once, in the lifespan, on an inference thread.

    A model that fails to load, or fails its self-check on a bundled photo (see
    :mod:`laanet.service.health`), makes start-up fail with :class:`ModelLoadError`; its message is also left
    in ``app.state.startup_error`` for the caller (``laanet serve`` prints it and exits 2). So does a jobs
    folder that cannot be opened or is used by another server (``app.state.startup_stage == "jobs"``).
    """
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from laanet.faces import FaceError

        worker = InferenceWorker(settings.inference_threads)
        monitor = HealthMonitor(app.state, worker, loader, settings)
        admission = Admission(settings.max_concurrency, settings.queue_size, settings.max_uploads, settings.inference_threads)
        jobs = JobRunner(settings, app.state, worker, admission, monitor)
        opened = False
        try:
            started = time.perf_counter()
            try:
                app.state.detector = await worker.call(loader, settings)
                await monitor.startup_check()
            except (OSError, ValueError, FaceError, SelfCheckFailed) as err:  # missing/corrupt/broken weights, ...
                app.state.startup_error = str(err)
                _log.error("cannot load the model: %s", err)
                raise ModelLoadError(str(err)) from None
            try:
                await asyncio.to_thread(jobs.open)
                opened = True
            except (OSError, RuntimeError, sqlite3.Error) as err:  # in use by another server, unwritable, ...
                app.state.startup_error, app.state.startup_stage = str(err), "jobs"
                _log.error("cannot open the jobs folder: %s", err)
                raise ModelLoadError(str(err)) from None
            app.state.worker, app.state.monitor, app.state.admission, app.state.jobs = worker, monitor, admission, jobs
            jobs.start()
            weights = getattr(app.state.detector, "weights", "?")
            _log.info("model loaded and checked in %.1f s: %s", time.perf_counter() - started, weights)
            yield
        finally:
            if opened:
                await jobs.close()
            await monitor.close()
            worker.shutdown()

    app = FastAPI(
        title="laanet",
        version=getattr(laanet, "__version__", "0"),
        description="LAA-Net face deepfake detection: verdicts with artifact heatmaps.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads its assets from a CDN; /openapi.json stays available
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.startup_error = None
    app.state.startup_stage = "model"  # what failed at start-up: "model" or "jobs" (the jobs folder)
    app.include_router(router)
    install_openapi(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_error_handlers(app)
    return app


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _log.info("%s %s -> %d %s: %s", request.method, request.url.path, exc.status, exc.code, exc.message)
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "; ".join(str(e.get("msg", e)) for e in exc.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, "internal", "internal server error (see the server log)")
