"""Shipped data plus feedback rows: validation, and the data version a run records."""

from __future__ import annotations

import pandas as pd

from ml.data import load_training_data
from ml.data_version import FEEDBACK, SHIPPED, frame_sha256, merge_feedback, shipped_version
from tests.support.paths import DATA


def feedback_from(shipped: pd.DataFrame, rows: int) -> pd.DataFrame:
    frame = shipped.head(rows).copy()
    frame["price"] = frame["price"] * 1.15
    return frame


def test_valid_feedback_is_added_and_counted_by_source() -> None:
    shipped = load_training_data(DATA)
    feedback = feedback_from(shipped, 40)
    times = pd.Series([1_700_000_000.0 + i for i in range(40)], index=feedback.index)
    frame, version = merge_feedback(shipped, feedback, reported_at=times)
    assert len(frame) == len(shipped) + 40
    assert version.rows_by_source == {SHIPPED: len(shipped), FEEDBACK: 40}
    assert version.feedback_first == "2023-11-14T22:13:20+00:00"
    assert version.feedback_last == "2023-11-14T22:13:59+00:00"
    assert version.sha256 == frame_sha256(frame)
    assert version.sha256 != shipped_version(shipped).sha256


def test_feedback_rows_breaking_the_data_rules_are_dropped_and_named() -> None:
    shipped = load_training_data(DATA)
    feedback = feedback_from(shipped, 5)
    feedback.loc[feedback.index[1], "sqft"] = -10
    feedback.loc[feedback.index[3], "condition"] = "Splendid"
    frame, version = merge_feedback(shipped, feedback)
    assert version.rows_by_source[FEEDBACK] == 3
    assert version.feedback_rejected == 2
    assert any("condition" in reason for reason in version.rejected_reasons)
    assert len(frame) == len(shipped) + 3
    assert frame["sqft"].min() > 0


def test_the_hash_names_the_rows_not_the_dtypes() -> None:
    shipped = load_training_data(DATA)
    assert frame_sha256(shipped) == frame_sha256(shipped.astype({"bedrooms": "int64"}))
    changed = shipped.copy()
    changed.loc[0, "price"] += 1
    assert frame_sha256(changed) != frame_sha256(shipped)
