"""Job files (input, parts, result) in a folder (``file://``) or S3 (``s3://bucket/prefix``).

The API is async so the gateway can stream uploads and downloads without blocking its
event loop; workers use the same stores through ``jobs.sync_blobs.SyncBlobStore``. Every
write is atomic: readers see the whole object or none (temp file + rename locally, a
single PUT or a completed multipart upload on S3).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import anyio

from core.aws import LazyClient

BLOCK_BYTES = 1 << 20
S3_PART_BYTES = 8 << 20


class BlobTooLargeError(Exception):
    """A streamed upload crossed its size limit (the partial object was discarded)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds the limit of {limit:,} bytes")
        self.limit = limit


class BlobNotFoundError(Exception):
    """The named object does not exist."""


class BlobStore(Protocol):
    """What the gateway and the workers need from a blob store."""

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int: ...
    async def put_bytes(self, key: str, data: bytes) -> None: ...
    async def get_range(self, key: str, start: int, end: int) -> bytes: ...
    def iter_bytes(
        self, key: str, *, block: int = BLOCK_BYTES, start: int = 0
    ) -> AsyncIterator[bytes]: ...
    async def size(self, key: str) -> int | None: ...
    async def compose(self, key: str, head: bytes, sources: Sequence[str]) -> int: ...
    async def delete_prefix(self, prefix: str) -> None: ...
    async def list_children(self, prefix: str) -> list[str]: ...
    async def list_objects(self, prefix: str) -> list[tuple[str, int]]: ...
    async def aclose(self) -> None: ...


