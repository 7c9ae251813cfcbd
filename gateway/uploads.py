"""Stream an uploaded CSV out of a request body without holding it in memory.

A ``text/csv`` (or ``application/octet-stream``) body is the file itself; a
``multipart/form-data`` body is parsed incrementally and the ``file`` field's bytes are
passed on as they arrive. Small option fields named in ``FORM_FIELDS`` (such as
``unknown_categories``) are kept for after the stream; any other field is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from gateway.errors import ProblemError

RAW_TYPES = ("text/csv", "application/csv", "application/octet-stream", "text/plain")
FORM_FIELDS = frozenset({"unknown_categories", "webhook_url"})
MAX_FORM_FIELD_BYTES = 2_048  # the longest webhook URL taken


class Upload:
    """The file part of a request: its name and a one-shot stream of its bytes."""

    def __init__(self, request: Request) -> None:
        self.request = request
        media_type, options = parse_options_header(request.headers.get("content-type", ""))
        self.media_type = media_type.decode("latin-1").lower()
        self.filename: str | None = request.query_params.get("filename")
        self.fields: dict[str, str] = {}  # the FORM_FIELDS sent, once the stream has ended
        self._boundary = options.get(b"boundary")
        if self.media_type == "multipart/form-data" and not self._boundary:
            raise _bad_upload("The multipart body has no boundary.")
        if self.media_type != "multipart/form-data" and self.media_type not in RAW_TYPES:
            raise ProblemError(
                415,
                "Send the CSV as multipart/form-data (field 'file') or as a text/csv body.",
                kind="unsupported-media-type",
            )

    def stream(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive."""
        if self.media_type == "multipart/form-data":
            return self._multipart()
        return self.request.stream()

    async def _multipart(self) -> AsyncIterator[bytes]:
        part = _FilePart()
        assert self._boundary is not None  # checked in __init__
        parser = MultipartParser(self._boundary, cast(Any, part.callbacks()))
        async for chunk in self.request.stream():
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise _bad_upload(f"The multipart body is malformed: {exc}") from exc
            if part.filename and not self.filename:
                self.filename = part.filename
            if part.pending:
                yield b"".join(part.pending)
                part.pending.clear()
        try:
            parser.finalize()
        except FormParserError as exc:
            raise _bad_upload(f"The multipart body is malformed: {exc}") from exc
        if parser.state != MultipartState.END:  # a cut-off body must not become a job
            raise _bad_upload("The multipart body ends before its closing boundary.")
        if not part.found:
            raise _bad_upload("The multipart body has no 'file' field.")
        self.fields = {
            name: bytes(value).decode("utf-8", "replace") for name, value in part.fields.items()
        }


class _FilePart:
    """Callbacks that keep the first part named ``file`` and drop the others."""

    def __init__(self) -> None:
        self.found = False
        self.filename: str | None = None
        self.pending: list[bytes] = []
        self._field = bytearray()
        self._value = bytearray()
        self._disposition = b""
        self._in_file = False
        self.fields: dict[str, bytearray] = {}
        self._option: bytearray | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._disposition = b""

    def _header_end(self) -> None:
        if bytes(self._field).lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        field = options.get(b"name", b"").decode("latin-1")
        if field in FORM_FIELDS and b"filename" not in options:
            self._option = self.fields.setdefault(field, bytearray())
        if options.get(b"name") == b"file" and not self.found:
            self.found = self._in_file = True
            name = options.get(b"filename")
            self.filename = name.decode("utf-8", errors="replace") if name else None

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(bytes(data[start:end]))
        elif self._option is not None:
            if len(self._option) + end - start > MAX_FORM_FIELD_BYTES:
                raise FormParserError(
                    f"an option field is longer than {MAX_FORM_FIELD_BYTES} bytes"
                )
            self._option.extend(data[start:end])

    def _end(self) -> None:
        self._in_file = False
        self._option = None


def _bad_upload(detail: str) -> ProblemError:
    return ProblemError(400, detail, kind="bad-upload", title="Bad upload")
