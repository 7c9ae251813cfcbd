"""Parse a feedback body (JSON items or CSV rows) into checked items, with per-item errors."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from jobs.keys import job_row_item

MAX_ITEMS = 50_000


@dataclass(frozen=True)
class FeedbackItem:
    """One actual sale price, for a prediction id or for a job's row (1-based)."""

    actual: float
    prediction_id: str | None = None
    job_id: str | None = None
    row: int | None = None

    @property
    def key(self) -> str:
        """What identifies the prediction (for duplicate detection and reports)."""
        return self.prediction_id or job_row_item(str(self.job_id), str(self.row))


def parse_json(body: bytes) -> tuple[list[FeedbackItem], list[dict[str, Any]]]:
    """Items of ``{"items": [{"prediction_id"| "job_id"+"row", "actual_price"}]}``.

    All or nothing, as the OpenAPI schema states it: one item that breaks it (a wrong
    type, an unknown property, both ids) and no item is taken (each bad one is named).
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return [], [{"field": "body", "message": f"not valid JSON: {exc}"}]
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        return [], [{"field": "items", "message": "a non-empty list of items is required"}]
    raw = [(f"items.{i}", item) for i, item in enumerate(items)]
    errors = [
        {"field": where, "message": problem}
        for where, item in raw
        if (problem := _json_item_problem(item)) is not None
    ]
    return ([], errors) if errors else _check(raw)


def parse_csv(
    body: bytes, *, job_id: str | None
) -> tuple[list[FeedbackItem], list[dict[str, Any]]]:
    """Rows of a CSV with ``actual_price`` and ``prediction_id`` or ``job_id``/``row``."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [{"field": "body", "message": "the CSV is not UTF-8"}]
    reader = csv.DictReader(io.StringIO(text))
    names = set(reader.fieldnames or [])
    if "actual_price" not in names or not (
        "prediction_id" in names or ("row" in names and ("job_id" in names or job_id))
    ):
        return [], [
            {
                "field": "body",
                "message": "columns needed: actual_price and prediction_id, or row and job_id "
                "(a column or the job_id query parameter)",
            }
        ]
    rows = []
    for number, record in enumerate(reader, start=1):
        if job_id and not record.get("job_id"):
            record["job_id"] = job_id
        rows.append((f"row {number}", record))
    if not rows:
        return [], [{"field": "body", "message": "the CSV has no rows"}]
    return _check(rows)


def _check(raw: list[tuple[str, Any]]) -> tuple[list[FeedbackItem], list[dict[str, Any]]]:
    items: list[FeedbackItem] = []
    errors: list[dict[str, Any]] = []
    if len(raw) > MAX_ITEMS:
        return [], [{"field": "items", "message": f"at most {MAX_ITEMS:,} items per request"}]
    for where, item in raw:
        parsed = _item(item)
        if isinstance(parsed, str):
            errors.append({"field": where, "message": parsed})
        else:
            items.append(parsed)
    return items, errors


JSON_FIELDS = frozenset({"prediction_id", "job_id", "row", "actual_price"})


def _json_item_problem(item: Any) -> str | None:
    """What makes a JSON item break the schema (JSON types, not text as in a CSV cell)."""
    if not isinstance(item, dict):
        return "must be an object"
    unknown = sorted(set(item) - JSON_FIELDS)
    if unknown:
        return f"unknown properties: {', '.join(map(repr, unknown))[:200]}"
    if "prediction_id" in item and ("job_id" in item or "row" in item):
        return "give prediction_id, or job_id and row, not both"
    if "prediction_id" not in item and not ("job_id" in item and "row" in item):
        return "prediction_id, or job_id and row, is required"
    price = item.get("actual_price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return "actual_price must be a positive number"
    row = item.get("row")
    if row is not None and (isinstance(row, bool) or not isinstance(row, int | float)):
        return "row must be a whole number from 1 (the first data row of the job's file)"
    for name in ("prediction_id", "job_id"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            return f"{name} must be a non-empty string"
    return None


def _item(item: Any) -> FeedbackItem | str:
    if not isinstance(item, dict):
        return "must be an object"
    actual = _number(item.get("actual_price"))
    if actual is None or actual <= 0:
        return "actual_price must be a positive number"
    prediction_id = item.get("prediction_id") or None
    if prediction_id is not None:
        if not isinstance(prediction_id, str) or len(prediction_id) > 64:
            return "prediction_id must be a string of at most 64 characters"
        return FeedbackItem(actual, prediction_id=prediction_id)
    job_id, row = item.get("job_id"), _number(item.get("row"))
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128:
        return "prediction_id, or job_id and row, is required"
    if row is None or row < 1 or not float(row).is_integer():
        return "row must be a whole number from 1 (the first data row of the job's file)"
    return FeedbackItem(actual, job_id=job_id, row=int(row))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
