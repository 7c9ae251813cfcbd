"""Deeply nested JSON is a 400 problem on every route that takes a JSON body, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.json_depth import json_depth
from tests.support.keys import USER
from tests.support.problems import assert_problem

# 8,000 levels (Python's parser recurses ~1,000 deep) in 16,000 bytes: within every JSON
# route's size limit (a pointer job's body is at most 16 KiB), so depth is what refuses it.
DEEP = b"[" * 8_000 + b"]" * 8_000


def json_routes(app: FastAPI) -> list[str]:
    """Every path (with a concrete model name) whose operation accepts a JSON body."""
    paths = []
    for path, operations in app.openapi()["paths"].items():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if any(media.endswith("json") for media in content):
                paths.append(path.replace("{name}", "house-price").replace("{version}", "1"))
    return paths


def test_the_json_routes_are_found(app: FastAPI) -> None:
    assert {"/v1/predict", "/v1/predict/batch", "/v1/feedback"} <= set(json_routes(app))
    assert "/v2/models/house-price/infer" in json_routes(app)


async def test_every_json_route_answers_400_to_deep_nesting(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = {**USER, "Content-Type": "application/json"}
    for path in json_routes(app):
        response = await client.post(path, content=DEEP, headers=headers)
        if path.startswith("/v2/"):  # the Open Inference Protocol's error shape
            assert response.status_code == 400, path
            body = response.json()
            assert "32 levels" in body["error"]
        else:
            body = assert_problem(response, 400)
        assert body["type"] == "urn:hpp:problem:json-too-deep", path
        assert "32 levels" in body["detail"]


async def test_nesting_at_the_limit_reaches_the_route(client: httpx.AsyncClient) -> None:
    body = {"items": [{"prediction_id": "x", "actual_price": 1, "deep": _nested(29)}]}
    assert json_depth(json.dumps(body).encode()) == 32
    response = await client.post("/v1/feedback", json=body, headers=USER)
    assert "json-too-deep" not in response.text
    assert response.status_code in (422, 503), response.text  # parsed, then judged


async def test_brackets_inside_strings_do_not_count(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    house["location"] = "[{" * 5_000 + '\\"'
    response = await client.post("/v1/predict", json=house, headers=USER)
    body = assert_problem(response, 422)  # parsed: too long a location, not too deep
    assert body["errors"][0]["field"] == "location"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["]]]]", "\\"[[[["]', 1),
        (b'["unterminated [[[[', 1),
        (b"[" * 50, 50),
    ],
)
def test_json_depth_counts_nesting_outside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def _nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value
