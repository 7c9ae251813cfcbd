"""Real-time predictions: one house inline on the event loop, a batch in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from gateway.deps import get_json_caller, serving_predictor
from gateway.errors import ProblemError
from gateway.openapi import problem_responses
from gateway.prediction_log import remember_predictions
from ml.contract import HouseFeatures, Prediction
from observability.metrics import record_prediction

router = APIRouter(
    prefix="/v1/predict",
    tags=["predictions"],
    dependencies=[Depends(get_json_caller)],
    responses=problem_responses(400, 401, 415, 422, 429, 503),
)

ExplainQuery = Annotated[
    bool, Query(description="Add each feature's contribution in dollars to the response.")
]


class BatchRequest(BaseModel):
    """Several houses scored in one call."""

    rows: list[HouseFeatures] = Field(
        min_length=1, description="The houses; at most the gateway's configured batch size."
    )


class BatchPrediction(BaseModel):
    """One prediction per row, in the order sent."""

    model_version: str
    predictions: list[Prediction]


@router.post("", response_model=Prediction, summary="Predict one house's price")
async def predict(
    features: HouseFeatures, request: Request, explain: ExplainQuery = False
) -> Prediction:
    """Score one house (pandas-free, ~0.1 ms, so it runs on the event loop)."""
    predictor = serving_predictor(request)
    prediction = predictor.predict_one(features, explain=explain)
    remember_predictions(request, [features], [prediction])
    record_prediction(model_version=str(predictor.version), source="single")
    return prediction


@router.post("/batch", response_model=BatchPrediction, summary="Predict several houses")
async def predict_batch(
    body: BatchRequest, request: Request, explain: ExplainQuery = False
) -> BatchPrediction:
    """Score up to the configured number of houses, vectorised, off the event loop."""
    predictor = serving_predictor(request)
    limit = request.app.state.settings.gateway.max_batch_rows
    if len(body.rows) > limit:
        raise ProblemError(
            422,
            f"A batch holds at most {limit} rows; use POST /v1/jobs for more.",
            kind="validation",
            title="Invalid request",
            errors=[{"field": "rows", "message": f"at most {limit} rows (got {len(body.rows)})"}],
        )
    predictions = await asyncio.to_thread(predictor.predict_batch, body.rows, explain=explain)
    remember_predictions(request, body.rows, predictions)
    record_prediction(model_version=str(predictor.version), source="batch", count=len(predictions))
    return BatchPrediction(model_version=str(predictor.version), predictions=predictions)
