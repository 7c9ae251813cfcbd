"""CSV files of houses for the UI tests, built from the model's own categories."""

from __future__ import annotations

import io
import random

import pandas as pd

from ml.contract import FEATURE_COLUMNS

BAD_SQFT = "not-a-number"


def houses_csv(
    rows: int, *, categories: dict[str, list[str]], bad_rows: int = 0, seed: int = 5
) -> bytes:
    """``rows`` plausible houses; the last ``bad_rows`` of them have an unreadable sqft."""
    rng = random.Random(seed)
    records = [
        {
            "sqft": rng.randint(600, 3500),
            "bedrooms": rng.randint(1, 5),
            "bathrooms": rng.choice([1, 1.5, 2, 2.5, 3]),
            "location": rng.choice(categories["location"]),
            "year_built": rng.randint(1900, 2010),
            "condition": rng.choice(categories["condition"]),
        }
        for _ in range(rows)
    ]
    for record in records[rows - bad_rows :]:
        record["sqft"] = BAD_SQFT
    return pd.DataFrame(records, columns=list(FEATURE_COLUMNS)).to_csv(index=False).encode()


def read_csv(content: bytes) -> pd.DataFrame:
    """A CSV's rows as strings (no type guessing)."""
    return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
