"""What an audit record holds, built from what the prediction paths already have.

Every record: ``kind`` (``predict``, ``batch``, ``v2`` or ``job_chunk``), ``time`` (Unix
seconds), ``owner`` (the API key name, or ``key/end-user``) and ``model_version``.
A /v1 request's record keeps its body exactly as sent (``sent``, the JSON text) and a list of
rows: ``prediction_id``, ``normalised`` (the input as the model saw it), ``price``, ``low``,
``high``, ``level``, ``warnings``. A /v2 request's rows are columns (one list per field:
``sent`` and ``normalised`` per feature, prices, warnings, errors, prediction ids).
A job chunk's record holds no rows: it names its job, index, byte range of the uploaded
file, ``first_row`` (the file row of its first row; a row's feedback key is
``job:{job_id}:{row}``) and ``row_count``, the file's columns, the category rewrites the
model made (spelling -> canonical name), and the SHA-256 of two payloads stored beside the
chain: the chunk's input bytes as uploaded and its output part (``workers.audit_rows``
reads the rows back from them, as sent and, with the rewrites, as normalised).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS, HouseFeatures, Prediction
from ml.frame_rules import coerce_frame


def request_record(
    *,
    kind: str,
    owner: str,
    at: float,
    body: bytes,
    features: list[HouseFeatures],
    predictions: list[Prediction],
) -> dict[str, Any]:
    """The record of one /v1 request (``predict`` or ``batch``); ``sent`` is its raw body."""
    rows = [
        {
            "prediction_id": p.prediction_id,
            "normalised": house,  # serialised by the chain (pydantic_core, no dump here)
            "price": p.predicted_price,
            "low": p.interval.low,
            "high": p.interval.high,
            "level": p.interval.level,
            "warnings": p.warnings,
        }
        for house, p in zip(features, predictions, strict=True)
    ]
    return {
        "kind": kind,
        "time": at,
        "owner": owner,
        "model_version": predictions[0].model_version if predictions else "",
        "sent": body.decode("utf-8", errors="replace"),
        "rows": rows,
    }


def frame_record(
    *,
    kind: str,
    owner: str,
    at: float,
    version: str,
    level: float | None,
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    categories: pd.DataFrame,
    prediction_ids: list[str],
) -> dict[str, Any]:
    """The record of rows scored as a frame (a /v2 request), as columns.

    ``categories`` holds the category columns as the model read them (canonical names
    where a spelling matched: ``ml.predict.ScoredFrame.categories``).
    """
    features = frame[list(FEATURE_COLUMNS)]
    normalised = coerce_frame(features).assign(
        **{c: categories[c] for c in CATEGORY_COLUMNS if c in categories}
    )
    rows: dict[str, Any] = {
        "sent": {c: _column(features[c]) for c in FEATURE_COLUMNS},
        "normalised": {c: _column(normalised[c]) for c in FEATURE_COLUMNS},
        "price": _column(scored["predicted_price"]),
        "low": _column(scored["price_low"]),
        "high": _column(scored["price_high"]),
        "level": level,
        "warnings": _column(scored["warning"]),
        "errors": _column(scored["error"]),
        "prediction_ids": prediction_ids,
    }
    return {
        "kind": kind,
        "time": at,
        "owner": owner,
        "model_version": version,
        "rows": rows,
    }


def chunk_record(
    *,
    owner: str,
    at: float,
    version: str,
    level: float | None,
    job: dict[str, Any],
    payloads: dict[str, str],
) -> dict[str, Any]:
    """The record of one job chunk: where its rows are and the digests of its payloads.

    ``job`` holds ``job_id``, ``chunk``, ``bytes`` ([start, end) of the uploaded file),
    ``first_row``, ``row_count``, ``columns``, ``feature_positions`` and ``rewrites``
    (each category spelling the model read as a canonical name: ``column``, ``sent``,
    ``canonical``, ``rows``), which turn the input payload into the input as normalised.
    """
    return {
        "kind": "job_chunk",
        "time": at,
        "owner": owner,
        "model_version": version,
        "level": level,
        **job,
        "payloads": payloads,
    }


def flatten(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A request record's rows as objects, each with its feedback key (``key``)."""
    rows = record.get("rows")
    if isinstance(rows, list):
        return [{**row, "key": row.get("prediction_id")} for row in rows if isinstance(row, dict)]
    if not isinstance(rows, dict):
        return []
    keys = rows.get("prediction_ids") or []
    return [_row_of(rows, i, key) for i, key in enumerate(keys)]


def _row_of(rows: dict[str, Any], i: int, key: str) -> dict[str, Any]:
    normalised = {c: values[i] for c, values in (rows.get("normalised") or {}).items()}
    return {
        "key": key,
        "normalised": normalised,
        "price": rows["price"][i],
        "low": rows["low"][i],
        "high": rows["high"][i],
        "level": rows.get("level"),
        "warnings": rows["warnings"][i],
    }


def _column(values: pd.Series) -> list[Any]:
    """A column as a JSON-ready list: floats as they are (NaN is written as null), else None
    for missing values."""
    if pd.api.types.is_float_dtype(values):
        return values.to_numpy(dtype="float64").tolist()
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return pa.array(values, from_pandas=True).to_pylist()  # Arrow strings: no copy first
    return values.astype(object).where(values.notna(), None).tolist()
