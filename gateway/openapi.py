"""The OpenAPI document as clients see it: every error documented as problem details."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from core.problem import Problem
from gateway.errors import INFERENCE_PROTOCOL_PREFIX, PROBLEM_MEDIA_TYPE
from gateway.security import API_KEY_HEADER
from ml.contract import CATEGORY_COLUMNS, max_year_built

_REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "APIKeyHeader"
# Everything else needs a key (tests/gateway/test_security.py checks every operation).
# A character that is whitespace neither to JSON Schema (ECMA-262 \s) nor to Python's
# str.strip, which the contract applies (it also strips \x1c-\x1f and \x85).
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# The Open Inference Protocol's routes answer errors as JSON with its "error" member too.
_INFERENCE_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/InferenceProblem"}}
}
_COMMON_ERRORS = {
    "405": "Method not allowed",
    "413": "Body too large",
    "500": "Unexpected error (details logged, never sent)",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries documenting these status codes as problem details."""
    return {code: {"description": _describe(code)} for code in codes}


def install_openapi(app: FastAPI) -> None:
    """Generate the schema once, with problem details for every error response."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _document_security(schema)
            _document_problems(schema)
            _document_validators(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_security(schema: dict[str, Any]) -> None:
    # The key is checked by gateway.deps; declared here so Swagger UI offers "Authorize".
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SECURITY_SCHEME] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    for path, path_item in schema.get("paths", {}).items():
        if path not in OPEN_PATHS:
            for operation in path_item.values():
                operation["security"] = [{SECURITY_SCHEME: []}]


def _document_problems(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=_REF)
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    components["InferenceProblem"] = {
        **problem,
        "title": "InferenceProblem",
        "description": "Problem details with the Open Inference Protocol's error member.",
        "properties": {**problem["properties"], "error": {"type": "string"}},
        "required": [*problem.get("required", []), "error"],
    }
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in _errors_of(path, operation).items():
                responses.setdefault(code, {"description": description})
            inference = path.startswith(INFERENCE_PROTOCOL_PREFIX)
            for code, response in responses.items():
                if code[0] in "45" and not _has_own_schema(response):
                    response["content"] = _INFERENCE_CONTENT if inference else _PROBLEM_CONTENT


def _errors_of(path: str, operation: dict[str, Any]) -> dict[str, str]:
    # What the gateway itself can answer on any operation: auth and rate limits where a key
    # is needed, 404 where a path names a resource, and the transport-level errors.
    errors = dict(_COMMON_ERRORS)
    if operation.get("security"):
        errors["401"] = _describe(401)
        errors["429"] = _describe(429)
    if "{" in path:
        errors["404"] = _describe(404)
    return errors


def _document_validators(schema: dict[str, Any]) -> None:
    # The contract checks "at most next year" and "not blank" in validators, which JSON
    # Schema cannot see; state them so clients (and schema-driven tests) know.
    features = schema.get("components", {}).get("schemas", {}).get("HouseFeatures", {})
    properties = features.get("properties", {})
    if "year_built" in properties:
        properties["year_built"]["maximum"] = max_year_built()
    for name in CATEGORY_COLUMNS:
        if name in properties:
            properties[name]["pattern"] = NOT_BLANK


def _has_own_schema(response: dict[str, Any]) -> bool:
    # /readyz answers 503 with its readiness document, not a problem.
    for media in response.get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        if ref and not ref.endswith("/HTTPValidationError"):
            return True
    return False


def _describe(code: int) -> str:
    return {
        400: "Malformed JSON",
        401: "Missing or unknown API key",
        403: "Needs an admin key",
        404: "Not found",
        409: "Conflicts with the resource's state",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Body or parameters break the contract (field-level errors)",
        429: "Rate limit exceeded (see Retry-After)",
        503: "No model loaded yet (see /readyz)",
    }.get(code, "Error")
