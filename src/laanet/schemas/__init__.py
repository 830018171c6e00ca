"""JSON Schemas of laanet's outputs, shipped in the package.

``result.schema.json`` (draft 2020-12) describes one result with its provenance (``FileResult.to_dict()``, a
server response) and a results document (``laanet detect``'s ``results.json``, ``ResultList.to_dict()``); its
``$defs`` name each part (``result``, ``document``, ``entry``, ``frame``, ``face``, ``provenance``).

>>> from laanet.schemas import validate
>>> validate(result.to_dict())                # raises jsonschema.ValidationError if it does not fit
>>> validate(json.load(open("results.json")), "document")
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

RESULT_SCHEMA = "result.schema.json"


def schema_path(name: str = RESULT_SCHEMA) -> Path:
    """Path of a schema file inside the installed package."""
    return Path(str(resources.files("laanet.schemas") / name))


@cache
def _load(name: str) -> str:
    return schema_path(name).read_text()


def load_schema(name: str = RESULT_SCHEMA) -> dict[str, Any]:
    """The schema as a dict (a fresh copy each call)."""
    return json.loads(_load(name))


def part_schema(part: str) -> dict[str, Any]:
    """A stand-alone schema for one ``$defs`` entry of the result schema (e.g. ``"result"``, ``"document"``)."""
    schema = load_schema()
    if part not in schema["$defs"]:
        raise KeyError(f"no part {part!r} in {RESULT_SCHEMA}; parts: {', '.join(schema['$defs'])}")
    return {"$schema": schema["$schema"], "$ref": f"#/$defs/{part}", "$defs": schema["$defs"]}


def validate(instance: Any, part: str | None = None) -> None:
    """Check ``instance`` against the result schema (or one part of it); needs the ``jsonschema`` package.

    Raises:
        jsonschema.ValidationError: the instance does not fit.
        ImportError: ``jsonschema`` is not installed (``pip install laanet[test]``).
    """
    try:
        import jsonschema
    except ImportError as err:
        raise ImportError("validating needs the jsonschema package: pip install 'jsonschema>=4.18'") from err
    schema = load_schema() if part is None else part_schema(part)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)
