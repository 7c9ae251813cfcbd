"""How a job's result rows compare with its input rows: lost, duplicated, out of order."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class RowAccount:
    """How a result's rows compare with its input's rows."""

    rows: int
    lost: int
    duplicated: int
    out_of_order: bool


def account_rows(data: bytes, result: bytes) -> RowAccount:
    """Count the input's row ids missing from and repeated in the result (first column)."""
    expected = [line.split(b",", 1)[0] for line in data.splitlines()[1:]]
    got = [line.split(b",", 1)[0] for line in result.splitlines()[1:]]
    counts = Counter(got)
    lost = sum(1 for row_id in expected if row_id not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return RowAccount(len(got), lost, duplicated, got != expected)
