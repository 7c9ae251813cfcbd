"""The Open Inference Protocol (KServe V2) for this model, so KServe and Triton clients can call it.

Inputs are named tensors, one per feature column (``BYTES`` for location and condition,
any numeric datatype for numbers, or ``BYTES`` text read by the contract's number rule),
each of shape ``[n]`` (or ``[n, 1]``), as JSON or binary data (``gateway.oip_codec``);
outputs are ``predicted_price``, ``price_low`` and ``price_high`` (``FP64``, shape
``[n]``), plus ``warning`` (``BYTES``) when asked for. ``/v2/health/live`` and ``/ready``
are open like ``/healthz``; the rest needs the API key. Every registered version can be
addressed under ``/versions/{v}``; without it, the served one answers. Errors carry the
protocol's ``error`` member (``gateway.errors``).
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gateway.audit_log import audit_frame
from gateway.deps import get_caller, request_owner, serving_predictor
from gateway.errors import ProblemError, problem_response
from gateway.experiment import Assignment, Experiment, count_arm
from gateway.inference_models import (
    INFER_RESPONSES,
    Datatype,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    TensorMetadata,
)
from gateway.oip_codec import (
    NUMERIC_DTYPES,
    BinaryReader,
    ProtocolError,
    decode_request,
    encode_response,
    wants_binary,
)
from gateway.openapi import problem_responses
from gateway.prediction_log import prediction_log
from ml.card import ModelCard
from ml.categories import UnknownCategories, parse_mode
from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS
from ml.predict import Predictor, ScoredFrame
from observability.metrics import record_prediction

router = APIRouter(
    prefix="/v2",
    tags=["open inference protocol"],
    dependencies=[Depends(get_caller)],
    responses=problem_responses(400, 401, 404, 429, 503),
)
# Liveness and readiness are open, as /healthz and /readyz are: probes carry no key.
health_router = APIRouter(prefix="/v2/health", tags=["open inference protocol"])
INTEGER_COLUMNS = ("bedrooms", "year_built")
OUTPUTS = ("predicted_price", "price_low", "price_high")
WARNING_OUTPUT = "warning"
MAX_ROWS = 10_000


@health_router.get("/live", summary="Whether the server is live (Open Inference Protocol)")
async def server_live() -> ServerLive:
    """Always 200 while the process answers."""
    return ServerLive(live=True)


@health_router.get("/ready", summary="Whether the server is ready (Open Inference Protocol)")
async def server_ready(request: Request) -> ServerReady:
    """200 when a model is loaded, else 503 with the protocol's ``error``."""
    serving_predictor(request)
    return ServerReady(ready=True)


@router.get("", summary="Server metadata (Open Inference Protocol)")
async def server_metadata() -> ServerMetadata:
    """The server's name, version and protocol extensions."""
    return ServerMetadata(
        name="house-price-predictor", version="1.0.0", extensions=["binary_tensor_data"]
    )


@router.get("/models/{name}/ready", summary="Whether the served model is ready")
async def model_ready(request: Request, name: str) -> ModelReady:
    """200 with ``ready: true`` when the model is loaded; otherwise a 503."""
    return _ready(name, _served(request, name))


@router.get("/models/{name}/versions/{version}/ready", summary="Whether a version is ready")
async def version_ready(request: Request, name: str, version: str) -> ModelReady:
    """200 with ``ready: true`` once the version is loaded (it is loaded on first use)."""
    return _ready(name, await _version(request, name, version))


@router.get("/models/{name}", summary="Model metadata (the served version)")
async def model_metadata(request: Request, name: str) -> ModelMetadata:
    """Name, versions, platform and the input and output tensors."""
    return _metadata(name, _served(request, name))


@router.get("/models/{name}/versions/{version}", summary="Model metadata of a version")
async def version_metadata(request: Request, name: str, version: str) -> ModelMetadata:
    """The same metadata for any registered version."""
    return _metadata(name, await _version(request, name, version))


def _served(request: Request, name: str) -> Predictor:
    _check_name(request, name)
    return serving_predictor(request)


async def _version(request: Request, name: str, version: str) -> Predictor:
    _check_name(request, name)
    predictor: Predictor = await request.app.state.model_versions.get(version)
    request.state.model_version = predictor.version  # for the request log line
    return predictor


def _ready(name: str, predictor: Predictor) -> ModelReady:
    return ModelReady(name=name, ready=True, version=str(predictor.version))


