"""A scored CSV read back for people: first rows, price distribution, rejected rows."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

from ml.contract import FEATURE_COLUMNS
from webui.components.house_form import example_house

PRICE_COLUMN = "predicted_price"
ERROR_COLUMN = "error"


@dataclass
class ResultSummary:
    """What the batch page shows about a finished job's output."""

    rows: int
    columns: list[str]
    preview: list[dict[str, object]]
    prices: list[float]
    rejected: int
    reasons: list[tuple[str, int]] = field(default_factory=list)


def summarize_result(
    content: bytes, *, preview_rows: int = 10, top_reasons: int = 8
) -> ResultSummary:
    """Read a scored CSV (input columns + price, interval, error) into a summary."""
    frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    prices = pd.to_numeric(frame.get(PRICE_COLUMN, pd.Series(dtype=str)), errors="coerce")
    errors = frame.get(ERROR_COLUMN, pd.Series([""] * len(frame), dtype=str)).str.strip()
    rejected_mask = errors != ""
    reasons = errors[rejected_mask].value_counts().head(top_reasons)
    return ResultSummary(
        rows=len(frame),
        columns=list(frame.columns),
        preview=frame.head(preview_rows).to_dict(orient="records"),
        prices=prices.dropna().astype(float).tolist(),
        rejected=int(rejected_mask.sum()),
        reasons=[(str(reason), int(count)) for reason, count in reasons.items()],
    )


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
