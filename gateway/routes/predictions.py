"""Real-time predictions: one house inline on the event loop, a batch in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from gateway.deps import (
    authenticate,
    get_json_caller,
    reject_unknown_query,
    require_json_body,
)
from gateway.direct_route import DirectRoute
from gateway.errors import ProblemError
from gateway.experiment import Experiment, count_arm
from gateway.openapi import problem_responses
from gateway.prediction_log import remember_predictions
from ml.categories import UNKNOWN_CATEGORY_MODES, CategoryError, UnknownCategories
from ml.comparables import MAX_COMPARABLES
from ml.contract import HouseFeatures, Prediction
from observability.metrics import record_prediction

router = APIRouter(
    prefix="/v1/predict",
    tags=["predictions"],
    responses=problem_responses(400, 401, 415, 422, 429, 503),
)

EXPLAIN_DESCRIPTION = "Add each feature's contribution in dollars to the response."
ExplainQuery = Annotated[bool, Query(description=EXPLAIN_DESCRIPTION)]
UNKNOWN_CATEGORIES_DESCRIPTION = (
    "What to do with a location or condition like no name the model knows: 'warn' prices "
    "it as unknown with a warning, 'error' refuses it (422). Default: the gateway's "
    "HPP_UNKNOWN_CATEGORIES. A near miss of a known name is refused either way."
)
UnknownCategoriesQuery = Annotated[
    UnknownCategories | None, Query(description=UNKNOWN_CATEGORIES_DESCRIPTION)
]
COMPARABLES_DESCRIPTION = (
    "Add the k training sales most similar to the house (its neighbourhood first), each "
    "with its price adjusted to the house by the model, and their median."
)

# POST /v1/predict parses its own body and query (see ``predict``); this tells OpenAPI.
SINGLE_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "explain",
            "in": "query",
            "required": False,
            "description": EXPLAIN_DESCRIPTION,
            "schema": {"type": "boolean", "default": False},
        },
        {
            "name": "comparables",
            "in": "query",
            "required": False,
            "description": COMPARABLES_DESCRIPTION,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COMPARABLES},
        },
        {
            "name": "unknown_categories",
            "in": "query",
            "required": False,
            "description": UNKNOWN_CATEGORIES_DESCRIPTION,
            "schema": {"type": "string", "enum": list(UNKNOWN_CATEGORY_MODES)},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HouseFeatures"}}},
    },
}
_SINGLE_QUERY = frozenset({"explain", "comparables", "unknown_categories"})
_BOOL = TypeAdapter(bool)
_MODE: TypeAdapter[UnknownCategories] = TypeAdapter(UnknownCategories)
_COMPARABLES = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_COMPARABLES, strict=False)])


class BatchRequest(BaseModel):
    """Several houses scored in one call."""

    rows: list[HouseFeatures] = Field(
        min_length=1, description="The houses; at most the gateway's configured batch size."
    )


class BatchPrediction(BaseModel):
    """One prediction per row, in the order sent."""

    model_version: str
    predictions: list[Prediction]


async def predict(request: Request) -> Response:
    """Score one house (pandas-free, ~0.1 ms, so it runs on the event loop).

    The hot path: the same checks as every route, in the same order (key, rate limit,
    content type, query, body), but done here rather than by FastAPI's dependency and body
    machinery, and the response is serialised once by pydantic. That halves the framework's
    share of a request; errors are the same problem details.
    """
    await authenticate(request)
    require_json_body(request)
    explain, comparables, mode = _query_options(request)
    features = _parse_house(await request.body())
    experiment: Experiment = request.app.state.experiment
    assignment = experiment.assign(request)
    predictor = assignment.answer
    with refused_categories():
        features = predictor.canonical_house(features, unknown_categories=mode)
    prediction = predictor.predict_one(
        features, explain=explain, comparables=comparables, unknown_categories=mode
    )
    remember_predictions(request, [features], [prediction], assignment=assignment)
    record_prediction(model_version=str(predictor.version), source="single")
    count_arm(assignment)
    return Response(prediction.model_dump_json(), media_type="application/json")


# A DirectRoute: FastAPI calls ``predict(request)`` without solving its (empty) dependencies.
router.add_api_route(
    "",
    predict,
    methods=["POST"],
    response_model=Prediction,
    summary="Predict one house's price",
    openapi_extra=SINGLE_OPENAPI,
    route_class_override=DirectRoute,
)


@router.post(
    "/batch",
    response_model=BatchPrediction,
    summary="Predict several houses",
    dependencies=[Depends(get_json_caller)],
)
async def predict_batch(
    body: BatchRequest,
    request: Request,
    explain: ExplainQuery = False,
    unknown_categories: UnknownCategoriesQuery = None,
) -> BatchPrediction:
    """Score up to the configured number of houses, vectorised, off the event loop."""
    experiment: Experiment = request.app.state.experiment
    assignment = experiment.assign(request)
    predictor = assignment.answer
    mode = unknown_categories or request.app.state.settings.core.unknown_categories
    limit = request.app.state.settings.gateway.max_batch_rows
    if len(body.rows) > limit:
        raise ProblemError(
            422,
            f"A batch holds at most {limit} rows; use POST /v1/jobs for more.",
            kind="validation",
            title="Invalid request",
            errors=[{"field": "rows", "message": f"at most {limit} rows (got {len(body.rows)})"}],
        )
    with refused_categories():
        rows = predictor.canonical_rows(body.rows, unknown_categories=mode)
    predictions = await asyncio.to_thread(
        predictor.predict_batch, rows, explain=explain, unknown_categories=mode
    )
    remember_predictions(request, rows, predictions, assignment=assignment, kind="batch")
    record_prediction(model_version=str(predictor.version), source="batch", count=len(predictions))
    count_arm(assignment, len(predictions))
    return BatchPrediction(model_version=str(predictor.version), predictions=predictions)


@contextmanager
def refused_categories() -> Iterator[None]:
    """A near-miss (or, when strict, unknown) category as a 422 naming the field and the
    name it was probably meant as."""
    try:
        yield
    except CategoryError as exc:
        first = exc.problems[0]
        raise ProblemError(
            422,
            f"{first.field}: {first.message}"
            + (f" ({len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""),
            kind="validation",
            title="Invalid request",
            errors=[p.model_dump() for p in exc.problems],
        ) from None


def _query_options(request: Request) -> tuple[bool, int, UnknownCategories]:
    """``explain``, ``comparables`` (0: none) and ``unknown_categories`` from the query."""
    default_mode = request.app.state.settings.core.unknown_categories
    if not request.scope["query_string"]:
        return False, 0, default_mode
    reject_unknown_query(request, _SINGLE_QUERY)
    explain = _query_value(request, "explain", _BOOL, default=False)
    comparables = _query_value(request, "comparables", _COMPARABLES, default=0)
    return (
        explain,
        comparables,
        _query_value(request, "unknown_categories", _MODE, default=default_mode),
    )


def _query_value(request: Request, name: str, adapter: TypeAdapter[Any], *, default: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, "query", name)) from None


def _parse_house(body: bytes) -> HouseFeatures:
    try:
        return HouseFeatures.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, "body")) from None


def _located(exc: ValidationError, *prefix: str) -> list[dict[str, Any]]:
    # FastAPI's own errors carry ("body", ...) / ("query", name) locations; match them.
    return [{**err, "loc": (*prefix, *err["loc"])} for err in exc.errors(include_url=False)]
