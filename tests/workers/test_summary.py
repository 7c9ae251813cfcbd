"""A chunk's share of its job's summary, from a scored chunk (no Redis, no blobs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workers.scoring import ScoredChunk
from workers.summary import MAX_CELL_CHARS, chunk_stats


def scored(lines: list[str], prices: list[float], errors: list[str | None]) -> ScoredChunk:
    triples = np.array([[p, p * 0.9, p * 1.1] for p in prices], dtype="float64")
    return ScoredChunk(
        ("\n".join(lines) + "\n").encode(),
        rows=len(lines),
        failed=sum(e is not None for e in errors),
        prices=triples,
        errors=pd.Series(errors, dtype=object),
    )


def test_a_huge_quoted_cell_is_shown_cut_and_never_fails_the_chunk() -> None:
    huge = "x" * 300_000  # past the csv module's default field limit
    chunk = scored(
        [f'"{huge}",100000.00,90000.00,110000.00,,', "b,,,,sqft: missing,"],
        [100_000.0, np.nan],
        [None, "sqft: missing"],
    )

    stats = chunk_stats(chunk, width=1)

    first = stats.head[0].values
    assert len(first[0]) == MAX_CELL_CHARS
    assert first[0].endswith("…")
    assert first[1:4] == ["100000.00", "90000.00", "110000.00"]
    assert (stats.rows, stats.rejected) == (2, 1)
    assert (stats.price_min, stats.price_max) == (100_000.0, 100_000.0)
    assert stats.reasons == {"sqft: missing": 1}
    assert [(r.row, r.values[0]) for r in stats.rejected_rows] == [(1, "b")]
