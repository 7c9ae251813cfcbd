"""A finished job's predictions for named rows, read by byte range from its row index.

The row index is kept per part (``jobs.row_index`` describes the format): chunk i's rows'
(price, low, high) as float64 triples beside its part. The manifest's per-part rows say
which part holds row r; 24 bytes are read at the right offset of that part's triples.
Jobs finished before the index stayed per part (no manifest, or parts without triples)
have one joined ``prices.f64`` instead, row r at byte 24·(r−1), read the same way.
Rows are read in windows of at most ``WINDOW_BYTES``, one at a time, so a lookup costs
memory in proportion to the window and the manifest (a few hundred bytes a part), never to
the result, and a few rows of a 3M-row job cost a few small reads.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from jobs.blobs import BlobNotFoundError, BlobStore
from jobs.keys import manifest_key, part_prices_key, prices_key
from jobs.manifest import ResultManifest, read_manifest
from jobs.row_index import PRICE_DTYPE, ROW_BYTES

WINDOW_BYTES = 1 << 20
RowPrices = tuple[float, float, float]


async def job_row_prices(
    blobs: BlobStore, job_id: str, rows: Iterable[int]
) -> dict[int, RowPrices]:
    """(price, low, high) of each named row (1-based) that exists and was priced; raises
    ``BlobNotFoundError`` when the job has no row index."""
    wanted = sorted({row for row in rows if row >= 1})
    manifest = await read_manifest(blobs, manifest_key(job_id))
    if manifest is not None:
        try:
            return await _from_parts(blobs, job_id, manifest, wanted)
        except BlobNotFoundError:
            pass  # parts without triples: a job finished with the joined index
    return await _from_joined(blobs, prices_key(job_id), wanted)


async def _from_parts(
    blobs: BlobStore, job_id: str, manifest: ResultManifest, wanted: list[int]
) -> dict[int, RowPrices]:
    """Rows looked up per part: the part through the manifest, the bytes in its triples."""
    first = manifest.first_rows()
    by_part: defaultdict[int, list[int]] = defaultdict(list)
    for row in wanted:
        if row <= first[-1]:
            by_part[bisect_left(first, row) - 1].append(row)
    found: dict[int, RowPrices] = {}
    for index, part_rows in by_part.items():
        key = part_prices_key(job_id, index)
        found.update(await _read_rows(blobs, key, part_rows, before=first[index]))
    return found


async def _from_joined(blobs: BlobStore, key: str, wanted: list[int]) -> dict[int, RowPrices]:
    """Rows looked up in one joined index (jobs finished before it stayed per part)."""
    size = await blobs.size(key)
    if size is None:
        raise BlobNotFoundError(key)
    count = size // ROW_BYTES
    return await _read_rows(blobs, key, [row for row in wanted if row <= count], before=0)


async def _read_rows(
    blobs: BlobStore, key: str, rows: list[int], *, before: int
) -> dict[int, RowPrices]:
    """Sorted rows of the result whose triples are in ``key`` from its row ``before + 1`` on."""
    found: dict[int, RowPrices] = {}
    for window in _windows(rows):
        start, end = window[0] - before - 1, window[-1] - before
        data = await blobs.get_range(key, start * ROW_BYTES, end * ROW_BYTES)
        table = np.frombuffer(data, dtype=PRICE_DTYPE).reshape(-1, 3)
        for row in window:
            position = row - before - 1 - start
            if position >= len(table):
                continue  # the triples hold fewer rows than the manifest says
            price, low, high = (float(v) for v in table[position])
            if not np.isnan(price):
                found[row] = (price, low, high)
    return found


def _windows(rows: list[int]) -> list[list[int]]:
    """Sorted rows grouped so that each group spans at most ``WINDOW_BYTES`` of the index."""
    span = WINDOW_BYTES // ROW_BYTES
    groups: list[list[int]] = []
    for row in rows:
        if groups and row - groups[-1][0] < span:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
