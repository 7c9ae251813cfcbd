"""POST /v1/predict?comparables=k through the app with the session's real model."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.keys import USER
from tests.support.model import ModelRegistry


async def test_comparables_are_off_by_default(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post("/v1/predict", json=house, headers=USER)

    assert response.status_code == 200
    assert response.json()["comparables"] is None


async def test_comparables_are_training_sales_adjusted_by_the_model(
    client: httpx.AsyncClient, house: dict[str, Any], model_registry: ModelRegistry
) -> None:
    response = await client.post(
        "/v1/predict", params={"comparables": "4"}, json=house, headers=USER
    )

    assert response.status_code == 200, response.text
    body = response.json()
    comparables = body["comparables"]
    sales = comparables["sales"]
    assert len(sales) == 4
    assert comparables["pool_rows"] == len(model_registry.result.train_frame)
    training = model_registry.result.train_frame.assign(price=model_registry.result.train_actual)
    for sale in sales:
        matches = training[
            (training["sqft"] == sale["house"]["sqft"])
            & (training["year_built"] == sale["house"]["year_built"])
            & (training["location"] == sale["house"]["location"])
            & (training["price"] == sale["sale_price"])
        ]
        assert len(matches) >= 1
        assert sale["same_location"] is True  # North Ames has hundreds of sales
        assert sale["adjusted_price"] == pytest.approx(
            sale["sale_price"] * body["predicted_price"] / sale["model_price"]
        )
    assert [s["distance"] for s in sales] == sorted(s["distance"] for s in sales)
    adjusted = sorted(s["adjusted_price"] for s in sales)
    assert comparables["median_adjusted_price"] == pytest.approx((adjusted[1] + adjusted[2]) / 2)


@pytest.mark.parametrize("k", ["0", "11", "-1", "three", "2.5", ""])
async def test_comparables_out_of_range_is_a_validation_problem(
    client: httpx.AsyncClient, house: dict[str, Any], k: str
) -> None:
    response = await client.post("/v1/predict", params={"comparables": k}, json=house, headers=USER)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in response.json()["errors"]]
    assert "query.comparables" in fields


async def test_comparables_combine_with_explain(
    client: httpx.AsyncClient, house: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/predict", params={"comparables": "10", "explain": "true"}, json=house, headers=USER
    )

    body = response.json()
    assert response.status_code == 200
    assert len(body["comparables"]["sales"]) == 10
    assert body["contributions"]


async def test_openapi_documents_comparables(app: FastAPI) -> None:
    schema = app.openapi()
    operation = schema["paths"]["/v1/predict"]["post"]
    parameter = next(p for p in operation["parameters"] if p["name"] == "comparables")
    assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": 10}
    prediction = schema["components"]["schemas"]["Prediction"]
    assert "comparables" in prediction["properties"]
    sale = schema["components"]["schemas"]["ComparableSale"]["properties"]
    assert {"sale_price", "adjusted_price", "distance", "differences"} <= set(sale)
    jobs = schema["paths"]["/v1/jobs"]["post"]["parameters"]
    job_parameter = next(p for p in jobs if p["name"] == "comparables")
    assert job_parameter["schema"]["anyOf"][0]["maximum"] == 3
