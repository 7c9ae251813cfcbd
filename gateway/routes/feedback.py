"""Actual sale prices for earlier predictions: the live accuracy's input.

``POST /v1/feedback`` with JSON ``{"items": [{"prediction_id", "actual_price"}]}`` (or
``{"job_id", "row", "actual_price"}`` items), or a CSV (``text/csv``) with
``actual_price`` and ``prediction_id`` or ``job_id``/``row`` columns (``?job_id=`` names
the job for all rows). Rows of a job count from 1, the first data row of its file.
JSON is all or nothing (an item that breaks the schema is a 422 naming it); a CSV is judged
row by row (bad rows are listed in ``errors``, the others kept).
Only the caller's own predictions and jobs are found; a repeated report counts once.
Who may move the shared figures, and which prices are held, is ``gateway.feedback_trust``;
a job's rows are read from its row index (``gateway.job_rows``), never the whole result.
Trusted prices become training rows with their houses: a prediction's as it was made, a
job row's read back from the job's input (``jobs.job_features``), or the reason it could not be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from core.problem import FieldError
from gateway.deps import CallerDep, get_caller
from gateway.errors import ProblemError
from gateway.experiment_report import record_pairs
from gateway.feedback_items import FeedbackItem, parse_csv, parse_json
from gateway.feedback_trust import FeedbackPolicy
from gateway.job_rows import RowPrices, job_row_prices
from gateway.live_quality import card_gates, version_quality
from gateway.loop_hooks import after_feedback, keep_training_rows
from gateway.monitoring_store import FeedbackPoint, MonitoringStore
from gateway.openapi import problem_responses
from gateway.prediction_log import prediction_log
from gateway.routes.jobs import no_result_problem
from gateway.routes.monitoring import require_store, unavailable
from jobs.blobs import BlobNotFoundError, BlobStore
from jobs.job_features import job_houses
from jobs.keys import manifest_key, result_key
from jobs.models import SUCCEEDED, JobRecord
from ml.monitoring_report import Scope, VersionQuality
from ml.predict import Predictor

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
        {
            "required": ["prediction_id", "actual_price"],
            "not": {"anyOf": [{"required": ["job_id"]}, {"required": ["row"]}]},
        },
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


class HeldPrice(BaseModel):
    """A reported price held for review (implausible), counted nowhere."""

    key: str
    actual_price: float
    reason: str


class FeedbackReceipt(BaseModel):
    """What a feedback post did: accepted, repeated, unknown, held and invalid items."""

    accepted: int
    duplicates: list[str]
    unknown: list[str]
    held: list[HeldPrice]
    errors: list[FieldError]
    scope: Scope
    live: dict[str, VersionQuality] = Field(
        description="The live accuracy of every version the accepted prices touch."
    )


@router.post("", summary="Report actual sale prices of earlier predictions", openapi_extra=BODY)
async def post_feedback(
    request: Request,
    caller: CallerDep,
    job_id: Annotated[str | None, Query(max_length=128)] = None,
) -> FeedbackReceipt:
    """Add the prices to the live windows; answers what was accepted and the live accuracy.

    A key named in HPP_FEEDBACK_KEY_NAMES (acting for no end user) moves the shared figures
    (`scope: shared`); anyone else's prices count in figures of their own (`scope: own`).
    Implausible prices are `held` for review and counted nowhere.
    """
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
    policy: FeedbackPolicy = request.app.state.feedback_policy
    scope = None if policy.trusts(caller) else caller.owner  # None: the shared figures
    await prediction_log(request.app).flush()
    try:
        trusted = scope is None  # only trusted prices become training rows: read their houses
        resolved = await _resolve(request, store, caller.owner, items, houses=trusted)
        points, unknown = resolved.points, resolved.unknown
        points, held = _screen(policy, points)
        await store.hold_feedback(held, owner=caller.owner)
        accepted, duplicates = await store.add_feedback(points, owner=scope)
        if scope is None:  # champion vs challenger is judged on trusted prices only
            await record_pairs(store, points, duplicates)
        if scope is None:  # trusted and plausible: the sale prices become training rows
            repeated = set(duplicates)
            fresh = [p for p in points if p.key not in repeated]
            await keep_training_rows(store.client, fresh, resolved.houses, resolved.problems)
        live = await _live(request, store, points, scope)
    except (RedisError, OSError) as exc:
        raise unavailable() from exc
    if scope is None and accepted:
        _feed_the_loop(request, live)
    return FeedbackReceipt(
        accepted=accepted,
        duplicates=duplicates,
        unknown=unknown,
        held=[HeldPrice(key=p.key, actual_price=p.actual, reason=why) for p, why in held],
        errors=[FieldError.model_validate(e) for e in errors],
        scope="shared" if scope is None else "own",
        live=live,
    )


def _feed_the_loop(request: Request, live: dict[str, VersionQuality]) -> None:
    """The serving version's verdict to the retrain trigger; a promotion check requested."""
    predictor = request.app.state.predictor_holder.current
    version = None if predictor is None else str(predictor.version)
    quality = live.get(version) if version is not None else None
    after_feedback(
        request.app,
        version=version,
        verdict=None if quality is None else quality.gates.model_dump(),
    )


