"""A finished job's predictions for named rows, read by byte range from its row index.

The worker writes ``prices.f64`` at finalize (``jobs.row_index`` describes the format):
(price, low, high) per row as float64, row r at byte 24·(r−1). Rows are read in windows of at most
``WINDOW_BYTES``, one at a time, so a lookup costs memory in proportion to the window,
never to the result, and a few rows of a 3M-row job cost a few small reads.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from jobs.blobs import BlobNotFoundError, BlobStore
from jobs.keys import prices_key
from jobs.row_index import PRICE_DTYPE, ROW_BYTES

WINDOW_BYTES = 1 << 20
RowPrices = tuple[float, float, float]


async def job_row_prices(
    blobs: BlobStore, job_id: str, rows: Iterable[int]
) -> dict[int, RowPrices]:
    """(price, low, high) of each named row (1-based) that exists and was priced."""
    key = prices_key(job_id)
    size = await blobs.size(key)
    if size is None:
        raise BlobNotFoundError(key)
    count = size // ROW_BYTES
    wanted = sorted({row for row in rows if 1 <= row <= count})
    found: dict[int, RowPrices] = {}
    for window in _windows(wanted):
        first = window[0]
        data = await blobs.get_range(key, (first - 1) * ROW_BYTES, window[-1] * ROW_BYTES)
        table = np.frombuffer(data, dtype=PRICE_DTYPE).reshape(-1, 3)
        for row in window:
            price, low, high = (float(v) for v in table[row - first])
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
