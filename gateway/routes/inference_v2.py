"""The Open Inference Protocol (KServe V2) for this model, so KServe and Triton clients can call it.

Inputs are named tensors, one per feature column (``BYTES`` for location and condition,
``FP64``/``FP32``/``INT64``/``INT32`` for numbers), each of shape ``[n]`` (or ``[n, 1]``);
outputs are ``predicted_price``, ``price_low`` and ``price_high`` (``FP64``, shape
``[n]``), plus ``warning`` (``BYTES``) when asked for. The same API key guards it; bad
input is answered 400 with problem details that also carry the protocol's ``error`` member.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.audit_log import audit_frame
from gateway.deps import get_caller, request_owner, serving_predictor
from gateway.errors import ProblemError, ProblemResponse, problem_response
from gateway.openapi import problem_responses
from gateway.prediction_log import prediction_log
from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS
from observability.metrics import record_prediction

router = APIRouter(
    prefix="/v2",
    tags=["open inference protocol"],
    dependencies=[Depends(get_caller)],
    responses=problem_responses(400, 401, 404, 429, 503),
)

NUMERIC_TYPES = {
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "UINT64",
    "UINT32",
    "UINT16",
    "UINT8",
}
INTEGER_COLUMNS = ("bedrooms", "year_built")
OUTPUTS = ("predicted_price", "price_low", "price_high")
WARNING_OUTPUT = "warning"
MAX_ROWS = 10_000


class InferenceError(Exception):
    """A request the protocol answers with 400."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors


