"""Every error is RFC 9457 problem details; bad input is a clear 4xx, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.main import create_app
from ml.contract import max_year_built
from ml.predict import Predictor
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.keys import USER
from tests.support.model import ModelRegistry
from tests.support.problems import assert_problem


async def test_missing_field_is_named(client: httpx.AsyncClient, house: dict[str, Any]) -> None:
    del house["sqft"]
    body = assert_problem(await client.post("/v1/predict", json=house, headers=USER), 422)
    assert body["errors"] == [{"field": "sqft", "message": "Field required"}]


async def test_extra_field_is_rejected(client: httpx.AsyncClient, house: dict[str, Any]) -> None:
    body = assert_problem(
        await client.post("/v1/predict", json={**house, "pool": True}, headers=USER), 422
    )
    assert body["errors"][0]["field"] == "pool"
    assert "not permitted" in body["errors"][0]["message"]


async def test_a_huge_field_name_is_echoed_cut(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    name = "p" * 900_000
    response = await client.post("/v1/predict", json={**house, name: 1}, headers=USER)

    body = assert_problem(response, 422)
    assert len(response.content) < 3_000
    assert body["errors"][0]["field"].startswith("ppp")
    assert body["errors"][0]["field"].endswith("characters, cut]")
    assert body["detail"].endswith("characters, cut]")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sqft", "big"),
        ("bedrooms", 2.5),
        ("bathrooms", [1]),
        ("location", 12),
        ("year_built", "nineteen sixty"),
    ],
)
async def test_wrong_type_is_422_naming_the_field(
    client: httpx.AsyncClient, house: dict[str, Any], field: str, value: Any
) -> None:
    body = assert_problem(
        await client.post("/v1/predict", json={**house, field: value}, headers=USER), 422
    )
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sqft", -5),
        ("sqft", 10_000_000),
        ("bedrooms", 51),
        ("bathrooms", 1.25),
        ("year_built", 1700),
        ("year_built", 3000),
        ("location", "   "),
        ("condition", "x" * 65),
    ],
)
async def test_out_of_range_is_422(
    client: httpx.AsyncClient, house: dict[str, Any], field: str, value: Any
) -> None:
    body = assert_problem(
        await client.post("/v1/predict", json={**house, field: value}, headers=USER), 422
    )
    assert body["errors"][0]["field"] == field


async def test_several_errors_are_all_reported(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    bad = {**house, "sqft": 0, "bedrooms": -1}
    body = assert_problem(await client.post("/v1/predict", json=bad, headers=USER), 422)
    assert {e["field"] for e in body["errors"]} == {"sqft", "bedrooms"}


async def test_non_json_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/predict",
        content=b"{sqft: 12",
        headers={**USER, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert "not valid JSON" in body["detail"]


@pytest.mark.parametrize("payload", [b"[]", b"42", b'"house"', b"null"])
async def test_json_that_is_not_an_object_is_422(client: httpx.AsyncClient, payload: bytes) -> None:
    response = await client.post(
        "/v1/predict", content=payload, headers={**USER, "Content-Type": "application/json"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, house: dict[str, Any], content_type: str | None
) -> None:
    headers = dict(USER)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/v1/predict", content=json.dumps(house).encode(), headers=headers)
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]


async def test_json_with_charset_is_accepted(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict",
        content=json.dumps(house).encode(),
        headers={**USER, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_oversized_body_is_refused_by_content_length(
    make_settings: SettingsFactory, house: dict[str, Any]
) -> None:
    app = create_app(make_settings(max_body_bytes=64))
    async with lifespan(app), asgi_client(app) as http:
        response = await http.post("/v1/predict", json=house, headers=USER)
    body = assert_problem(response, 413)
    assert "64 bytes" in body["detail"]


async def test_oversized_chunked_body_is_cut_off_while_streaming(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(max_body_bytes=1000))
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 100

    async with lifespan(app), asgi_client(app) as http:
        response = await http.post(
            "/v1/predict", content=chunks(), headers={**USER, "Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here", headers=USER), 404)


async def test_wrong_method_is_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/predict", headers=USER)
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_405_allows_every_method_the_document_names_for_the_path(
    client: httpx.AsyncClient,
) -> None:
    # GET and DELETE /v1/jobs/{id} are two routes; Starlette alone would name only one.
    response = await client.put("/v1/jobs/some-job", headers=USER)
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD"


async def test_bad_query_parameter_is_422(client: httpx.AsyncClient, house: dict[str, Any]) -> None:
    response = await client.post(
        "/v1/predict", params={"explain": "perhaps"}, json=house, headers=USER
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "query.explain"


async def test_unknown_query_parameter_is_422(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict", params={"explain": "true", "verbose": "1"}, json=house, headers=USER
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [{"field": "query.verbose", "message": "Unknown query parameter"}]


class ExplodingPredictor:
    """Wraps a real predictor but fails inside predict_one, as a bug would."""

    def __init__(self, inner: Predictor) -> None:
        self.version = inner.version
        self.card = inner.card

    def predict_one(self, *_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal state: /srv/models/key=hunter2")


async def test_unexpected_error_is_500_problem_without_internals(
    make_settings: SettingsFactory, model_registry: ModelRegistry, house: dict[str, Any]
) -> None:
    real = Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)
    app = create_app(make_settings(), predictor=ExplodingPredictor(real))  # type: ignore[arg-type]
    async with lifespan(app), asgi_client(app) as http:
        response = await http.post("/v1/predict", json=house, headers=USER)
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["type"].endswith("internal")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_messages_carry_no_pydantic_value_error_prefix(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    bad = {**house, "year_built": 2050, "sqft": True}
    single = assert_problem(await client.post("/v1/predict", json=bad, headers=USER), 422)
    batch = assert_problem(
        await client.post("/v1/predict/batch", json={"rows": [bad]}, headers=USER), 422
    )

    messages = {e["field"]: e["message"] for e in single["errors"]}
    assert messages == {
        "year_built": f"year_built must be at most {max_year_built()}",
        "sqft": "must be a number, not true or false",
    }
    assert {e["message"] for e in batch["errors"]} == set(messages.values())
    assert "Value error" not in json.dumps([single, batch])
