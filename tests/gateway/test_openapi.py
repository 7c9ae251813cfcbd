"""The OpenAPI document names what every response is: a schema of its own, or its media type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.main import create_app
from tests.support.gateway_settings import build_settings

NO_BODY = frozenset({"204", "304"})


def test_every_response_of_every_operation_names_its_schema() -> None:
    schema = _document()
    unnamed = {
        f"{method.upper()} {path} {code}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        for code, response in operation["responses"].items()
        if not _named(code, response)
    }
    assert not unnamed, sorted(unnamed)


def test_the_card_and_monitoring_answers_are_their_models() -> None:
    schema = _document()
    ok = {
        path: _ref_of(schema["paths"][path]["get"]["responses"]["200"], "application/json")
        for path in ("/v1/model", "/v1/monitoring", "/v1/monitoring/jobs/{job_id}")
    }
    assert ok == {
        "/v1/model": "ModelCard",
        "/v1/monitoring": "MonitoringReport",
        "/v1/monitoring/jobs/{job_id}": "JobDrift",
    }
    card = schema["components"]["schemas"]["ModelCard"]["properties"]
    assert {"version", "metrics", "gates", "interval", "holdout_sample"} <= set(card)


def _document() -> dict[str, Any]:
    # Building the app loads no model and opens no connection.
    return create_app(build_settings(Path("."), tracking_uri="sqlite:///:memory:")).openapi()


def _named(code: str, response: dict[str, Any]) -> bool:
    """A JSON body has a schema of its own (a $ref, or a list of them); other media types
    are named by their type; 204 has no body."""
    content = response.get("content")
    if not content:
        return code in NO_BODY
    return all(
        _json_schema_named(media.get("schema", {})) if _is_json(kind) else True
        for kind, media in content.items()
    )


def _json_schema_named(schema: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _json_schema_named(schema.get("items", {}))
    return False


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _ref_of(response: dict[str, Any], media_type: str) -> str:
    return str(response["content"][media_type]["schema"]["$ref"]).rsplit("/", 1)[-1]
