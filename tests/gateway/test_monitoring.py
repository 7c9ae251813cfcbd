"""Prediction ids, feedback by id, live accuracy and drift over a real Redis."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis

from core.settings import AppSettings
from gateway.main import create_app
from ml.evaluate import interval_coverage, regression_metrics
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import build_settings
from tests.support.houses import houses, rows_of
from tests.support.keys import ADMIN, USER
from tests.support.model import ModelRegistry

MONITOR_DB = 11


@pytest.fixture
def monitored_settings(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AppSettings:
    """Gateway settings on an emptied Redis database of its own; the client key is trusted."""
    url = redis_url.rsplit("/", 1)[0] + f"/{MONITOR_DB}"
    redis.Redis.from_url(url).flushdb()
    settings = build_settings(
        tmp_path,
        tracking_uri=model_registry.tracking_uri,
        name=model_registry.name,
        feedback_key_names=["client"],
    )
    return replace(settings, core=settings.core.model_copy(update={"redis_url": url}))


@pytest.fixture
async def monitored(monitored_settings: AppSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway that keeps predictions in Redis."""
    app = create_app(monitored_settings)
    async with lifespan(app), asgi_client(app) as http:
        yield http


async def test_every_prediction_gets_an_id(client: httpx.AsyncClient, house: dict) -> None:
    one = (await client.post("/v1/predict", json=house, headers=USER)).json()
    batch = (
        await client.post("/v1/predict/batch", json={"rows": [house] * 3}, headers=USER)
    ).json()

    ids = [one["prediction_id"], *(p["prediction_id"] for p in batch["predictions"])]
    assert all(isinstance(i, str) and i.startswith("p_") for i in ids)
    assert len(set(ids)) == 4


async def test_feedback_gives_the_metrics_computed_directly(
    monitored: httpx.AsyncClient,
) -> None:
    frame = houses(60)
    answer = await monitored.post("/v1/predict/batch", json={"rows": rows_of(frame)}, headers=USER)
    predictions = answer.json()["predictions"]
    items = [
        {"prediction_id": p["prediction_id"], "actual_price": float(actual)}
        for p, actual in zip(predictions, frame["price"], strict=True)
    ]

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    posted = await monitored.post("/v1/feedback", json={"items": items}, headers=USER)
    live = (await monitored.get("/v1/monitoring", headers=USER)).json()

    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == 60
    (quality,) = live["accuracy"]
    predicted = [p["predicted_price"] for p in predictions]
    expected = regression_metrics(frame["price"].to_numpy(), pd.Series(predicted).to_numpy())
    coverage = interval_coverage(
        frame["price"].to_numpy(),
        pd.Series([p["interval"]["low"] for p in predictions]).to_numpy(),
        pd.Series([p["interval"]["high"] for p in predictions]).to_numpy(),
    )
    metrics = quality["metrics"]
    assert metrics["n"] == 60
    assert metrics["mae"] == pytest.approx(expected["mae"])
    assert metrics["rmse"] == pytest.approx(expected["rmse"])
    assert metrics["r2"] == pytest.approx(expected["r2"])
    assert metrics["coverage"] == pytest.approx(coverage)
    assert set(quality["gates"]["gates"]) == {"r2_min", "mae_max", "rmse_max"}
    assert quality["gates"]["status"] in {"ok", "breached"}
    for moment in ("newest_at", "oldest_at"):  # ISO 8601 in UTC, as every time in the API
        assert quality[moment].endswith("Z")
        assert dt.datetime.fromisoformat(quality[moment]) >= before


async def test_feedback_counts_once_and_only_for_the_callers_predictions(
    monitored: httpx.AsyncClient, house: dict
) -> None:
    mine = (await monitored.post("/v1/predict", json=house, headers=USER)).json()
    theirs = (await monitored.post("/v1/predict", json=house, headers=ADMIN)).json()
    items = [
        {"prediction_id": mine["prediction_id"], "actual_price": 180_000},
        {"prediction_id": theirs["prediction_id"], "actual_price": 180_000},
        {"prediction_id": "p_never-made", "actual_price": 180_000},
    ]

    first = (await monitored.post("/v1/feedback", json={"items": items}, headers=USER)).json()
    again = (await monitored.post("/v1/feedback", json={"items": items[:1]}, headers=USER)).json()

    assert first["accepted"] == 1
    assert sorted(first["unknown"]) == sorted([theirs["prediction_id"], "p_never-made"])
    assert again["accepted"] == 0
    assert again["duplicates"] == [mine["prediction_id"]]


