"""Training data that grows: the shipped sales plus accepted feedback, and its version.

A feedback row is a house someone priced through the API together with the sale price
reported for it later (trusted and plausible only: the gateway decides that before the row
is kept). ``merge_feedback`` validates those rows with the same rules as the shipped file,
drops (and names) the unfit ones, and returns one frame plus a ``DataVersion``: a content
hash of exactly the rows trained on, the count per source and the date range of the
feedback, logged to MLflow and put on the model card so a version names its data.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel

from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS, NUMERIC_COLUMNS, TARGET_COLUMN
from ml.data import REQUIRED_COLUMNS, validate_frame

SOURCE_COLUMN = "source"
SHIPPED, FEEDBACK = "shipped", "feedback"


class DataVersion(BaseModel):
    """What a training run was fitted on."""

    sha256: str
    rows: int
    rows_by_source: dict[str, int]
    feedback_first: str | None = None  # ISO times of the oldest and newest feedback row
    feedback_last: str | None = None
    feedback_rejected: int = 0
    rejected_reasons: list[str] = []


def merge_feedback(
    shipped: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    reported_at: pd.Series | None = None,
    unreadable: Sequence[str] = (),
) -> tuple[pd.DataFrame, DataVersion]:
    """The shipped frame (typed, as ``load_training_data`` returns it) plus the valid feedback.

    ``feedback`` holds the six inputs and ``price``; ``reported_at`` (epoch seconds, same
    index) dates each row for the data version. ``unreadable`` holds, per feedback row
    without a house (a job's row whose input is gone), why: each is counted rejected.
    """
    kept, reasons = _valid_rows(feedback)
    reasons += [
        f"{count:,} feedback row{'s' if count != 1 else ''}: {why}"
        for why, count in Counter(unreadable).most_common()
    ]
    frame = pd.concat(
        [shipped[list(REQUIRED_COLUMNS)], kept[list(REQUIRED_COLUMNS)]], ignore_index=True
    )
    times = None if reported_at is None or kept.empty else reported_at.loc[kept.index]
    version = DataVersion(
        sha256=frame_sha256(frame),
        rows=len(frame),
        rows_by_source={SHIPPED: len(shipped), FEEDBACK: len(kept)},
        feedback_first=None if times is None else _iso(float(times.min())),
        feedback_last=None if times is None else _iso(float(times.max())),
        feedback_rejected=len(feedback) - len(kept) + len(unreadable),
        rejected_reasons=reasons,
    )
    return frame, version


def shipped_version(shipped: pd.DataFrame) -> DataVersion:
    """The data version of a run on the shipped data alone."""
    return DataVersion(
        sha256=frame_sha256(shipped), rows=len(shipped), rows_by_source={SHIPPED: len(shipped)}
    )


def frame_sha256(frame: pd.DataFrame) -> str:
    """A hash of the rows' values in order (independent of dtypes and the index)."""
    text = frame[list(REQUIRED_COLUMNS)].to_csv(index=False, float_format="%.6g")
    return hashlib.sha256(text.encode()).hexdigest()


def _valid_rows(feedback: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The feedback rows that pass the training-data rules, typed; and why others failed."""
    if feedback.empty:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS)), []
    raw = feedback[list(REQUIRED_COLUMNS)].astype(str)
    bad: set[int] = set()
    reasons: list[str] = []
    for problem in validate_frame(raw.reset_index(drop=True)):
        if problem.rows:
            bad.update(r - 2 for r in problem.rows)  # rows are 1-based with the header
            reasons.append(str(problem))
        elif "rows; at least" not in problem.message:  # a few rows is fine beside the shipped
            return pd.DataFrame(columns=list(REQUIRED_COLUMNS)), [str(problem)]
    keep = [i for i in range(len(raw)) if i not in bad]
    kept = feedback.iloc[keep].copy()
    for column in (TARGET_COLUMN, *NUMERIC_COLUMNS):
        kept[column] = pd.to_numeric(kept[column]).astype("float64")
    for column in CATEGORY_COLUMNS:
        kept[column] = kept[column].astype(str).str.strip().astype(object)
    return kept[[*FEATURE_COLUMNS, TARGET_COLUMN]].loc[:, list(REQUIRED_COLUMNS)], reasons


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
