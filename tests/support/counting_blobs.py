"""A local blob store that records which objects were read, and how many reads at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from jobs.blobs import BLOCK_BYTES, FileBlobStore


class CountingBlobStore(FileBlobStore):
    """``FileBlobStore`` that lists every key read (whole or by range) and the most reads
    that were in progress together."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.in_flight = 0
        self.peak = 0

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        self.reads.append(key)
        return await super().get_range(key, start, end)

    async def iter_bytes(
        self, key: str, *, block: int = BLOCK_BYTES, start: int = 0
    ) -> AsyncIterator[bytes]:
        self.reads.append(key)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0)  # let every other read that may start, start
            async for data in super().iter_bytes(key, block=block, start=start):
                yield data
        finally:
            self.in_flight -= 1