async def test_live_drift_flags_doubled_sqft_only(monitored: httpx.AsyncClient) -> None:
    frame = houses(400, seed=5)
    await monitored.post("/v1/predict/batch", json={"rows": rows_of(frame)}, headers=USER)
    calm = (await monitored.get("/v1/monitoring", headers=USER)).json()["drift"]

    shifted = frame.assign(sqft=frame["sqft"] * 2)
    for start in range(0, 400, 200):
        chunk = rows_of(shifted.iloc[start : start + 200])
        await monitored.post("/v1/predict/batch", json={"rows": chunk}, headers=USER)
    # The window now holds 400 doubled houses and the 400 calm ones.
    moved = (await monitored.get("/v1/monitoring", headers=USER)).json()["drift"]

    assert calm["rows"] == 400
    assert calm["drifted"] == []
    assert calm["features"]["sqft"]["psi"] < 0.2
    assert moved["features"]["sqft"]["psi"] > 0.2
    assert "sqft" in moved["drifted"]
    assert moved["features"]["location"]["psi"] < 0.2


async def test_feedback_rejects_bodies_without_usable_items(monitored: httpx.AsyncClient) -> None:
    bad = await monitored.post(
        "/v1/feedback", json={"items": [{"prediction_id": "x", "actual_price": -5}]}, headers=USER
    )
    wrong_type = await monitored.post(
        "/v1/feedback", content=b"a,b\n1,2\n", headers={**USER, "Content-Type": "text/plain"}
    )

    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["field"] == "items.0"
    assert wrong_type.status_code == 415


async def test_json_feedback_is_taken_whole_or_not_at_all(
    monitored: httpx.AsyncClient, house: dict
) -> None:
    good = (await monitored.post("/v1/predict", json=house, headers=USER)).json()["prediction_id"]
    items = [
        {"prediction_id": good, "actual_price": 150_000},
        {"prediction_id": good, "job_id": "j", "row": 1, "actual_price": 150_000},
        {"prediction_id": good, "actual_price": "150000"},
    ]

    answer = await monitored.post("/v1/feedback", json={"items": items}, headers=USER)
    alone = await monitored.post("/v1/feedback", json={"items": items[:1]}, headers=USER)

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["items.1", "items.2"]
    assert alone.json()["accepted"] == 1  # the good item was not taken by the refused post


async def test_monitoring_without_redis_is_a_problem(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/monitoring", headers=USER)
    unauthenticated = await client.get("/v1/monitoring")

    assert answer.status_code == 503
    assert answer.json()["type"].endswith("monitoring-unavailable")
    assert unauthenticated.status_code == 401


async def test_live_quality_and_drift_are_prometheus_gauges(
    monitored: httpx.AsyncClient,
) -> None:
    frame = houses(40, seed=8)
    answer = await monitored.post("/v1/predict/batch", json={"rows": rows_of(frame)}, headers=USER)
    version = answer.json()["model_version"]
    items = [
        {"prediction_id": p["prediction_id"], "actual_price": float(actual)}
        for p, actual in zip(answer.json()["predictions"], frame["price"], strict=True)
    ]
    await monitored.post("/v1/feedback", json={"items": items}, headers=USER)
    await monitored.get("/v1/monitoring", headers=USER)

    text = (await monitored.get("/metrics", headers=ADMIN)).text

    assert f'live_accuracy{{metric="n",model_version="{version}"}} 40.0' in text
    assert f'live_gate_breached{{gate="mae_max",model_version="{version}"}}' in text
    assert 'feature_psi{feature="sqft",source="live"}' in text


async def test_v2_predictions_get_ids_that_take_feedback(
    monitored: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    frame = houses(3, seed=9)
    types = {"location": "BYTES", "condition": "BYTES", "bedrooms": "INT64", "year_built": "INT64"}
    inputs = [
        {"name": c, "shape": [3], "datatype": types.get(c, "FP64"), "data": frame[c].tolist()}
        for c in ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]
    ]
    answer = await monitored.post(
        f"/v2/models/{model_registry.name}/infer", json={"inputs": inputs}, headers=USER
    )
    ids = answer.json()["parameters"]["prediction_ids"]

    prices = frame["price"].tolist()
    items = [
        {"prediction_id": i, "actual_price": float(p)} for i, p in zip(ids, prices, strict=True)
    ]
    posted = await monitored.post("/v1/feedback", json={"items": items}, headers=USER)

    assert len(set(ids)) == 3
    assert posted.json()["accepted"] == 3


async def test_live_accuracy_breaking_a_gate_is_flagged(monitored: httpx.AsyncClient) -> None:
    frame = houses(40, seed=10)
    answer = await monitored.post("/v1/predict/batch", json={"rows": rows_of(frame)}, headers=USER)
    version = answer.json()["model_version"]
    # Sales closing at twice the predicted price: far beyond the MAE and RMSE gates.
    items = [
        {"prediction_id": p["prediction_id"], "actual_price": 2 * p["predicted_price"]}
        for p in answer.json()["predictions"]
    ]

    posted = (await monitored.post("/v1/feedback", json={"items": items}, headers=USER)).json()
    text = (await monitored.get("/metrics", headers=ADMIN)).text

    verdict = posted["live"][version]["gates"]
    assert verdict["status"] == "breached"
    assert {"mae_max", "rmse_max"} <= set(verdict["breached"])
    assert posted["live"][version]["coverage_status"] == "low"
    assert f'live_gate_breached{{gate="mae_max",model_version="{version}"}} 1.0' in text
