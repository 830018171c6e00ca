"""Stream a ``multipart/form-data`` upload into a temporary folder, enforcing the size limit as bytes arrive.

FastAPI's ``UploadFile`` reads the whole body before the endpoint runs; here the body is parsed chunk by
chunk (``python-multipart``'s push parser), so an upload over the limit is refused as soon as the limit is
passed, having stored at most the limit. The client's file name is never used as a path: only its extension
is kept (to pick the decoder), and the file is written as ``<folder>/upload<ext>``.
"""
from __future__ import annotations

import logging
import mimetypes
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from laanet.media.image import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from laanet.service.errors import BadRequest, MissingFile, UnsupportedUpload, UploadTooLarge

_log = logging.getLogger(__name__)

FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024  # a non-file form field (frames, flip_test, ...) is a few bytes
MAX_FIELDS = 16
MAX_NAME_CHARS = 120  # a displayed file name (the extension is kept when a longer one is shortened)
MAX_SUFFIX_CHARS = 16
MAX_BOUNDARY_CHARS = 200  # RFC 2046 allows 70; python-multipart refuses more than 256
MULTIPART_SLACK = 64 * 1024  # headers and boundaries on top of the file, for the Content-Length pre-check
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
_CONTENT_TYPE_EXTENSIONS = {"image/jpg": ".jpg", "video/quicktime": ".mov", "video/x-matroska": ".mkv"}


@dataclass
class Upload:
    """A received upload.

    Attributes:
        path: where the file content was written (inside the request's temporary folder).
        filename: the client's file name, cleaned for display only (never used as a path).
        extension: lower-case extension that chose ``path``'s suffix (e.g. ``".jpg"``).
        size: bytes of file content.
        fields: the other form fields, name → text.
    """

    path: Path
    filename: str
    extension: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def display_name(raw: str | None) -> str:
    """The client's file name reduced to a printable base name of at most :data:`MAX_NAME_CHARS` characters
    (for the JSON ``path`` field and messages); a long name is shortened before its extension, which is kept."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > MAX_NAME_CHARS:
        suffix = Path(name).suffix
        suffix = suffix if len(suffix) <= MAX_SUFFIX_CHARS else ""
        name = name[: MAX_NAME_CHARS - len(suffix) - 1] + "\u2026" + suffix
    return name or "upload"


def upload_extension(filename: str | None, content_type: str | None) -> str | None:
    """Extension laanet can read, from the file name, else from the part's content type; None if neither."""
    suffix = Path(display_name(filename)).suffix.lower()
    if suffix in KNOWN_EXTENSIONS:
        return suffix
    ctype = (content_type or "").split(";")[0].strip().lower()
    guess = _CONTENT_TYPE_EXTENSIONS.get(ctype) or (mimetypes.guess_extension(ctype) if ctype else None)
    if guess and guess.lower() in KNOWN_EXTENSIONS:
        return guess.lower()
    return None


class _PartReader:
    """Callbacks for the push parser: collects fields, sends file bytes to a buffer the caller flushes."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.fields: dict[str, str] = {}
        self.upload: Upload | None = None
        self.pending: list[bytes] = []  # file bytes parsed but not yet written
        self.finished = False
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._field_name: str | None = None  # current part is a form field
        self._field_value = bytearray()
        self._in_file = False  # current part is the file
        self._parts = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_FIELDS:
            raise BadRequest(f"too many form fields (at most {MAX_FIELDS})")
        self._headers = {}
        self._field_name, self._in_file = None, False
        self._field_value = bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").strip().lower()] = self._header_value.decode("latin-1")
        self._header_field, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        if name != FILE_FIELD:
            if raw_filename is not None:
                raise BadRequest(f"unexpected file in field {name!r}; send the image or video as the 'file' field")
            self._field_name = name
            return
        if self.upload is not None:
            raise BadRequest("send one file per request")
        filename = display_name(raw_filename.decode("utf-8", "replace") if raw_filename is not None else None)
        extension = upload_extension(filename, self._headers.get("content-type"))
        if extension is None:
            raise UnsupportedUpload(
                f"{filename}: not a supported image or video type; images: {' '.join(sorted(IMAGE_EXTENSIONS))}; "
                f"videos: {' '.join(sorted(VIDEO_EXTENSIONS))}"
            )
        self.upload = Upload(path=self.folder / f"upload{extension}", filename=filename, extension=extension, size=0)
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and self.upload is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise UploadTooLarge(f"upload larger than the limit of {self.max_bytes / 2**20:g} MiB")
            self.pending.append(bytes(data[start:end]))
        elif self._field_name is not None:
            self._field_value.extend(data[start:end])
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise BadRequest(f"form field {self._field_name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._field_name is not None:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")
        self._field_name, self._in_file = None, False

    def _end(self) -> None:
        self.finished = True


async def receive_upload(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    folder: Path,
    max_bytes: int,
) -> Upload:
    """Parse a multipart body from ``body`` chunks; write the ``file`` part to ``folder/upload<ext>``.

    Raises:
        UploadTooLarge: Content-Length (when sent) or the file bytes received so far exceed ``max_bytes``;
            raised as soon as it is known, without reading the rest.
        UnsupportedUpload: the file's extension (or content type) is not an image/video laanet reads.
        MissingFile: no ``file`` part.
        BadRequest: not multipart, a broken or truncated body, several files, oversized fields.
    """
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadRequest("expected a multipart/form-data body with the image or video in a 'file' field")
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise BadRequest(f"multipart boundary of {len(boundary)} characters; at most {MAX_BOUNDARY_CHARS} are accepted")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BadRequest("invalid Content-Length header") from None
        if declared > max_bytes + MULTIPART_SLACK:
            raise UploadTooLarge(f"upload of {declared} bytes is larger than the limit of {max_bytes / 2**20:g} MiB")

    reader = _PartReader(folder, max_bytes)
    try:
        parser = MultipartParser(boundary, reader.callbacks())
    except FormParserError as err:  # an unusable boundary
        raise BadRequest(f"malformed multipart header: {err}") from None
    out: BinaryIO | None = None
    total = 0
    try:
        async for chunk in body:  # read to the end, so the connection can serve the next request
            total += len(chunk)
            if total > max_bytes + MULTIPART_SLACK:
                raise UploadTooLarge(f"request body larger than the limit of {max_bytes / 2**20:g} MiB")
            if not chunk or reader.finished:
                continue
            try:
                parser.write(chunk)
            except MultipartParseError as err:
                raise BadRequest(f"malformed multipart body: {err}") from None
            if reader.pending:
                if out is None and reader.upload is not None:
                    out = open(reader.upload.path, "wb")  # noqa: SIM115 - closed in finally
                data, reader.pending = b"".join(reader.pending), []
                if out is not None:
                    await anyio.to_thread.run_sync(out.write, data)
    finally:
        if out is not None:
            out.close()
    if not reader.finished:
        raise BadRequest("the multipart body ended early (truncated upload)")
    if reader.upload is None:
        raise MissingFile("no file: send the image or video as the multipart field 'file'")
    if out is None:  # a zero-byte file: create it so the decoder reports "empty file"
        reader.upload.path.touch()
    reader.upload.fields = reader.fields
    _log.debug("received %s (%d bytes) as %s", reader.upload.filename, reader.upload.size, reader.upload.path.name)
    return reader.upload

