"""Predictions through the ASGI app with its lifespan and the session's real model."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.prediction_log import PredictionLog
from observability.http import ObservabilityMiddleware
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.keys import USER
from tests.support.model import ModelRegistry


async def test_predict_returns_price_interval_and_version(
    client: httpx.AsyncClient, house: dict[str, Any], model_registry: ModelRegistry
) -> None:
    response = await client.post("/v1/predict", json=house, headers=USER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == model_registry.version
    assert body["interval"]["low"] < body["predicted_price"] < body["interval"]["high"]
    assert 0 < body["interval"]["level"] < 1
    assert body["warnings"] == []
    assert body["contributions"] is None


async def test_the_prediction_log_is_open_from_startup_with_the_apps_sink(app: FastAPI) -> None:
    log = app.state.prediction_log  # before any request
    (observability,) = [m for m in app.user_middleware if m.cls is ObservabilityMiddleware]
    assert isinstance(log, PredictionLog)
    assert log.sink is observability.kwargs["sink"]


async def test_predict_explain_adds_contributions_summing_to_price(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict", params={"explain": "true"}, json=house, headers=USER
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body["contributions"]) >= {"sqft", "location"}
    total = body["baseline"] + sum(body["contributions"].values())
    assert total == pytest.approx(body["predicted_price"], rel=1e-3)


async def test_predict_warns_on_unseen_location(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict", json={**house, "location": "Atlantis"}, headers=USER
    )
    assert response.status_code == 200
    assert any("Atlantis" in w for w in response.json()["warnings"])


async def test_batch_matches_single_predictions_in_order(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    rows = [{**house, "sqft": sqft} for sqft in (900, 1500, 2400)]
    response = await client.post("/v1/predict/batch", json={"rows": rows}, headers=USER)
    assert response.status_code == 200, response.text
    batch = response.json()
    singles = [(await client.post("/v1/predict", json=r, headers=USER)).json() for r in rows]
    assert [p["predicted_price"] for p in batch["predictions"]] == pytest.approx(
        [p["predicted_price"] for p in singles]
    )
    assert batch["model_version"] == singles[0]["model_version"]


async def test_batch_over_the_row_limit_is_422_with_field(
    make_settings: SettingsFactory, house: dict[str, Any]
) -> None:

    from gateway.main import create_app

    app = create_app(make_settings(max_batch_rows=2))
    async with lifespan(app), asgi_client(app) as http:
        response = await http.post("/v1/predict/batch", json={"rows": [house] * 3}, headers=USER)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "rows", "message": "at most 2 rows (got 3)"}]


async def test_empty_batch_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/predict/batch", json={"rows": []}, headers=USER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rows"


async def test_batch_row_errors_name_the_row(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    rows = [house, {**house, "bedrooms": 99}]
    response = await client.post("/v1/predict/batch", json={"rows": rows}, headers=USER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rows.1.bedrooms"


async def test_model_card_reports_version_metrics_and_categories(
    client: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    response = await client.get("/v1/model", headers=USER)
    card = response.json()
    assert response.status_code == 200
    assert card["version"] == model_registry.version
    assert {"r2", "mae", "rmse"} <= set(card["metrics"])
    assert "North Ames" in card["categories"]["location"]
    assert {"level", "coverage"} <= set(card["interval"])


async def test_metrics_count_predictions_by_version(
    client: httpx.AsyncClient, house: dict[str, Any], model_registry: ModelRegistry
) -> None:
    await client.post("/v1/predict", json=house, headers=USER)
    text = (await client.get("/metrics")).text
    assert f'predictions_total{{model_version="{model_registry.version}",source="single"}}' in text
    assert f'model_info{{version="{model_registry.version}"}} 1.0' in text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="200"}' in text


async def test_predict_response_carries_request_id(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict", json=house, headers={**USER, "X-Request-ID": "abc-123"}
    )
    assert response.headers["x-request-id"] == "abc-123"


async def test_app_fixture_serves_the_champion(app: FastAPI, model_registry: ModelRegistry) -> None:
    assert app.state.predictor_holder.current.version == model_registry.version