def _screen(
    policy: FeedbackPolicy, points: list[FeedbackPoint]
) -> tuple[list[FeedbackPoint], list[tuple[FeedbackPoint, str]]]:
    """The plausible points, and the implausible ones with the reason they are held."""
    kept: list[FeedbackPoint] = []
    held: list[tuple[FeedbackPoint, str]] = []
    for point in points:
        reason = policy.hold_reason(point)
        if reason is None:
            kept.append(point)
        else:
            held.append((point, reason))
    return kept, held


async def _live(
    request: Request, store: MonitoringStore, points: list[FeedbackPoint], owner: str | None
) -> dict[str, VersionQuality]:
    """The live accuracy, in the scope the points went to, of every version they touch."""
    predictor = request.app.state.predictor_holder.current
    fallback = card_gates(None if predictor is None else predictor.card)
    sink = getattr(request.state, "metrics_sink", None)
    return {
        version: await version_quality(store, version, fallback=fallback, sink=sink, owner=owner)
        for version in sorted({p.version for p in points})
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


@dataclass
class _Resolved:
    """The points found, the keys not found, and each predicted house (or why it is not
    at hand: a job's row whose house could not be read back from the job's input)."""

    points: list[FeedbackPoint] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    houses: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


async def _resolve(
    request: Request,
    store: MonitoringStore,
    owner: str,
    items: list[FeedbackItem],
    *,
    houses: bool,
) -> _Resolved:
    """Find each item's prediction; with ``houses``, also the house it priced."""
    out = _Resolved()
    by_id = [i for i in items if i.prediction_id]
    stored = await store.get_predictions([i.prediction_id or "" for i in by_id])
    for item, found in zip(by_id, stored, strict=True):
        if found is None or found.owner != owner:
            out.unknown.append(item.key)
            continue
        out.points.append(
            FeedbackPoint(item.key, found.version, item.actual, found.price, found.low, found.high)
        )
        out.houses[item.key] = found.features
    jobs: dict[str, list[FeedbackItem]] = {}
    for item in items:
        if item.job_id:
            jobs.setdefault(item.job_id, []).append(item)
    for job_id, rows in jobs.items():
        record, prices = await _job_predictions(request, job_id, owner, rows)
        priced = [item for item in rows if (item.row or 0) in prices]
        for item in rows:
            row = prices.get(item.row or 0)
            if row is None:
                out.unknown.append(item.key)
                continue
            out.points.append(FeedbackPoint(item.key, record.model_version, item.actual, *row))
        if houses and priced:
            await _read_houses(request, record, priced, out)
    return out


async def _read_houses(
    request: Request, record: JobRecord, items: list[FeedbackItem], out: _Resolved
) -> None:
    """The houses of a job's rows, read back from its input with its version's names."""
    jobs = request.app.state.jobs
    predictor: Predictor | None
    try:
        predictor = await request.app.state.model_versions.get(record.model_version)
    except ProblemError:  # the job's version cannot be loaded: read names as the served one
        predictor = request.app.state.predictor_holder.current
    if predictor is None:
        reason = "no model is loaded to read the house's categories with"
        out.problems.update(dict.fromkeys((item.key for item in items), reason))
        return
    found = await job_houses(
        jobs.blobs,
        record,
        (item.row or 0 for item in items),
        canonical=predictor.canonical_house,
    )
    for item in items:
        row = item.row or 0
        if row in found.houses:
            out.houses[item.key] = found.houses[row]
        else:
            out.problems[item.key] = found.problems.get(row, "the house could not be read back")


async def _job_predictions(
    request: Request, job_id: str, owner: str, items: list[FeedbackItem]
) -> tuple[JobRecord, dict[int, RowPrices]]:
    """The job's record and the (price, low, high) of the rows the items name."""
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise unavailable()
    record = await jobs.store.get(job_id, owner=owner)
    if record is None:
        raise ProblemError(404, f"No job {job_id!r} for this API key.", kind="not-found")
    if record.status != SUCCEEDED:
        raise no_result_problem(record, consequence=", and feedback needs its scored result")
    try:
        prices = await job_row_prices(jobs.blobs, job_id, (i.row or 0 for i in items))
    except BlobNotFoundError as exc:
        raise await _no_row_index(jobs.blobs, job_id) from exc
    return record, prices


async def _no_row_index(blobs: BlobStore, job_id: str) -> ProblemError:
    if (
        await blobs.size(result_key(job_id)) is None
        and await blobs.size(manifest_key(job_id)) is None
    ):
        return ProblemError(404, "The job's result has expired.", kind="not-found")
    return ProblemError(
        409,
        "This job was scored before row lookups existed, so feedback cannot find its rows; "
        "submit the file again and report against the new job.",
        kind="result-without-row-index",
        title="Rows cannot be looked up",
    )
