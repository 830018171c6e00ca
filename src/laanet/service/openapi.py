"""The service's OpenAPI document (``/openapi.json``): the streamed request body, and every response.

The detect answer is described by laanet's published result schema (``laanet/schemas/result.schema.json``,
the same one ``results.json`` and ``FileResult.to_dict()`` follow): its ``$defs`` become
``components/schemas`` (``Result``, ``Frame``, ``Face``, ``Provenance``, ...) with their references rewritten,
so a client generator or a validator reading ``/openapi.json`` sees the whole response.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

COMPONENTS = "#/components/schemas/"
ERROR_CODES: dict[int, str] = {
    404: "no such job: never made, deleted, past the retention limit, or a guessed id",
    409: "the job has no result: it is queued or running (retry when done), or it failed or was cancelled",
    400: "malformed request: not multipart, a bad boundary or body, no or several files, oversized fields",
    408: "the body did not arrive within upload_timeout_s",
    413: "the upload is larger than max_upload_mb, or the image declares more than max_pixels pixels",
    415: "not an image or video type laanet reads",
    422: "undecodable content (empty, truncated, corrupt) or a bad form field",
    500: "an unexpected failure (the model is then self-checked and reloaded if broken)",
    503: "busy (no upload place or analysis slot, queue full) or the model is unavailable; see Retry-After",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds after which a retry may succeed", "schema": {"type": "integer"}}}

DETECT_REQUEST: dict[str, Any] = {  # the body is parsed by hand (streamed), so it is described here
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
                        "flip_test": {"type": "boolean", "description": "average each face with its mirror image"},
                        "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                                      "description": "P(fake) at or above which the file is labelled fake"},
                        "overlays": {"type": "boolean",
                                     "description": "frames[].overlay as JPEG data URLs (default true)"},
                        "heatmaps": {"type": "boolean",
                                     "description": "each face's raw heatmap in faces[].heatmap_values (default false)"},
                    },
                }
            }
        },
    }
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer.",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code: bad_request, too_large, busy, ..."},
        "detail": {"type": "string", "description": "what went wrong, for people (never a server path)"},
    },
}
HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GET /health: the model's state (status ok = passes its self-check), limits and load.",
    "required": ["status", "problem", "model", "limits", "in_progress", "queued", "uploading", "self_check",
                 "failed_requests", "last_failure", "reloads"],
    "properties": {
        "status": {"enum": ["ok", "error"]},
        "problem": {"type": ["string", "null"], "description": "why the model is unavailable"},
        "model": {"type": "object", "description": "weights file name and SHA-256, backend, input size, options"},
        "limits": {"type": "object", "additionalProperties": {"type": ["number", "boolean", "null"]}},
        "in_progress": {"type": "integer", "minimum": 0, "description": "requests holding an analysis slot"},
        "queued": {"type": "integer", "minimum": 0, "description": "complete uploads waiting for a slot"},
        "uploading": {"type": "integer", "minimum": 0, "description": "request bodies being received"},
        "self_check": {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}, "last_run": {"type": ["string", "null"], "format": "date-time"}},
        },
        "failed_requests": {"type": "integer", "minimum": 0},
        "last_failure": {
            "type": ["object", "null"],
            "properties": {"at": {"type": "string", "format": "date-time"}, "detail": {"type": "string"}},
        },
        "reloads": {"type": "integer", "minimum": 0},
        "jobs": {
            "type": "object",
            "description": "asynchronous jobs: queued and running now, the queue bound and the workers",
            "properties": {"queued": {"type": "integer", "minimum": 0}, "running": {"type": "integer", "minimum": 0},
                           "max_jobs": {"type": "integer", "minimum": 1}, "workers": {"type": "integer", "minimum": 1}},
        },
    },
}
_TIME = {"type": ["string", "null"], "format": "date-time"}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An asynchronous job (POST /v1/jobs, GET /v1/jobs/{id}). `result` is set once `status` is done.",
    "required": ["id", "status", "file", "created_at", "started_at", "finished_at", "progress", "position",
                 "attempts", "cancel_requested", "error", "note", "result"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$", "description": "unguessable (128 random bits)"},
        "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
        "file": {
            "type": "object", "required": ["name", "size", "kind"],
            "properties": {"name": {"type": "string", "description": "the client's file name, cleaned"},
                           "size": {"type": "integer", "minimum": 0}, "kind": {"enum": ["image", "video"]}},
        },
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _TIME,
        "finished_at": _TIME,
        "progress": {
            "type": "object", "required": ["done", "total", "unit"],
            "description": "frames whose faces were found so far, of the frames to analyse (total null until the "
                           "file was probed)",
            "properties": {"done": {"type": "integer", "minimum": 0}, "total": {"type": ["integer", "null"], "minimum": 0},
                           "unit": {"const": "frames"}},
        },
        "position": {"type": ["integer", "null"], "minimum": 0, "description": "queued jobs ahead of this one"},
        "attempts": {"type": "integer", "minimum": 0, "description": "times the job was started"},
        "cancel_requested": {"type": "boolean"},
        "error": {
            "anyOf": [{"$ref": COMPONENTS + "Error"}, {"type": "null"}],
            "description": "failed or cancelled: why (the same codes as POST /v1/detect's errors, plus "
                           "`interrupted` and `cancelled`)",
        },
        "note": {"type": ["string", "null"], "description": "e.g. that the job was resumed after a restart"},
        "result": {"anyOf": [{"$ref": COMPONENTS + "Result"}, {"type": "null"}]},
        "detail": {"type": "string", "description": "DELETE of a running job: what happens next"},
    },
}
JOB_DELETED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "DELETE of a finished job: it and its result are gone.",
    "required": ["id", "status", "deleted"],
    "properties": {"id": {"type": "string"}, "status": {"enum": ["done", "failed", "cancelled"]},
                   "deleted": {"const": True}},
}


def component_name(definition: str) -> str:
    """``$defs`` name of the result schema → its ``components/schemas`` name (``frame`` → ``Frame``)."""
    return definition[:1].upper() + definition[1:]


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: COMPONENTS + component_name(value.removeprefix("#/$defs/"))
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/") else _rewrite_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def result_components() -> dict[str, Any]:
    """The result schema's ``$defs`` as OpenAPI components, references rewritten."""
    from laanet.schemas import load_schema

    return {component_name(name): _rewrite_refs(schema) for name, schema in load_schema()["$defs"].items()}