def _metadata(name: str, predictor: Predictor) -> ModelMetadata:
    return ModelMetadata(
        name=name,
        versions=[str(predictor.version)],
        platform=f"mlflow_sklearn_{predictor.card.model_type or 'model'}",
        inputs=[
            TensorMetadata(name=column, datatype=_datatype(column), shape=[-1])
            for column in FEATURE_COLUMNS
        ],
        outputs=[
            *(TensorMetadata(name=output, datatype="FP64", shape=[-1]) for output in OUTPUTS),
            TensorMetadata(name=WARNING_OUTPUT, datatype="BYTES", shape=[-1]),
        ],
    )


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
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {
                                        "type": "string",
                                        "enum": [*OUTPUTS, WARNING_OUTPUT],
                                    },
                                    "parameters": {"type": "object"},
                                },
                            },
                        },
                        "parameters": {"type": "object"},
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
    responses=INFER_RESPONSES,
)
async def infer(request: Request, name: str) -> Response:
    """Open Inference Protocol inference with the served version: prices out.

    Live traffic like /v1/predict: under A/B the challenger may answer (the response's
    ``model_version`` says which), and the other version is scored in shadow.
    """
    _check_name(request, name)
    experiment: Experiment = request.app.state.experiment
    assignment = experiment.assign(request)
    return await _infer(request, name, assignment.answer, assignment)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Score houses with a given registered version",
    openapi_extra=INFER_BODY,
    responses=INFER_RESPONSES,
)
async def infer_version(request: Request, name: str, version: str) -> Response:
    """The same inference with any registered version (no A/B, no shadow)."""
    return await _infer(request, name, await _version(request, name, version))


async def _infer(
    request: Request, name: str, predictor: Predictor, assignment: Assignment | None = None
) -> Response:
    limit = request.app.state.settings.gateway.max_body_bytes
    try:
        decoded = decode_request(await request.body(), request.headers, limit=limit)
        body = decoded.body
        frame, wanted = _frame(body, BinaryReader(decoded.binary))
        mode = _unknown_categories(body, request.app.state.settings.core.unknown_categories)
        scored_frame = await asyncio.to_thread(
            functools.partial(predictor.score_frame, frame, unknown_categories=mode)
        )
        scored = scored_frame.table
        _reject_bad_rows(scored)
    except ProtocolError as exc:
        return _bad_request(request, exc)
    version = str(predictor.version)
    record_prediction(model_version=version, source="v2", count=len(frame))
    if assignment is not None:
        count_arm(assignment, len(frame))
    ids = _remember(request, frame, scored_frame, version, predictor.card, assignment)
    outputs = [
        (output, "FP64", scored[output].astype(float).tolist())
        for output in OUTPUTS
        if output in wanted
    ]
    if WARNING_OUTPUT in wanted:
        warnings = scored["warning"].astype(object).where(scored["warning"].notna(), "")
        outputs.append((WARNING_OUTPUT, "BYTES", [str(w) for w in warnings]))
    head: dict[str, Any] = {
        "model_name": name,
        "model_version": version,
        "parameters": {"prediction_ids": ids},
    }
    if isinstance(body.get("id"), str):
        head["id"] = body["id"]
    content, headers = encode_response(
        head, [(n, t, v, wants_binary(body, n)) for n, t, v in outputs]
    )
    return Response(content, headers=headers)


def _remember(
    request: Request,
    frame: pd.DataFrame,
    scored_frame: ScoredFrame,
    version: str,
    card: ModelCard,
    assignment: Assignment | None,
) -> list[str]:
    """Ids for the rows, kept for feedback and the live drift window like /v1 predictions
    (under the category names read, as /v1 keeps them; the audit keeps both)."""
    owner = request_owner(request)
    scored = scored_frame.table
    read = frame.assign(**{c: scored_frame.categories[c] for c in CATEGORY_COLUMNS})
    houses = read.astype(object).to_dict(orient="records")
    prices = scored[list(OUTPUTS)].to_numpy(dtype=float).tolist()
    rows = [(house, p, lo, hi) for house, (p, lo, hi) in zip(houses, prices, strict=True)]
    ids = prediction_log(request.app).remember_rows(
        owner,
        version,
        rows,
        card=card,
        arm=assignment.arm if assignment else "pinned",  # a version named in the path
        shadow=assignment.shadow if assignment else None,
    )
    audit_frame(
        request,
        frame=frame,
        scored=scored,
        categories=scored_frame.categories,
        version=version,
        card=card,
        prediction_ids=ids,
    )
    return ids


