"""The gateway's side of jobs from a pointer: read the JSON body, check access, list the files.

Access is by API key (``HPP_INPUT_PREFIXES``): a pointer or destination outside the
key's prefixes, or under ``jobs/``, answers 404 exactly as a prefix with no files does,
so nobody learns what lies elsewhere. End users of a delegate key (the web app's) act
for a browser, not for the key's data: they get 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from core.settings import AppSettings
from gateway.errors import ProblemError
from gateway.security import Caller
from jobs.blobs import BlobStore
from jobs.pointer import (
    PointerJob,
    PointerRefusedError,
    SourceFile,
    allowed,
    list_sources,
    store_key,
)

MAX_POINTER_BODY_BYTES = 16 * 1024
NOT_FOUND = "No input files there that this API key may read."


@dataclass(frozen=True)
class ResolvedPointer:
    """A pointer job's request, its files and where its result goes."""

    request: PointerJob
    input_key: str
    sources: list[SourceFile]
    destination: str  # "" for the job's own result location, else a folder ending in '/'


def parse_pointer(body: bytes) -> PointerJob:
    """The request of a JSON body (422 problem details naming each bad field)."""
    if len(body) > MAX_POINTER_BODY_BYTES:
        raise ProblemError(
            413,
            f"A pointer job's JSON body is at most {MAX_POINTER_BODY_BYTES:,} bytes.",
            kind="body-too-large",
            title="Content Too Large",
        )
    try:
        return PointerJob.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ProblemError(
            422,
            "The job request is not valid: " + "; ".join(e["message"] for e in errors[:3]),
            kind="validation",
            title="Invalid request",
            errors=errors,
        ) from None


async def resolve_pointer(
    request: PointerJob, *, caller: Caller, blobs: BlobStore, settings: AppSettings
) -> ResolvedPointer:
    """Check the caller may read the input (and write the destination), then list the files."""
    if caller.on_behalf_of is not None:
        raise ProblemError(
            403,
            "Jobs from a pointer read the API key's own data; an end user of a delegate key "
            "may only upload files.",
            kind="forbidden",
            title="Forbidden",
        )
    blob_url = settings.core.resolved_blob_url()
    prefixes = settings.core.input_prefixes.get(caller.name, [])
    key = store_key(request.input, blob_url)
    if key is None or not allowed(key, prefixes):
        raise ProblemError(404, NOT_FOUND, kind="not-found", title="Input not found")
    destination = ""
    if request.destination is not None:
        target = store_key(request.destination, blob_url)
        if target is None or not allowed(target.rstrip("/"), prefixes):
            raise ProblemError(
                404,
                "No destination there that this API key may write.",
                kind="not-found",
                title="Destination not found",
            )
        destination = target.rstrip("/") + "/"
    try:
        sources = await list_sources(
            blobs, key, format=request.format, max_files=settings.gateway.max_input_files
        )
    except PointerRefusedError as exc:
        kind = "not-found" if exc.status == 404 else "validation"
        raise ProblemError(exc.status, exc.detail, kind=kind) from None
    return ResolvedPointer(request, key, sources, destination)
