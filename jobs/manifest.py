"""A finished job's result as a manifest of parts, and how the gateway streams it as one file.

Finalize no longer joins the parts: each chunk's part is written once, where the result
lives (``jobs.keys.output_part_key``), and finalize writes this manifest (the parts in
order, with their rows and bytes), so finishing a job costs one listing and one small
write whatever its size. Every CSV part is a whole CSV (header included), and every
Parquet part a whole Parquet file, so a folder of parts is itself a dataset that Athena,
Spark, DuckDB or ``pyarrow.dataset`` read as it is.

``GET /v1/jobs/{id}/result`` still answers one file: the CSV header then each part without
its own header (``Content-Length`` known up front), or one Parquet file re-written row group
by row group (memory bounded by a part, never the result).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from jobs.blobs import BlobStore

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


class ResultPart(BaseModel):
    """One part of a result: a chunk's rows, a whole CSV or Parquet file."""

    key: str = Field(description="blob-store key of the part")
    rows: int
    bytes: int
    header_bytes: int = Field(0, description="bytes of the part's own CSV header")


class ResultManifest(BaseModel):
    """A finished job's result: its parts in input order."""

    job_id: str
    format: Literal["csv", "parquet"] = "csv"
    rows: int
    header: str = Field("", description="the CSV header line (CSV results)")
    parts: list[ResultPart]

    @property
    def media_type(self) -> str:
        """The result's media type."""
        return PARQUET_MEDIA_TYPE if self.format == "parquet" else CSV_MEDIA_TYPE

    @property
    def suffix(self) -> str:
        """The result's file suffix."""
        return ".parquet" if self.format == "parquet" else ".csv"

    def first_rows(self) -> list[int]:
        """Rows before each part, then all rows: part i holds the result's rows
        ``first_rows[i] + 1`` to ``first_rows[i + 1]`` (1-based), and is chunk i."""
        offsets = [0]
        for part in self.parts:
            offsets.append(offsets[-1] + part.rows)
        return offsets

    def csv_length(self) -> int:
        """Bytes of the CSV the parts make together (one header)."""
        body = sum(part.bytes - part.header_bytes for part in self.parts)
        return len(self.header.encode()) + body


async def read_manifest(blobs: BlobStore, key: str) -> ResultManifest | None:
    """The manifest stored at ``key``, or None when there is none."""
    if await blobs.size(key) is None:
        return None
    body = b"".join([chunk async for chunk in blobs.iter_bytes(key)])
    return ResultManifest.model_validate_json(body)


async def stream_result(blobs: BlobStore, manifest: ResultManifest) -> AsyncIterator[bytes]:
    """The result as one file: CSV joined on the fly, or Parquet re-written row group-wise."""
    if manifest.format == "parquet":
        async for data in _parquet(blobs, manifest):
            yield data
        return
    yield manifest.header.encode()
    for part in manifest.parts:
        async for data in blobs.iter_bytes(part.key, start=part.header_bytes):
            yield data


async def _parquet(blobs: BlobStore, manifest: ResultManifest) -> AsyncIterator[bytes]:
    import pyarrow.parquet as pq  # only where Parquet is served: the web app never loads it

    sink = _Sink()
    writer: pq.ParquetWriter | None = None
    try:
        for part in manifest.parts:
            data = b"".join([chunk async for chunk in blobs.iter_bytes(part.key)])
            table = await anyio.to_thread.run_sync(pq.read_table, io.BytesIO(data))
            if writer is None:
                writer = pq.ParquetWriter(sink, table.schema)
            await anyio.to_thread.run_sync(writer.write_table, table)
            if out := sink.take():
                yield out
        if writer is not None:
            writer.close()
            writer = None
        if out := sink.take():
            yield out
    finally:
        if writer is not None:
            writer.close()


class _Sink(io.RawIOBase):
    """A writable file that hands over what was written since the last ``take``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out
