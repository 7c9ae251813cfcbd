"""Feedback's row lookups: a row's part found through the manifest, or the old joined index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.job_rows import job_row_prices
from jobs.blobs import BlobNotFoundError, FileBlobStore
from jobs.keys import manifest_key, part_prices_key, prices_key
from jobs.manifest import ResultManifest, ResultPart
from jobs.row_index import PRICE_DTYPE

PART_ROWS = [4, 0, 5, 3]  # an empty part (a chunk of blank lines) in the middle


def triples(first: int, rows: int) -> np.ndarray:
    """Row r's price is 1,000·r (low and high around it); row 6 was rejected."""
    prices = np.array([1_000.0 * r for r in range(first, first + rows)], dtype=PRICE_DTYPE)
    prices[prices == 6_000.0] = np.nan
    return np.column_stack([prices, prices - 1, prices + 1]).astype(PRICE_DTYPE)


def priced(row: int) -> tuple[float, float, float]:
    return (1_000.0 * row, 1_000.0 * row - 1, 1_000.0 * row + 1)


async def job_with_parts(store: FileBlobStore, job_id: str) -> np.ndarray:
    """A finished job whose row index is per part; returns all rows' triples."""
    parts, first = [], 1
    for index, rows in enumerate(PART_ROWS):
        await store.put_bytes(part_prices_key(job_id, index), triples(first, rows).tobytes())
        key = f"jobs/{job_id}/parts/{index:06d}.csv"
        parts.append(ResultPart(key=key, rows=rows, bytes=1))
        first += rows
    manifest = ResultManifest(job_id=job_id, rows=sum(PART_ROWS), parts=parts)
    await store.put_bytes(manifest_key(job_id), manifest.model_dump_json().encode())
    return triples(1, sum(PART_ROWS))


async def test_rows_in_the_first_a_middle_and_the_last_part_are_found(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await job_with_parts(store, "j")

    found = await job_row_prices(store, "j", [1, 4, 5, 9, 10, 12, 6, 13, 0, -3])

    assert found == {
        r: (1_000.0 * r, 1_000.0 * r - 1, 1_000.0 * r + 1) for r in (1, 4, 5, 9, 10, 12)
    }
    assert await store.size(prices_key("j")) is None


async def test_a_job_with_the_joined_index_is_read_from_it(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    rows = await job_with_parts(store, "old")
    await store.put_bytes(prices_key("old"), rows.tobytes())
    await store.delete_prefix("jobs/old/parts/")  # as finalize left jobs before the change

    found = await job_row_prices(store, "old", [1, 5, 6, 12, 13])

    assert found == {r: priced(r) for r in (1, 5, 12)}


async def test_a_job_without_a_manifest_reads_the_joined_index(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await store.put_bytes(prices_key("older"), triples(1, 3).tobytes())

    assert await job_row_prices(store, "older", [2, 4]) == {2: (2_000.0, 1_999.0, 2_001.0)}


async def test_a_job_without_any_row_index_raises_not_found(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await job_with_parts(store, "gone")
    await store.delete_prefix("jobs/gone/parts/")

    with pytest.raises(BlobNotFoundError):
        await job_row_prices(store, "gone", [1])