@router.get("", summary="Server metadata (Open Inference Protocol)")
async def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions."""
    return {"name": "house-price-predictor", "version": "1.0.0", "extensions": []}


@router.get("/models/{name}/ready", summary="Whether the model is ready")
async def model_ready(request: Request, name: str) -> Any:
    """200 with ``ready: true`` when the model is loaded; otherwise a 503 problem."""
    _check_name(request, name)
    predictor = serving_predictor(request)
    return {"name": name, "ready": True, "version": str(predictor.version)}


@router.get("/models/{name}", summary="Model metadata")
async def model_metadata(request: Request, name: str) -> Any:
    """Name, versions, platform and the input and output tensors."""
    _check_name(request, name)
    predictor = serving_predictor(request)
    return {
        "name": name,
        "versions": [str(predictor.version)],
        "platform": f"mlflow_sklearn_{predictor.card.get('model_type', 'model')}",
        "inputs": [
            {"name": column, "datatype": _datatype(column), "shape": [-1]}
            for column in FEATURE_COLUMNS
        ],
        "outputs": [
            *({"name": output, "datatype": "FP64", "shape": [-1]} for output in OUTPUTS),
            {"name": WARNING_OUTPUT, "datatype": "BYTES", "shape": [-1]},
        ],
    }


INFER_BODY = {
    "requestBody": {
        "required": True,
        "description": "One tensor per feature column, all of shape [n] (or [n, 1]).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "shape", "datatype", "data"],
                                "properties": {
                                    "name": {"type": "string", "enum": list(FEATURE_COLUMNS)},
                                    "shape": {"type": "array", "items": {"type": "integer"}},
                                    "datatype": {"type": "string"},
                                    "data": {"type": "array"},
                                },
                            },
                        },
                        "outputs": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                        },
                    },
                },
                "example": {
                    "inputs": [
                        {"name": "sqft", "shape": [1], "datatype": "FP64", "data": [1656]},
                        {"name": "bedrooms", "shape": [1], "datatype": "INT64", "data": [3]},
                        {"name": "bathrooms", "shape": [1], "datatype": "FP64", "data": [1.5]},
                        {
                            "name": "location",
                            "shape": [1],
                            "datatype": "BYTES",
                            "data": ["North Ames"],
                        },
                        {"name": "year_built", "shape": [1], "datatype": "INT64", "data": [1960]},
                        {
                            "name": "condition",
                            "shape": [1],
                            "datatype": "BYTES",
                            "data": ["Average"],
                        },
                    ]
                },
            }
        },
    }
}


@router.post(
    "/models/{name}/infer",
    summary="Score houses given as named tensors",
    openapi_extra=INFER_BODY,
)
async def infer(request: Request, name: str) -> Any:
    """Open Inference Protocol inference: one tensor per feature column, prices out."""
    _check_name(request, name)
    predictor = serving_predictor(request)
    try:
        body = _json_body(await request.body())
        frame, wanted = _frame(body)
        scored = await asyncio.to_thread(predictor.predict_frame, frame)
        _reject_bad_rows(scored)
    except InferenceError as exc:
        return _bad_request(request, str(exc), exc.errors)
    record_prediction(model_version=str(predictor.version), source="v2", count=len(frame))
    ids = _remember(request, frame, scored, str(predictor.version), predictor.card)
    outputs = [
        {
            "name": output,
            "datatype": "FP64",
            "shape": [len(frame)],
            "data": scored[output].astype(float).tolist(),
        }
        for output in OUTPUTS
        if output in wanted
    ]
    if WARNING_OUTPUT in wanted:
        warnings = scored["warning"].astype(object).where(scored["warning"].notna(), "")
        outputs.append(
            {
                "name": WARNING_OUTPUT,
                "datatype": "BYTES",
                "shape": [len(frame)],
                "data": [str(w) for w in warnings],
            }
        )
    response: dict[str, Any] = {
        "model_name": name,
        "model_version": str(predictor.version),
        "parameters": {"prediction_ids": ids},
        "outputs": outputs,
    }
    if isinstance(body.get("id"), str):
        response["id"] = body["id"]
    return JSONResponse(response)


def _remember(
    request: Request, frame: pd.DataFrame, scored: pd.DataFrame, version: str, card: Any
) -> list[str]:
    """Ids for the rows, kept for feedback and the live drift window like /v1 predictions."""
    owner = request_owner(request)
    houses = frame.astype(object).to_dict(orient="records")
    prices = scored[list(OUTPUTS)].to_numpy(dtype=float).tolist()
    rows = [(house, p, lo, hi) for house, (p, lo, hi) in zip(houses, prices, strict=True)]
    ids = prediction_log(request.app).remember_rows(owner, version, rows, card=card)
    audit_frame(request, frame=frame, scored=scored, version=version, card=card, prediction_ids=ids)
    return ids


def _check_name(request: Request, name: str) -> None:
    expected = request.app.state.settings.core.registered_model
    if name != expected:
        raise ProblemError(
            404, f"No model named {name!r}; this server serves {expected!r}.", kind="not-found"
        )


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InferenceError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InferenceError("the body must be an object with an 'inputs' list")
    return body


def _frame(body: dict[str, Any]) -> tuple[pd.DataFrame, set[str]]:
    tensors: dict[str, list[Any]] = {}
    errors: list[dict[str, Any]] = []
    for index, tensor in enumerate(body["inputs"]):
        where = f"inputs.{index}"
        try:
            name, values = _tensor(tensor)
        except InferenceError as exc:
            errors.append({"field": where, "message": str(exc)})
            continue
        if name in tensors:
            errors.append({"field": where, "message": f"input {name!r} is given twice"})
        tensors[name] = values
    missing = [c for c in FEATURE_COLUMNS if c not in tensors]
    if missing:
        errors.append({"field": "inputs", "message": f"missing inputs: {', '.join(missing)}"})
    sizes = {len(v) for v in tensors.values()}
    if len(sizes) > 1:
        errors.append({"field": "inputs", "message": "all inputs must have the same batch size"})
    if errors:
        raise InferenceError("the inputs do not match the model's tensors", errors)
    (size,) = sizes
    if not 1 <= size <= MAX_ROWS:
        raise InferenceError(f"the batch must hold 1 to {MAX_ROWS:,} rows (got {size})")
    return pd.DataFrame({c: tensors[c] for c in FEATURE_COLUMNS}), _wanted(body)


def _tensor(tensor: Any) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict):
        raise InferenceError("each input must be an object with name, shape, datatype, data")
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if name not in FEATURE_COLUMNS:
        raise InferenceError(f"unknown input {name!r}; expected {', '.join(FEATURE_COLUMNS)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InferenceError(f"{name}: shape must be a list of non-negative integers")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise InferenceError(f"{name}: shape must be [n] or [n, 1]")
    values = _flatten(tensor.get("data"))
    if values is None or len(values) != math.prod(shape):
        raise InferenceError(f"{name}: data must be a list of {math.prod(shape)} values")
    expected = _datatype(name)
    if expected == "BYTES":
        if datatype != "BYTES" or not all(isinstance(v, str) for v in values):
            raise InferenceError(f"{name}: datatype must be BYTES with string data")
    elif datatype not in NUMERIC_TYPES or not all(_is_number(v) for v in values):
        raise InferenceError(f"{name}: datatype must be numeric (FP64, INT64, ...) with numbers")
    return str(name), values


def _flatten(data: Any) -> list[Any] | None:
    if not isinstance(data, list):
        return None
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            inner = _flatten(item)
            if inner is None:
                return None
            flat.extend(inner)
        else:
            flat.append(item)
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wanted(body: dict[str, Any]) -> set[str]:
    requested = body.get("outputs")
    if not isinstance(requested, list) or not requested:
        return set(OUTPUTS)
    listed = [o.get("name") if isinstance(o, dict) else None for o in requested]
    if not all(isinstance(n, str) for n in listed):  # e.g. {"name": {}}: unhashable, was a 500
        raise InferenceError("each requested output must be an object with a string 'name'")
    names = set(listed)
    unknown = names - {*OUTPUTS, WARNING_OUTPUT}
    if unknown:
        raise InferenceError(f"unknown outputs: {', '.join(sorted(map(str, unknown)))}")
    return {str(n) for n in names}


def _reject_bad_rows(scored: pd.DataFrame) -> None:
    bad = scored["error"].notna().to_numpy()
    if not bad.any():
        return
    errors = [
        {"field": f"row {int(i)}", "message": str(scored["error"].iloc[i])}
        for i in np.flatnonzero(bad)[:100]
    ]
    raise InferenceError(f"{int(bad.sum())} row(s) break the model's input contract", errors)


def _datatype(column: str) -> str:
    if column in CATEGORY_COLUMNS:
        return "BYTES"
    return "INT64" if column in INTEGER_COLUMNS else "FP64"


def _bad_request(request: Request, message: str, errors: list[dict[str, Any]] | None) -> Any:
    base = problem_response(
        400,
        detail=message,
        kind="invalid-inference-request",
        title="Invalid inference request",
        instance=request.url.path,
        errors=errors,
    )
    body = json.loads(bytes(base.body))
    return ProblemResponse({**body, "error": message}, status_code=400)
