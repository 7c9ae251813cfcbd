"""Actual sale prices for earlier predictions: the live accuracy's input.

``POST /v1/feedback`` with JSON ``{"items": [{"prediction_id", "actual_price"}]}`` (or
``{"job_id", "row", "actual_price"}`` items), or a CSV (``text/csv``) with
``actual_price`` and ``prediction_id`` or ``job_id``/``row`` columns (``?job_id=`` names
the job for all rows). Rows of a job count from 1, the first data row of its file.
Only the caller's own predictions and jobs are found; a repeated report counts once.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from redis.exceptions import RedisError

from gateway.deps import CallerDep, get_caller
from gateway.errors import ProblemError
from gateway.feedback_items import FeedbackItem, parse_csv, parse_json
from gateway.live_quality import version_quality
from gateway.monitoring_store import FeedbackPoint, MonitoringStore
from gateway.openapi import problem_responses
from gateway.prediction_log import prediction_log
from gateway.routes.jobs import no_result_problem
from gateway.routes.monitoring import require_store, unavailable
from workers.blobstore import BlobNotFoundError
from workers.jobstore import SUCCEEDED
from workers.pipeline import result_key

router = APIRouter(
    prefix="/v1/feedback",
    tags=["monitoring"],
    dependencies=[Depends(get_caller)],
    responses=problem_responses(401, 404, 409, 415, 422, 429, 503),
)


_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "prediction_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "job_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "row": {"type": "integer", "minimum": 1, "description": "1 = the file's first data row"},
        "actual_price": {"type": "number", "exclusiveMinimum": 0},
    },
    "oneOf": [
        {"required": ["prediction_id", "actual_price"], "not": {"required": ["job_id"]}},
        {"required": ["job_id", "row", "actual_price"], "not": {"required": ["prediction_id"]}},
    ],
}
BODY = {
    "requestBody": {
        "required": True,
        "description": "JSON items, or a text/csv body with actual_price and prediction_id "
        "or job_id/row columns (job_id may be the query parameter instead).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {"items": {"type": "array", "minItems": 1, "items": _ITEM}},
                }
            }
        },
    }
}


@router.post("", summary="Report actual sale prices of earlier predictions", openapi_extra=BODY)
async def post_feedback(
    request: Request,
    caller: CallerDep,
    job_id: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Add the prices to the live windows; answers what was accepted and the live accuracy."""
    items, errors = _parse(request, await request.body(), job_id)
    if not items:
        raise ProblemError(
            422,
            "No usable feedback in the body.",
            kind="validation",
            title="Invalid request",
            errors=errors,
        )
    store = require_store(request)
    await prediction_log(request.app).flush()
    try:
        points, unknown = await _resolve(request, store, caller.owner, items)
        accepted, duplicates = await store.add_feedback(points)
        predictor = request.app.state.predictor_holder.current
        fallback = None
        if predictor is not None:
            card = predictor.card
            fallback = {"gates": card.get("gates"), "level": card.get("interval", {}).get("level")}
        live = {
            version: await version_quality(
                store, version, fallback=fallback, sink=getattr(request.state, "metrics_sink", None)
            )
            for version in sorted({p.version for p in points})
        }
    except (RedisError, OSError) as exc:
        raise unavailable() from exc
    return {
        "accepted": accepted,
        "duplicates": duplicates,
        "unknown": unknown,
        "errors": errors,
        "live": live,
    }


def _parse(
    request: Request, body: bytes, job_id: str | None
) -> tuple[list[FeedbackItem], list[dict[str, Any]]]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return parse_csv(body, job_id=job_id)
    if media == "application/json" or media.endswith("+json"):
        return parse_json(body)
    raise ProblemError(
        415,
        f"Send application/json or text/csv (got {media or 'no Content-Type'}).",
        kind="unsupported-media-type",
        headers={"Accept-Post": "application/json, text/csv"},
    )


async def _resolve(
    request: Request, store: MonitoringStore, owner: str, items: list[FeedbackItem]
) -> tuple[list[FeedbackPoint], list[str]]:
    points: list[FeedbackPoint] = []
    unknown: list[str] = []
    by_id = [i for i in items if i.prediction_id]
    stored = await store.get_predictions([i.prediction_id or "" for i in by_id])
    for item, found in zip(by_id, stored, strict=True):
        if found is None or found.owner != owner:
            unknown.append(item.key)
            continue
        points.append(
            FeedbackPoint(item.key, found.version, item.actual, found.price, found.low, found.high)
        )
    jobs: dict[str, list[FeedbackItem]] = {}
    for item in items:
        if item.job_id:
            jobs.setdefault(item.job_id, []).append(item)
    for job_id, rows in jobs.items():
        version, table = await _job_predictions(request, job_id, owner)
        for item in rows:
            position = (item.row or 0) - 1
            if position >= len(table) or np.isnan(table[position, 0]):
                unknown.append(item.key)
                continue
            price, low, high = (float(v) for v in table[position])
            points.append(FeedbackPoint(item.key, version, item.actual, price, low, high))
    return points, unknown


async def _job_predictions(request: Request, job_id: str, owner: str) -> tuple[str, np.ndarray]:
    """The job's model version and its rows' (price, low, high) from the result file."""
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise unavailable()
    record = await jobs.store.get(job_id, owner=owner)
    if record is None:
        raise ProblemError(404, f"No job {job_id!r} for this API key.", kind="not-found")
    if record.get("status") != SUCCEEDED:
        raise no_result_problem(record, consequence=", and feedback needs its scored result")
    try:
        chunks = [chunk async for chunk in jobs.blobs.iter_bytes(result_key(job_id))]
    except BlobNotFoundError as exc:
        raise ProblemError(404, "The job's result has expired.", kind="not-found") from exc
    table = await asyncio.to_thread(_prices, b"".join(chunks))
    return str(record.get("model_version")), table


def _prices(data: bytes) -> np.ndarray:
    """(price, low, high) per result row; only those three columns are parsed."""
    # The last five columns are the outputs; the three prices come first among them.
    header = next(csv.reader(io.StringIO(data[: data.find(b"\n") + 1].decode("utf-8"))))
    width = len(header)
    frame = pd.read_csv(
        io.BytesIO(data),
        usecols=[width - 5, width - 4, width - 3],
        dtype=str,
        keep_default_na=False,
    )
    prices = frame.apply(pd.to_numeric, errors="coerce")
    return prices.to_numpy(dtype=np.float64)
