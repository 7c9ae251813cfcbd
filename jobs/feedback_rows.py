"""Accepted sale prices as labelled training rows, kept in Redis beside the live windows.

The gateway adds a row for every trusted, plausible price it accepts (the shared scope:
``gateway.feedback_trust`` decides), with the features of the prediction it belongs to,
so a user can neither poison training nor the live figures. For a job's row the gateway
reads the house back from the job's stored input as it accepts the price
(``jobs.job_features``); a row whose house cannot be read back keeps its job, row and the
reason (``problem``), and training tries the input once more, then counts it rejected
with that reason (``workers.feedback_houses``).

``hpp:training:feedback`` is a hash: prediction key -> JSON, so a resent price counts once.
Training (``hpp train --with-feedback``, the loop) reads it with ``read_rows``.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from pydantic import BaseModel

from jobs.keys import FEEDBACK_ROWS_KEY


class FeedbackRow(BaseModel):
    """One house with its actual sale price, as reported through ``POST /v1/feedback``."""

    key: str  # prediction id, or job:{id}:{row}
    actual: float
    predicted: float
    version: str
    at: float  # epoch seconds when the price was accepted
    features: dict[str, Any] | None = None
    job_id: str | None = None
    row: int | None = None
    problem: str | None = None  # why the features are missing (a job row's house unread)


def encode_row(row: FeedbackRow) -> str:
    """The row as stored in the hash."""
    return row.model_dump_json(exclude_none=True)


def new_row(
    key: str,
    *,
    actual: float,
    predicted: float,
    version: str,
    features: dict[str, Any] | None,
    problem: str | None = None,
) -> FeedbackRow:
    """A row accepted now; a job row (``job:{id}:{row}``) also keeps its job and row."""
    job_id, row = None, None
    if key.startswith("job:"):
        job_id, number = key.removeprefix("job:").rsplit(":", 1)
        row = int(number)
    return FeedbackRow(
        key=key,
        actual=actual,
        predicted=predicted,
        version=version,
        at=round(time.time(), 3),
        features=features,
        job_id=job_id,
        row=row,
        problem=None if features is not None else problem,
    )


def read_rows(client: Any, *, since: float = 0.0) -> list[FeedbackRow]:
    """Every stored row accepted at or after ``since`` (sync Redis client), oldest first."""
    rows = [FeedbackRow.model_validate_json(v) for v in client.hvals(FEEDBACK_ROWS_KEY)]
    return sorted((r for r in rows if r.at >= since), key=lambda r: r.at)


def rows_frame(rows: list[FeedbackRow]) -> pd.DataFrame:
    """The rows with features as a frame: six inputs, ``price`` (the actual), ``at``, ``key``."""
    records = [
        {**r.features, "price": r.actual, "at": r.at, "key": r.key, "version": r.version}
        for r in rows
        if r.features is not None
    ]
    return pd.DataFrame.from_records(records)
