"""The blob store for synchronous code (Celery tasks, ``hpp compare``).

The stores are async (the gateway streams through them); a worker drives the same store
on a private event loop, one call at a time, each in the calling code's context (so its
log lines carry the ids the caller bound, and no others). Other coroutines that must share
that loop (the audit trail's S3 client is bound to it) run through ``run``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, Awaitable, Generator, Iterator, Sequence
from typing import TypeVar, cast

from jobs.blobs import BLOCK_BYTES, BlobStore, open_blob_store

T = TypeVar("T")
BATCH_FACTOR = 4  # read_many holds this many objects per concurrent request at most


class SyncBlobStore:
    """A blob store driven from synchronous code on a private event loop."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._runner = asyncio.Runner()

    @classmethod
    def open(cls, url: str, *, endpoint_url: str | None = None) -> SyncBlobStore:
        """A store for ``file:///folder`` or ``s3://bucket/prefix``."""
        return cls(open_blob_store(url, endpoint_url=endpoint_url))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` atomically."""
        self.run(self.store.put_bytes(key, data))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key``."""
        return self.run(self.store.get_range(key, start, end))

    def read_bytes(self, key: str) -> bytes:
        """The whole object (small ones: stats, summaries)."""
        return b"".join(self.iter_bytes(key))

    def read_many(self, keys: Sequence[str], *, concurrency: int = 16) -> Iterator[bytes]:
        """Whole small objects in the order of ``keys``, ``concurrency`` requests at a time;
        at most ``BATCH_FACTOR × concurrency`` of them are held at once."""
        batch = BATCH_FACTOR * concurrency
        for start in range(0, len(keys), batch):
            yield from self.run(self._read_batch(keys[start : start + batch], concurrency))

    async def _read_batch(self, keys: Sequence[str], concurrency: int) -> list[bytes]:
        limit = asyncio.Semaphore(concurrency)

        async def read(key: str) -> bytes:
            async with limit:
                return b"".join([data async for data in self.store.iter_bytes(key)])

        try:  # a failed read cancels the others (then raises as itself, not as a group)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(read(key)) for key in keys]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    def size(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        return self.run(self.store.size(key))

    def compose(self, key: str, head: bytes, sources: Sequence[str]) -> int:
        """Write ``head`` then every source, in order, to ``key`` atomically."""
        return self.run(self.store.compose(key, head, sources))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix``."""
        self.run(self.store.delete_prefix(prefix))

    def list_children(self, prefix: str) -> list[str]:
        """The immediate child names under ``prefix``."""
        return self.run(self.store.list_children(prefix))

    def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``, by key."""
        return self.run(self.store.list_objects(prefix))

    def iter_bytes(self, key: str, *, block: int = BLOCK_BYTES) -> Generator[bytes, None, None]:
        """The object's bytes in blocks, as a plain iterator (close it to stop early)."""
        stream = self.store.iter_bytes(key, block=block)
        try:
            while True:
                try:
                    yield self.run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self.run(cast(AsyncGenerator[bytes, None], stream).aclose())

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run one coroutine to completion on this store's loop."""

        async def _await() -> T:
            return await awaitable

        # In the caller's context, not the loop's: ``asyncio.Runner`` would otherwise run
        # every call in a copy of the context of its first call, so log lines from inside
        # the store (the audit stream's) would carry the first task's job and task ids.
        return self._runner.run(_await(), context=contextvars.copy_context())

    def close(self) -> None:
        """Close the store and the loop."""
        self.run(self.store.aclose())
        self._runner.close()
