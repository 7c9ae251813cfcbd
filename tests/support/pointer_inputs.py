"""Inputs already in the blob store for jobs from a pointer: CSV, gzip CSV and Parquet files.

``split_files`` cuts one numbered CSV (``tests.support.houses.numbered_houses``) into files
of each format in order, so a pointer job's result can be compared row for row with the
upload of the same CSV; ``put_files`` writes them into a blob store (a folder or a moto
bucket) with the project's own store; ``submit_pointer`` posts the JSON body.
"""

from __future__ import annotations

import asyncio
import gzip
import io
from collections.abc import Mapping, Sequence

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.blobs import open_blob_store
from tests.support.keys import ALICE

# The inputs each test key may read (HPP_INPUT_PREFIXES of the test gateways).
INPUT_PREFIXES = {"alice": ["inputs/alice/"], "bob": ["inputs/bob/"]}


def split_files(data: bytes, kinds: Sequence[str], *, row_group_rows: int = 400) -> list[bytes]:
    """``data`` (a CSV with a header) as one file per kind (csv, csv.gz, parquet), in order.

    Parquet files keep the numeric columns typed (int64, float64) and have row groups of
    ``row_group_rows`` rows, so a file spans several.
    """
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    pieces = _split(frame, len(kinds))
    return [_encode(piece, kind, row_group_rows) for piece, kind in zip(pieces, kinds, strict=True)]


def put_files(
    blob_url: str, folder: str, files: dict[str, bytes], *, endpoint_url: str | None = None
) -> None:
    """Write ``files`` (name -> bytes) under ``folder`` of the blob store at ``blob_url``."""

    async def put() -> None:
        store = open_blob_store(blob_url, endpoint_url=endpoint_url)
        try:
            for name, body in files.items():
                await store.put_bytes(f"{folder}{name}", body)
        finally:
            await store.aclose()

    asyncio.run(put())


def submit_pointer(
    http: httpx.Client, body: Mapping[str, object], *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST a job from a pointer (a JSON body)."""
    return http.post("/v1/jobs", json=dict(body), headers=headers or ALICE)


def parquet_rows(data: bytes) -> pa.Table:
    """A Parquet result as a table."""
    return pq.read_table(io.BytesIO(data))


def _split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    size = -(-len(frame) // parts)
    return [frame.iloc[i * size : (i + 1) * size] for i in range(parts)]


def _encode(piece: pd.DataFrame, kind: str, row_group_rows: int) -> bytes:
    if kind == "parquet":
        typed = piece.copy()
        for column in ("sqft", "bedrooms", "year_built"):
            typed[column] = typed[column].astype("int64")
        typed["bathrooms"] = typed["bathrooms"].astype("float64")
        sink = io.BytesIO()
        table = pa.Table.from_pandas(typed, preserve_index=False)
        pq.write_table(table, sink, row_group_size=row_group_rows)
        return sink.getvalue()
    text = piece.to_csv(index=False, lineterminator="\n").encode()
    return gzip.compress(text) if kind == "csv.gz" else text
