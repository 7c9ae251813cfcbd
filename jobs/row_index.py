"""The format of a finished job's row index (``jobs.keys.prices_key``).

(price, low, high) per row as little-endian float64, row r of the result at byte
24·(r−1); NaN for a rejected row. The workers write it at finalize (``workers.summary``);
the gateway reads the rows feedback names by byte range (``gateway.job_rows``).
"""

from __future__ import annotations

import numpy as np

PRICE_DTYPE = np.dtype("<f8")
ROW_BYTES = 3 * PRICE_DTYPE.itemsize  # price, low, high