def _unknown_categories(body: dict[str, Any], default: UnknownCategories) -> UnknownCategories:
    """The request's ``parameters.unknown_categories`` (``warn`` or ``error``), else the default."""
    parameters = body.get("parameters")
    value = parameters.get("unknown_categories") if isinstance(parameters, dict) else None
    if value is None:
        return default
    try:
        return parse_mode(str(value))
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def _check_name(request: Request, name: str) -> None:
    expected = request.app.state.settings.core.registered_model
    if name != expected:
        raise ProblemError(
            404, f"No model named {name!r}; this server serves {expected!r}.", kind="not-found"
        )


def _frame(body: dict[str, Any], binary: BinaryReader) -> tuple[pd.DataFrame, set[str]]:
    tensors: dict[str, list[Any]] = {}
    errors: list[dict[str, Any]] = []
    given: set[Any] = set()  # names sent, valid or not: a bad input is not also "missing"
    for index, tensor in enumerate(body["inputs"]):
        where = f"inputs.{index}"
        if isinstance(tensor, dict) and isinstance(tensor.get("name"), str):
            given.add(tensor["name"])
        try:
            name, values = _tensor(tensor, binary)
        except ProtocolError as exc:
            errors.append({"field": where, "message": str(exc)})
            continue
        if name in tensors:
            errors.append({"field": where, "message": f"input {name!r} is given twice"})
        tensors[name] = values
    missing = [c for c in FEATURE_COLUMNS if c not in given]
    if missing:
        errors.append({"field": "inputs", "message": f"missing inputs: {', '.join(missing)}"})
    sizes = {len(v) for v in tensors.values()}
    if len(sizes) > 1:
        errors.append({"field": "inputs", "message": "all inputs must have the same batch size"})
    if errors:
        raise ProtocolError("the inputs do not match the model's tensors", errors)
    binary.check_used()
    (size,) = sizes
    if not 1 <= size <= MAX_ROWS:
        raise ProtocolError(f"the batch must hold 1 to {MAX_ROWS:,} rows (got {size})")
    return pd.DataFrame({c: tensors[c] for c in FEATURE_COLUMNS}), _wanted(body)


def _tensor(tensor: Any, binary: BinaryReader) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict):
        raise ProtocolError("each input must be an object with name, shape, datatype, data")
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if name not in FEATURE_COLUMNS:
        raise ProtocolError(f"unknown input {name!r}; expected {', '.join(FEATURE_COLUMNS)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError(f"{name}: shape must be a list of non-negative integers")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise ProtocolError(f"{name}: shape must be [n] or [n, 1]")
    count = math.prod(shape)
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None and "data" not in tensor:
        values: list[Any] | None = binary.take(str(name), size, str(datatype), count)
    else:
        values = _flatten(tensor.get("data"))
    if values is None or len(values) != count:
        raise ProtocolError(f"{name}: data must be a list of {count} values")
    _check_datatype(str(name), datatype, values)
    return str(name), values


def _check_datatype(name: str, datatype: Any, values: list[Any]) -> None:
    """Text for text inputs; numbers, or text the contract reads as numbers, for numbers."""
    text = datatype == "BYTES" and all(isinstance(v, str) for v in values)
    if _datatype(name) == "BYTES":
        if not text:
            raise ProtocolError(f"{name}: datatype must be BYTES with string data")
    elif not text and (datatype not in NUMERIC_DTYPES or not all(_is_number(v) for v in values)):
        raise ProtocolError(f"{name}: datatype must be numeric (FP64, INT64, ...) with numbers")


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
        raise ProtocolError("each requested output must be an object with a string 'name'")
    if not all(isinstance(o.get("parameters", {}), dict) for o in requested):
        raise ProtocolError("a requested output's 'parameters' must be an object")
    names = set(listed)
    unknown = names - {*OUTPUTS, WARNING_OUTPUT}
    if unknown:
        raise ProtocolError(f"unknown outputs: {', '.join(sorted(map(str, unknown)))}")
    return {str(n) for n in names}


def _reject_bad_rows(scored: pd.DataFrame) -> None:
    bad = scored["error"].notna().to_numpy()
    if not bad.any():
        return
    errors = [
        {"field": f"row {int(i)}", "message": str(scored["error"].iloc[i])}
        for i in np.flatnonzero(bad)[:100]
    ]
    raise ProtocolError(f"{int(bad.sum())} row(s) break the model's input contract", errors)


def _datatype(column: str) -> Datatype:
    if column in CATEGORY_COLUMNS:
        return "BYTES"
    return "INT64" if column in INTEGER_COLUMNS else "FP64"


def _bad_request(request: Request, exc: ProtocolError) -> JSONResponse:
    return problem_response(
        exc.status,
        detail=str(exc),
        kind="invalid-inference-request",
        title="Invalid inference request",
        instance=request.url.path,
        errors=exc.errors,
    )
