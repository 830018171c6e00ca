"""The endpoints: ``GET /health``, ``POST /v1/detect`` and the web page at ``GET /``."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.requests import ClientDisconnect

from laanet.service.deps import get_detector, get_settings, get_worker
from laanet.service.errors import BadRequest, InternalError, InvalidField, ServiceError
from laanet.service.inference import DetectOptions, InferenceWorker, analyse_upload
from laanet.service.settings import ServeSettings
from laanet.service.uploads import receive_upload

_log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}

DETECT_OPENAPI = {  # the body is parsed by hand (streamed), so describe it here for /openapi.json
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "an image or a video"},
                        "frames": {"type": "integer", "minimum": 1, "description": "frames sampled from a video"},
                        "flip_test": {"type": "boolean", "description": "average with the mirrored face"},
                        "overlays": {"type": "boolean", "description": "return heatmap overlays (default true)"},
                    },
                }
            }
        },
    }
}

router = APIRouter()


@router.get("/health")
async def health(
    detector=Depends(get_detector),
    worker: InferenceWorker = Depends(get_worker),
    settings: ServeSettings = Depends(get_settings),
) -> dict:
    """200 once the model is loaded (the server only accepts connections after the lifespan loaded it)."""
    return {
        "status": "ok",
        "model": public_model_info(detector.model_info),
        "limits": {
            "max_upload_mb": settings.max_upload_mb,
            "max_concurrency": settings.max_concurrency,
            "max_frames": settings.max_frames,
            "default_frames": settings.frames,
            "default_flip_test": settings.flip_test,
        },
        "in_progress": worker.active,
    }


@router.post("/v1/detect", openapi_extra=DETECT_OPENAPI)
async def detect(
    request: Request,
    detector=Depends(get_detector),
    worker: InferenceWorker = Depends(get_worker),
    settings: ServeSettings = Depends(get_settings),
) -> JSONResponse:
    """Multipart ``file`` (+ optional ``frames``, ``flip_test``, ``overlays``) → one ``results.json`` entry."""
    started = time.perf_counter()
    worker.admit()  # 503 at once when full, before reading the body
    try:
        folder = Path(tempfile.mkdtemp(prefix="laanet-upload-", dir=settings.upload_dir))
    except OSError:
        worker.release()
        raise
    job: concurrent.futures.Future | None = None
    try:
        upload = await receive_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            folder,
            settings.max_upload_bytes,
        )
        options = parse_options(upload.fields, settings)
        received = time.perf_counter()
        job = worker.submit(analyse_upload, detector, upload, options)
        entry = await asyncio.wrap_future(job)
    except ClientDisconnect:
        raise BadRequest("the client disconnected during the upload") from None
    except (ServiceError, asyncio.CancelledError):
        raise
    except Exception:  # answered here, so the connection stays usable (uvicorn drops it on an escaped error)
        _log.exception("POST /v1/detect failed")
        raise InternalError("internal server error (see the server log)") from None
    finally:
        _release_when_done(job, folder, worker)
    done = time.perf_counter()
    _log.info("%s: %s %s in %.2f s", upload.filename, entry["status"], entry["label"], done - started)
    timing = f"upload;dur={(received - started) * 1e3:.1f}, analyse;dur={(done - received) * 1e3:.1f}"
    return JSONResponse(entry, headers={"Server-Timing": timing})


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


def parse_options(fields: dict[str, str], settings: ServeSettings) -> DetectOptions:
    """Validate the optional form fields; unknown names are refused (a typo should not pass silently)."""
    unknown = sorted(set(fields) - {"frames", "flip_test", "overlays"})
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise InvalidField(f"unknown form field(s) {names}; expected frames, flip_test, overlays")
    frames = settings.frames
    if fields.get("frames", "").strip():
        try:
            frames = int(fields["frames"])
        except ValueError:
            raise InvalidField(f"frames must be an integer, got {fields['frames']!r}") from None
        if not 1 <= frames <= settings.max_frames:
            raise InvalidField(f"frames must be between 1 and {settings.max_frames}, got {frames}")
    return DetectOptions(
        frames=frames,
        flip_test=_parse_bool(fields, "flip_test", settings.flip_test),
        overlays=_parse_bool(fields, "overlays", True),
        overlay_max_side=settings.overlay_max_side,
    )


def public_model_info(info: dict) -> dict:
    """``Detector.model_info`` without server paths (file names only)."""
    return {k: Path(v).name if k in ("weights", "path", "onnx") and isinstance(v, str) else v for k, v in info.items()}


def _parse_bool(fields: dict[str, str], name: str, default: bool) -> bool:
    value = fields.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidField(f"{name} must be true or false, got {fields[name]!r}")


def _release_when_done(job: concurrent.futures.Future | None, folder: Path, worker: InferenceWorker) -> None:
    """Delete the request's folder and free its slot, after the inference thread is done with them."""

    def release(_: object = None) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        worker.release()

    if job is None or job.done():
        release()
    else:  # the request was cancelled while its job runs: clean up when the job ends
        job.add_done_callback(release)
