"""Errors the service answers with: each carries its HTTP status and a short machine-readable code.

Every error response has the body ``{"error": CODE, "detail": MESSAGE}``.
"""
from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``status`` is the HTTP status, ``code`` the ``error`` field of the JSON body."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ServiceError):
    """Malformed request: not multipart, no ``file`` part, several files, a broken multipart body."""

    status, code = 400, "bad_request"


class MissingFile(BadRequest):
    code = "missing_file"


class UploadTimeout(ServiceError):
    """The request body did not arrive within ``upload_timeout_s`` (answered with ``Connection: close``)."""

    status, code = 408, "upload_timeout"


class UploadTooLarge(ServiceError):
    status, code = 413, "too_large"


class ImageTooLarge(ServiceError):
    """An image (or video frame) declaring more pixels than ``max_pixels``: refused before decoding."""

    status, code = 413, "too_many_pixels"


class UnsupportedUpload(ServiceError):
    """Not an image or video type laanet reads (by extension/content type, or by content)."""

    status, code = 415, "unsupported_media"


class UndecodableUpload(ServiceError):
    """A known type whose content cannot be decoded (empty, corrupt, truncated)."""

    status, code = 422, "undecodable"


class InvalidField(ServiceError):
    """A form field with a bad value or an unknown name."""

    status, code = 422, "invalid_field"


class JobNotFound(ServiceError):
    """No job with that id (never made, deleted, purged by the retention, or a guess)."""

    status, code = 404, "not_found"


class JobNotDone(ServiceError):
    """The job exists but has no result (yet): queued, running, failed or cancelled."""

    status, code = 409, "not_done"


class InternalError(ServiceError):
    """An unexpected failure while handling a request (logged with its traceback)."""

    status, code = 500, "internal"


class ServiceBusy(ServiceError):
    """No room: the uploads, the analysis slots and their queue are full (has ``Retry-After``)."""

    status, code = 503, "busy"


class ModelUnavailable(ServiceError):
    """The model failed its self-check and a reload did not fix it (has ``Retry-After``)."""

    status, code = 503, "model_unavailable"


class ModelLoadError(RuntimeError):
    """The model could not be loaded at start-up (raised from the lifespan)."""
