"""Reading a pointer job's input files by range: CSV bytes, gzip CSV, Parquet row groups.

Nothing here reads a file whole. A CSV chunk is one ranged GET; a Parquet file is opened
through a seekable file over ranged GETs (``BlobFile``), so pyarrow reads the footer and
then only the column chunks of the row groups asked for. gzip has no random access: a
chunk of a gzip CSV decompresses the stream from the file's start and keeps only its
range (memory bounded by the chunk; time grows with the chunk's offset, so large inputs
are better many smaller files).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Generator

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.pointer import SourceFile
from jobs.sync_blobs import SyncBlobStore

BLOCK_BYTES = 1 << 20
GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer


def source_blocks(blobs: SyncBlobStore, source: SourceFile) -> Generator[bytes, None, None]:
    """The file's (decompressed) bytes in blocks, streamed: what planning reads."""
    blocks = blobs.iter_bytes(source.key, block=BLOCK_BYTES)
    if not source.gzip:
        yield from blocks
        return
    inflate = zlib.decompressobj(GZIP_WBITS)
    try:
        for block in blocks:
            data = inflate.decompress(block, BLOCK_BYTES * 8)
            yield data
            while inflate.unconsumed_tail:
                yield inflate.decompress(inflate.unconsumed_tail, BLOCK_BYTES * 8)
        yield inflate.flush()
    except zlib.error as exc:
        raise ValueError(f"{source.name} is not readable gzip: {exc}") from exc
    finally:
        blocks.close()


def read_csv_range(blobs: SyncBlobStore, source: SourceFile, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the (decompressed) file."""
    if not source.gzip:
        return blobs.get_range(source.key, start, end)
    out = bytearray()
    position = 0
    blocks = source_blocks(blobs, source)
    try:
        for block in blocks:
            first, last = position, position + len(block)
            position = last
            if last <= start:
                continue
            out += block[max(0, start - first) : min(len(block), end - first)]
            if last >= end:
                break
    finally:
        blocks.close()
    return bytes(out)


def open_parquet(blobs: SyncBlobStore, source: SourceFile) -> pq.ParquetFile:
    """The Parquet file over ranged reads (only its footer is read now)."""
    return pq.ParquetFile(BlobFile(blobs, source.key, source.bytes))


def read_row_groups(
    blobs: SyncBlobStore, source: SourceFile, first: int, end: int, columns: list[str]
) -> pa.Table:
    """Row groups ``[first, end)`` of a Parquet file, only ``columns``, in their order."""
    parquet = open_parquet(blobs, source)
    table = parquet.read_row_groups(list(range(first, end)), columns=columns)
    return table.select(columns)


class BlobFile(io.RawIOBase):
    """A read-only, seekable file over one object's ranged reads."""

    def __init__(self, blobs: SyncBlobStore, key: str, size: int) -> None:
        self._blobs, self._key, self._size = blobs, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        end = min(self._size, self._position + len(buffer))
        if end <= self._position:
            return 0
        data = self._blobs.get_range(self._key, self._position, end)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        if end <= self._position:
            return b""
        data = self._blobs.get_range(self._key, self._position, end)
        self._position += len(data)
        return data
