"""Where audit records live: rotated JSONL files in a folder, or objects in an S3 bucket.

Both keep, per stream, segments of JSONL records, each with a head (``chain.make_head``):

- folder (``file://$STATE/audit``): ``{stream}/{n:06d}.jsonl`` appended batch by batch and
  rotated past ``rotate_bytes``; ``{stream}/{n:06d}.head.json`` replaced after each append.
- S3 (``s3://bucket/prefix``): one object per batch, ``{stream}/{first_seq:012d}.jsonl``,
  and its head ``{stream}/{first_seq:012d}.head.json``. The bucket has Object Lock in
  compliance mode and default KMS encryption (infra/cloudformation/data.yaml): no one can
  overwrite or delete a record during the retention, and a delete only adds a delete
  marker, which ``removed`` reports.

Beside the records, payloads (a job chunk's input and output bytes) are stored
content-addressed under ``{stream}/payloads/{sha256}`` in either store (on S3 under the
same Object Lock): a record holds only their digests, which ``verify`` checks them against.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from audit.chain import make_head, parse_object
from core.aws import LazyClient

OPEN, SEALED, CLOSED = "open", "sealed", "closed"
PAYLOADS = "payloads"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def payload_digest(data: bytes) -> str:
    """The SHA-256 a payload is stored and named under."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Segment:
    """One segment of a stream as stored: its name, record lines and head (None if missing)."""

    name: str
    lines: list[bytes]
    head: dict[str, Any] | None


@dataclass(frozen=True)
class Batch:
    """Sealed records ready to store: their JSON lines and where they sit in the chain."""

    stream: str
    lines: list[bytes]
    first_seq: int
    last_seq: int
    last_hash: str


class AuditStore(Protocol):
    """Append-only storage of audit streams."""

    async def append(self, batch: Batch) -> None: ...
    async def close_stream(self, stream: str) -> None: ...
    async def streams(self) -> list[str]: ...
    async def segments(self, stream: str) -> list[Segment]: ...
    async def removed(self) -> list[str]: ...
    async def put_payload(self, stream: str, data: bytes) -> str: ...
    async def get_payload(self, stream: str, digest: str) -> bytes | None: ...
    async def aclose(self) -> None: ...


def open_audit_store(
    url: str, *, key: bytes | None, rotate_bytes: int = 64 << 20, endpoint_url: str | None = None
) -> AuditStore:
    """The store at ``file://folder`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FolderAuditStore(Path(parsed.path), key=key, rotate_bytes=rotate_bytes)
    if parsed.scheme == "s3":
        prefix = parsed.path.strip("/")
        return S3AuditStore(parsed.netloc, prefix, key=key, endpoint_url=endpoint_url)
    raise ValueError(f"unsupported audit URL {url!r}: use file:// or s3://")


@dataclass
class _OpenSegment:
    index: int
    size: int
    first_seq: int
    last_seq: int = -1
    last_hash: str = ""


class FolderAuditStore:
    """Rotated JSONL files under a folder (one sub-folder per stream)."""

    def __init__(self, root: Path, *, key: bytes | None, rotate_bytes: int) -> None:
        self.root = root
        self.key = key
        self.rotate_bytes = rotate_bytes
        self._open: dict[str, _OpenSegment] = {}

    async def append(self, batch: Batch) -> None:
        """Append the batch to the stream's segment, rotating first when it is full."""
        await asyncio.to_thread(self._append, batch)

    async def close_stream(self, stream: str) -> None:
        """Mark the stream's last segment closed (a clean stop)."""
        segment = self._open.get(stream)
        if segment is not None and segment.last_seq >= 0:
            await asyncio.to_thread(self._write_head, stream, segment, CLOSED)

    async def streams(self) -> list[str]:
        """Every stream in the folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    async def segments(self, stream: str) -> list[Segment]:
        """The stream's segments in order, with their heads."""
        return await asyncio.to_thread(self._read_segments, stream)

    async def removed(self) -> list[str]:
        """Nothing: a folder keeps no record of deletions (the chain and heads show them)."""
        return []

    async def put_payload(self, stream: str, data: bytes) -> str:
        """Store the bytes under their SHA-256 (once; a copy already there is kept)."""
        return await asyncio.to_thread(self._put_payload, stream, data)

    async def get_payload(self, stream: str, digest: str) -> bytes | None:
        """The payload stored under ``digest``, or None when it is missing."""
        if not _SHA256.fullmatch(digest):
            return None
        path = self.root / stream / PAYLOADS / digest
        return await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)

    async def aclose(self) -> None:
        """Nothing to release."""

    def _append(self, batch: Batch) -> None:
        folder = self.root / batch.stream
        folder.mkdir(parents=True, exist_ok=True)
        segment = self._open.get(batch.stream)
        data = b"".join(batch.lines)
        if segment is None:
            segment = _OpenSegment(index=0, size=0, first_seq=batch.first_seq)
        elif segment.size and segment.size + len(data) > self.rotate_bytes:
            self._write_head(batch.stream, segment, SEALED)
            segment = _OpenSegment(index=segment.index + 1, size=0, first_seq=batch.first_seq)
        self._open[batch.stream] = segment
        with (folder / f"{segment.index:06d}.jsonl").open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        segment.size += len(data)
        segment.last_seq, segment.last_hash = batch.last_seq, batch.last_hash
        self._write_head(batch.stream, segment, OPEN)

    def _put_payload(self, stream: str, data: bytes) -> str:
        digest = payload_digest(data)
        path = self.root / stream / PAYLOADS / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(f".{os.getpid()}.tmp")
            with temp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        return digest

    def _write_head(self, stream: str, segment: _OpenSegment, state: str) -> None:
        head = make_head(
            stream=stream,
            segment=f"{segment.index:06d}",
            first_seq=segment.first_seq,
            last_seq=segment.last_seq,
            last_hash=segment.last_hash,
            state=state,
            key=self.key,
        )
        path = self.root / stream / f"{segment.index:06d}.head.json"
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(head, sort_keys=True))
        os.replace(temp, path)

    def _read_segments(self, stream: str) -> list[Segment]:
        folder = self.root / stream
        names = sorted(
            {p.name.split(".", 1)[0] for p in folder.glob("*.jsonl")}
            | {p.name.split(".", 1)[0] for p in folder.glob("*.head.json")}
        )
        out = []
        for name in names:
            data = folder / f"{name}.jsonl"
            head = folder / f"{name}.head.json"
            lines = data.read_bytes().splitlines(keepends=True) if data.exists() else []
            out.append(
                Segment(name, lines, parse_object(head.read_bytes()) if head.exists() else None)
            )
        return out