def json_response(schema_name: str, description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": COMPONENTS + schema_name}}},
    }
    if headers:
        response["headers"] = headers
    return response


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: json_response("Error", ERROR_CODES[status], RETRY_AFTER if status == 503 else None)
        for status in statuses
    }


DETECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: json_response("Result", "the result for the uploaded file (laanet result schema, part `result`)"),
    **error_responses(400, 408, 413, 415, 422, 500, 503),
}
LOCATION = {"Location": {"description": "the job's URL, /v1/jobs/{id}", "schema": {"type": "string"}}}
JOB_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: json_response("Job", "queued; poll the URL in `Location`", LOCATION),
    **error_responses(400, 408, 413, 415, 422, 503),
}
JOB_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: json_response("Job", "the job; with its `result` once done"),
    **error_responses(404, 500),
}
JOB_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the finished job's report (laanet report): one self-contained HTML file, no script, "
                         "every picture inline", "content": {"text/html": {"schema": {"type": "string"}}}},
    **error_responses(404, 409, 500),
}
JOB_DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a queued job cancelled, or a finished one deleted",
          "content": {"application/json": {"schema": {"anyOf": [{"$ref": COMPONENTS + "Job"},
                                                                {"$ref": COMPONENTS + "JobDeleted"}]}}}},
    202: json_response("Job", "a running job: it stops at its next frame"),
    **error_responses(404),
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: json_response("Health", "the model passes its self-check"),
    503: json_response("Health", "the model is broken (see `problem`)", RETRY_AFTER),
}


def install_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Make ``app.openapi()`` add the result schema, ``Error`` and ``Health`` to the generated components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(result_components())
            schemas["Error"], schemas["Health"] = ERROR_SCHEMA, HEALTH_SCHEMA
            schemas["Job"], schemas["JobDeleted"] = JOB_SCHEMA, JOB_DELETED_SCHEMA
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return openapi