def open_blob_store(url: str, *, endpoint_url: str | None = None) -> BlobStore:
    """A blob store for ``file:///folder`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBlobStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        return S3BlobStore(parsed.netloc, parsed.path.strip("/"), endpoint_url=endpoint_url)
    raise ValueError(f"unsupported blob URL {url!r}: use file:// or s3://")


PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


class FileBlobStore:
    """Blobs as files under one folder; writes go to a temp file renamed into place.

    Folders are made 700 and files 600: job inputs and results are readable by the
    service's user alone, whatever the umask.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_private = False

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        """Write a stream to ``key``; raise ``BlobTooLargeError`` past ``limit`` bytes."""
        path, temp = self._temp_for(key)
        total = 0
        handle = await anyio.to_thread.run_sync(temp.open, "wb")
        try:
            async for chunk in chunks:
                total += len(chunk)
                if limit is not None and total > limit:
                    raise BlobTooLargeError(limit)
                await anyio.to_thread.run_sync(handle.write, chunk)
            await anyio.to_thread.run_sync(handle.close)
            temp.replace(path)
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        return total

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` atomically."""
        await anyio.to_thread.run_sync(self._put_bytes_sync, key, data)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key``."""
        return await anyio.to_thread.run_sync(self._read_range_sync, key, start, end)

    async def iter_bytes(
        self, key: str, *, block: int = BLOCK_BYTES, start: int = 0
    ) -> AsyncIterator[bytes]:
        """The object's bytes from ``start`` on, in blocks."""
        path = self._path(key)
        try:
            handle = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key) from exc
        with handle:
            if start:
                handle.seek(start)
            while data := await anyio.to_thread.run_sync(handle.read, block):
                yield data

    async def size(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def compose(self, key: str, head: bytes, sources: Sequence[str]) -> int:
        """Write ``head`` then every source, in order, to ``key`` atomically."""
        return await anyio.to_thread.run_sync(self._compose_sync, key, head, list(sources))

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (a folder-like key ending in '/')."""
        await anyio.to_thread.run_sync(
            lambda: shutil.rmtree(self._path(prefix), ignore_errors=True)
        )

    async def list_children(self, prefix: str) -> list[str]:
        """The immediate child names under ``prefix``."""
        folder = self._path(prefix)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    async def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        """``(key, size)`` of every object whose key starts with ``prefix``, by key.

        A prefix ending in '/' is a folder (walked recursively); otherwise it names one
        object, or the start of names in its folder (as S3 reads a prefix).
        """
        return await anyio.to_thread.run_sync(self._list_objects_sync, prefix)

    async def aclose(self) -> None:
        """Nothing to release."""

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def _temp_for(self, key: str) -> tuple[Path, Path]:
        """A new, empty temp file (mode 600) beside ``key``'s path, folders made (700)."""
        path = self._path(key)
        self._make_folders(path.parent)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        return path, temp

    def _make_folders(self, folder: Path) -> None:
        if not self._root_private:
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(PRIVATE_FOLDER)
            self._root_private = True
        missing = []
        while not folder.is_dir() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for each in reversed(missing):
            each.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)

    def _put_bytes_sync(self, key: str, data: bytes) -> None:
        path, temp = self._temp_for(key)
        temp.write_bytes(data)
        temp.replace(path)

    def _read_range_sync(self, key: str, start: int, end: int) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(start)
                return handle.read(end - start)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key) from exc

    def _list_objects_sync(self, prefix: str) -> list[tuple[str, int]]:
        root = self.root.resolve()
        start = self._path(prefix) if prefix else root
        folder = start if prefix.endswith("/") or not prefix else start.parent
        if not folder.is_dir():
            return []
        found: list[tuple[str, int]] = []
        for path in folder.rglob("*"):
            if path.name.startswith(".") or not path.is_file():
                continue  # temp files of writes in progress
            key = path.relative_to(root).as_posix()
            if key.startswith(prefix):
                found.append((key, path.stat().st_size))
        return sorted(found)

    def _compose_sync(self, key: str, head: bytes, sources: list[str]) -> int:
        path, temp = self._temp_for(key)
        try:
            with temp.open("wb") as out:
                out.write(head)
                for source in sources:
                    with self._path(source).open("rb") as part:
                        shutil.copyfileobj(part, out, BLOCK_BYTES)
            temp.replace(path)
        except FileNotFoundError as exc:
            temp.unlink(missing_ok=True)
            raise BlobNotFoundError(str(exc.filename)) from exc
        return path.stat().st_size


class S3BlobStore:
    """Blobs as S3 objects under ``bucket/prefix`` through aiobotocore."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url
        self._aws = LazyClient("s3", endpoint_url=endpoint_url)

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        """Stream to ``key`` as a multipart upload; raise ``BlobTooLargeError`` past ``limit``."""
        writer = _MultipartWriter(await self._aws.get(), self.bucket, self._key(key))
        total = 0
        try:
            async for chunk in chunks:
                total += len(chunk)
                if limit is not None and total > limit:
                    raise BlobTooLargeError(limit)
                await writer.write(chunk)
            await writer.complete()
        except BaseException:
            await writer.abort()
            raise
        return total

    async def put_bytes(self, key: str, data: bytes) -> None:
        """PUT ``data`` to ``key`` (atomic by S3's semantics)."""
        client = await self._aws.get()
        await client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key`` by a ranged GET."""
        if end <= start:
            return b""
        client = await self._aws.get()
        try:
            response = await client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )
        except client.exceptions.NoSuchKey as exc:
            raise BlobNotFoundError(key) from exc
        async with response["Body"] as body:
            return bytes(await body.read())

    async def iter_bytes(
        self, key: str, *, block: int = BLOCK_BYTES, start: int = 0
    ) -> AsyncIterator[bytes]:
        """The object's bytes from ``start`` on, in blocks, streamed."""
        client = await self._aws.get()
        extra = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except client.exceptions.NoSuchKey as exc:
            raise BlobNotFoundError(key) from exc
        async with response["Body"] as body:
            while data := await body.read(block):
                yield bytes(data)

    async def size(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        client = await self._aws.get()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=self._key(key))
        except client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return int(head["ContentLength"])

    async def compose(self, key: str, head: bytes, sources: Sequence[str]) -> int:
        """Write ``head`` then each source, in order, to ``key`` as one multipart upload."""
        writer = _MultipartWriter(await self._aws.get(), self.bucket, self._key(key))
        total = len(head)
        try:
            await writer.write(head)
            for source in sources:
                async for data in self.iter_bytes(source):
                    total += len(data)
                    await writer.write(data)
            await writer.complete()
        except BaseException:
            await writer.abort()
            raise
        return total

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix``."""
        client = await self._aws.get()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                await client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

    async def list_children(self, prefix: str) -> list[str]:
        """The immediate child names under ``prefix``."""
        client = await self._aws.get()
        paginator = client.get_paginator("list_objects_v2")
        base = self._key(prefix)
        names: set[str] = set()
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            folders = page.get("CommonPrefixes", [])
            names.update(p["Prefix"][len(base) :].rstrip("/") for p in folders)
            names.update(i["Key"][len(base) :] for i in page.get("Contents", []))
        return sorted(names)

    async def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        """``(key, size)`` of every object whose key starts with ``prefix``, by key."""
        client = await self._aws.get()
        paginator = client.get_paginator("list_objects_v2")
        found: list[tuple[str, int]] = []
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                found.append((item["Key"][len(self.prefix) :], int(item["Size"])))
        return sorted(found)

    async def aclose(self) -> None:
        """Close the S3 client."""
        await self._aws.aclose()

    def _key(self, key: str) -> str:
        return self.prefix + key


class _MultipartWriter:
    """Buffers writes into >= 8 MiB parts; small objects become a single PUT."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= S3_PART_BYTES:
            await self._flush_part()

    async def complete(self) -> None:
        if self.upload_id is None:
            await self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            await self._flush_part()
        await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        if self.upload_id is not None:
            with suppress(Exception):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )

    async def _flush_part(self) -> None:
        if self.upload_id is None:
            created = await self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        response = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=bytes(self.buffer),
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})
        self.buffer.clear()
