"""Files for people to try the batch page with."""

from __future__ import annotations

import pandas as pd

from ml.contract import FEATURE_COLUMNS
from webui.components.house_form import example_house


def sample_csv(categories: dict[str, list[str]] | None = None, *, rows: int = 5) -> bytes:
    """A small CSV in the contract's columns, using the model's categories when known."""
    base = example_house()
    locations = (categories or {}).get("location") or [base["location"]]
    conditions = (categories or {}).get("condition") or [base["condition"]]
    records = []
    for i in range(rows):
        records.append(
            {
                "sqft": base["sqft"] + 150 * i,
                "bedrooms": base["bedrooms"] + i % 2,
                "bathrooms": base["bathrooms"] + 0.5 * (i % 3),
                "location": locations[i % len(locations)],
                "year_built": base["year_built"] + 9 * i,
                "condition": conditions[i % len(conditions)],
            }
        )
    return pd.DataFrame(records, columns=list(FEATURE_COLUMNS)).to_csv(index=False).encode()
