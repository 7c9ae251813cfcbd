"""A job chunk's rows read back from its audit payloads, with the workers' own CSV reader.

It lives with the workers (their CSV format) and is handed to ``audit.backtest.logged_rows``
by ``hpp audit``, so the audit package imports nothing of the workers.

The input payload is the chunk's bytes as uploaded (every column the caller sent); its
six feature cells, normalised as the model saw them (coerced, and each category spelling
the record's ``rewrites`` name read as its canonical name), come from there. The output payload
is the chunk's scored part: the input columns, then ``OUTPUT_COLUMNS``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from jobs.chunk_csv import read_chunk
from jobs.keys import job_row_item
from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS
from ml.frame_rules import coerce_frame
from workers.scoring import OUTPUT_COLUMNS


def chunk_rows(record: dict[str, Any], *, input_data: bytes, output: bytes) -> list[dict[str, Any]]:
    """The chunk's rows as objects (as ``records.flatten`` gives), keyed ``job:{id}:{row}``."""
    columns, positions = list(record["columns"]), dict(record["feature_positions"])
    sent, _ = read_chunk(input_data, width=len(columns))
    normalised = as_normalised(
        pd.DataFrame({name: sent[positions[name]] for name in FEATURE_COLUMNS}, index=sent.index),
        record.get("rewrites") or [],
    )
    scored, _ = read_chunk(output, width=len(columns) + len(OUTPUT_COLUMNS))
    out = {name: scored[len(columns) + i].tolist() for i, name in enumerate(OUTPUT_COLUMNS)}
    houses = normalised.astype(object).where(normalised.notna(), None).to_dict("records")
    first = int(record["first_row"])
    return [
        {
            "key": job_row_item(record["job_id"], first + i),
            "normalised": house,
            "price": _number(out["predicted_price"][i]),
            "low": _number(out["price_low"][i]),
            "high": _number(out["price_high"][i]),
            "level": record.get("level"),
            "warnings": out["warning"][i] or None,
        }
        for i, house in enumerate(houses)
    ]


def as_normalised(features: pd.DataFrame, rewrites: list[dict[str, Any]]) -> pd.DataFrame:
    """The six cells as the model read them: coerced, each rewritten spelling replaced by
    its canonical name (the chunk record's ``rewrites``)."""
    normalised = coerce_frame(features)
    for column in CATEGORY_COLUMNS:
        names = {r["sent"]: r["canonical"] for r in rewrites if r.get("column") == column}
        if names:
            normalised[column] = normalised[column].replace(names)
    return normalised


def _number(cell: str) -> float | None:
    return float(cell) if cell else None
