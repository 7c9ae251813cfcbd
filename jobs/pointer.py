"""Jobs from a pointer: an input already in the blob store, named instead of uploaded.

``POST /v1/jobs`` with a JSON body (``PointerJob``) names one object or a prefix of many
(``s3://bucket/prefix/...`` on AWS, ``file:///folder/...`` locally, or a key relative to
``HPP_BLOB_URL``), CSV, gzip CSV or Parquet. A key may read only the prefixes configured
for it (``HPP_INPUT_PREFIXES``), and never ``jobs/``, where every job's uploads and results
live; the same rule holds for the destination it names for the result. Anything outside
answers as if nothing were there (404), so a caller learns nothing about other data.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field

from jobs.blobs import BlobStore
from jobs.keys import JOBS_FOLDER

InputFormat = Literal["csv", "parquet"]
OutputFormat = Literal["csv", "parquet"]
MAX_POINTER_CHARS = 1_024
_SUFFIXES: dict[str, tuple[InputFormat, bool]] = {
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".parquet": ("parquet", False),
    ".pq": ("parquet", False),
}
# Control characters, backslashes and empty or dot segments never name a stored object.
_BAD_KEY = re.compile(r"[\x00-\x1f\x7f\\]|(^|/)\.{1,2}(/|$)|//")


class PointerJob(BaseModel):
    """A job whose input is already in the blob store (``POST /v1/jobs``, JSON body)."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(
        min_length=1,
        max_length=MAX_POINTER_CHARS,
        description="One object or a prefix of many: s3://bucket/prefix/ (AWS), "
        "file:///folder/ (local), or a key relative to the blob store. Files ending in .csv, "
        ".csv.gz or .parquet; names starting with '_' or '.' are skipped.",
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="auto: by each file's suffix; csv or parquet: every file is one"
    )
    output_format: OutputFormat = Field("csv", description="the result's format")
    destination: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_POINTER_CHARS,
        description="A prefix (same forms as input) to write the result's parts and manifest "
        "under, in {destination}{job id}/; by default the job's own result location",
    )
    unknown_categories: Literal["warn", "error"] | None = Field(
        None, description="As the query parameter of the same name"
    )
    comparables: int | None = Field(None, ge=1, le=3, description="As the query parameter")


class SourceFile(BaseModel):
    """One input file of a pointer job, as listed at submission."""

    key: str
    format: InputFormat
    gzip: bool = False
    bytes: int = 0

    @property
    def name(self) -> str:
        """The file's name (for reasons shown to the caller)."""
        return PurePosixPath(self.key).name


class PointerRefusedError(Exception):
    """The pointer names nothing this key may read (404) or files it cannot use (422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def store_key(pointer: str, blob_url: str) -> str | None:
    """The blob-store key a pointer names, or None when it lies outside the store."""
    try:
        parsed = urlparse(pointer)
        store = urlparse(blob_url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if not parsed.scheme:
        key = pointer.lstrip("/")
    elif parsed.scheme != store.scheme:
        return None
    elif parsed.scheme == "s3":
        base = store.path.strip("/")
        path = parsed.path.lstrip("/")
        if parsed.netloc != store.netloc:
            return None
        if base:
            if not path.startswith(base + "/"):
                return None
            path = path[len(base) + 1 :]
        key = path
    elif parsed.scheme == "file":
        root = unquote(store.path).rstrip("/") + "/"
        path = unquote(parsed.path)
        if not path.startswith(root):
            return None
        key = path[len(root) :]
    else:
        return None
    if not key or _BAD_KEY.search(key):
        return None
    return key


def allowed(key: str, prefixes: list[str]) -> bool:
    """Whether ``key`` (an object, or a folder without its '/') lies in one of ``prefixes``.

    Prefixes are folders: ``inputs/acme`` allows ``inputs/acme/...``, not ``inputs/acme2``.
    Nothing under ``jobs/`` is ever allowed.
    """
    if key.startswith(JOBS_FOLDER) or (key + "/").startswith(JOBS_FOLDER):
        return False
    for prefix in prefixes:
        folder = prefix.strip("/") + "/"
        if folder == "/" or folder.startswith(JOBS_FOLDER):
            continue
        if key.startswith(folder) or key + "/" == folder:
            return True
    return False


async def list_sources(
    blobs: BlobStore, key: str, *, format: str = "auto", max_files: int
) -> list[SourceFile]:
    """The input files a pointer names, in key order (raises ``PointerRefusedError``)."""
    objects = await blobs.list_objects(key)
    exact = [item for item in objects if item[0] == key]
    if not exact:
        folder = key if key.endswith("/") else key + "/"
        objects = [item for item in objects if item[0].startswith(folder)]
    else:
        objects = exact
    files: list[SourceFile] = []
    unknown: list[str] = []
    for name, size in objects:
        base = PurePosixPath(name).name
        if name.endswith("/") or base.startswith(("_", ".")):
            continue  # folder markers, _SUCCESS files, temp files
        kind = _kind(base, format)
        if kind is None:
            unknown.append(base)
            continue
        files.append(SourceFile(key=name, format=kind[0], gzip=kind[1], bytes=size))
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise PointerRefusedError(
            422, f"not .csv, .csv.gz or .parquet: {shown}; name the format or move them away"
        )
    if not files:
        raise PointerRefusedError(404, "No input files there that this API key may read.")
    if len(files) > max_files:
        raise PointerRefusedError(
            422, f"the input has {len(files):,} files; at most {max_files:,} are allowed"
        )
    return files


def _kind(name: str, format: str) -> tuple[InputFormat, bool] | None:
    lowered = name.lower()
    gzip = lowered.endswith(".gz")
    if format == "csv":
        return "csv", gzip
    if format == "parquet":
        return "parquet", False
    for suffix, kind in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    return None
