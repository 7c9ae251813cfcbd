"""The format of a finished job's row index: each row's (price, low, high) for feedback by row.

(price, low, high) per row as little-endian float64, 24 bytes a row, NaN for a rejected
row. The index is kept per part: each chunk writes its rows' triples beside its part as it
is scored (``jobs.keys.part_prices_key``, ``workers.summary``), row k of the chunk at byte
24·k, and the manifest's per-part rows (``jobs.manifest.ResultManifest.first_rows``) say
which part holds a row of the result. Jobs finished before that have one joined index,
``jobs.keys.prices_key`` (row r of the result at byte 24·(r−1)). The gateway reads the rows
feedback names by byte range from either (``gateway.job_rows``).
"""

from __future__ import annotations

import numpy as np

PRICE_DTYPE = np.dtype("<f8")
ROW_BYTES = 3 * PRICE_DTYPE.itemsize  # price, low, high