class S3AuditStore:
    """One object per batch (and one head per object) under ``bucket/prefix`` (aiobotocore)."""

    def __init__(
        self, bucket: str, prefix: str, *, key: bytes | None, endpoint_url: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.key = key
        self.endpoint_url = endpoint_url
        self._aws = LazyClient("s3", endpoint_url=endpoint_url)
        self._last: dict[str, Batch] = {}

    async def append(self, batch: Batch) -> None:
        """PUT the batch as one object, then its head."""
        name = f"{batch.first_seq:012d}"
        await self._put(f"{batch.stream}/{name}.jsonl", b"".join(batch.lines))
        await self._put_head(batch, name, OPEN)
        self._last[batch.stream] = batch

    async def close_stream(self, stream: str) -> None:
        """Write the last object's head again, now closed (a new version; the old one stays)."""
        batch = self._last.get(stream)
        if batch is not None:
            await self._put_head(batch, f"{batch.first_seq:012d}", CLOSED)

    async def streams(self) -> list[str]:
        """Every stream under the prefix."""
        client = await self._aws.get()
        paginator = client.get_paginator("list_objects_v2")
        names: set[str] = set()
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            names.update(
                p["Prefix"][len(self.prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            )
        return sorted(names)

    async def segments(self, stream: str) -> list[Segment]:
        """The stream's objects in chain order, with their heads."""
        base_prefix = f"{self.prefix}{stream}/"
        keys = {k for k in await self._keys(base_prefix) if "/" not in k[len(base_prefix) :]}
        names = sorted({k.rsplit("/", 1)[1].split(".", 1)[0] for k in keys})
        out = []
        for name in names:
            base = f"{self.prefix}{stream}/{name}"
            data = await self._get(f"{base}.jsonl") if f"{base}.jsonl" in keys else None
            head = await self._get(f"{base}.head.json") if f"{base}.head.json" in keys else None
            lines = data.splitlines(keepends=True) if data is not None else []
            out.append(Segment(name, lines, None if head is None else parse_object(head)))
        return out

    async def removed(self) -> list[str]:
        """Keys under the prefix that carry a delete marker (someone tried to delete them)."""
        client = await self._aws.get()
        paginator = client.get_paginator("list_object_versions")
        marked: list[str] = []
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            marked.extend(m["Key"] for m in page.get("DeleteMarkers", []))
        return sorted(set(marked))

    async def put_payload(self, stream: str, data: bytes) -> str:
        """PUT the bytes under their SHA-256 (under the bucket's Object Lock like a record)."""
        digest = payload_digest(data)
        await self._put(f"{stream}/{PAYLOADS}/{digest}", data)
        return digest

    async def get_payload(self, stream: str, digest: str) -> bytes | None:
        """The payload stored under ``digest``, or None when it is missing."""
        if not _SHA256.fullmatch(digest):
            return None
        client = await self._aws.get()
        try:
            return await self._get(f"{self.prefix}{stream}/{PAYLOADS}/{digest}")
        except client.exceptions.NoSuchKey:
            return None

    async def aclose(self) -> None:
        """Close the S3 client."""
        await self._aws.aclose()

    async def _put_head(self, batch: Batch, name: str, state: str) -> None:
        head = make_head(
            stream=batch.stream,
            segment=name,
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            last_hash=batch.last_hash,
            state=state,
            key=self.key,
        )
        await self._put(
            f"{batch.stream}/{name}.head.json", json.dumps(head, sort_keys=True).encode()
        )

    async def _put(self, key: str, data: bytes) -> None:
        client = await self._aws.get()
        # Object Lock buckets refuse a PUT without an integrity checksum.
        await client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ChecksumAlgorithm="SHA256"
        )

    async def _get(self, key: str) -> bytes:
        client = await self._aws.get()
        response = await client.get_object(Bucket=self.bucket, Key=key)
        async with response["Body"] as body:
            return bytes(await body.read())

    async def _keys(self, prefix: str) -> set[str]:
        client = await self._aws.get()
        paginator = client.get_paginator("list_objects_v2")
        keys: set[str] = set()
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys
