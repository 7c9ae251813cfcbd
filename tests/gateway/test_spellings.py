"""Categories as people write them, through the API: read, refused with a suggestion, or warned."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.houses import HOUSE
from tests.support.keys import USER


async def _price(client: httpx.AsyncClient, house: dict[str, Any], **params: str) -> float:
    response = await client.post("/v1/predict", json=house, headers=USER, params=params)
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == []
    return float(response.json()["predicted_price"])


@pytest.mark.parametrize(
    "location",
    ["north ames", "NORTH AMES", "  North   Ames ", "North_Ames", "north-ames", "NAmes"],
    ids=["lower-case", "upper-case", "whitespace", "underscores", "hyphens", "ames-code"],
)
async def test_predict_reads_other_spellings_as_the_name(
    client: httpx.AsyncClient, location: str
) -> None:
    exact = await _price(client, HOUSE)

    assert await _price(client, {**HOUSE, "location": location}) == exact
    assert (
        await _price(client, {**HOUSE, "location": location}, unknown_categories="error") == exact
    )


async def test_predict_reads_ames_condition_codes(client: httpx.AsyncClient) -> None:
    exact = await _price(client, {**HOUSE, "condition": "Above Average"})

    for spelled in ("Above_Average", "above-average", "6"):
        assert await _price(client, {**HOUSE, "condition": spelled}) == exact


async def test_predict_refuses_a_near_miss_naming_the_field_and_the_suggestion(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/predict", json={**HOUSE, "location": "Nrth Ames"}, headers=USER
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == [
        {
            "field": "location",
            "message": "'Nrth Ames' is not a known location, did you mean 'North Ames'?",
            "suggestion": "North Ames",
        }
    ]
    assert "did you mean 'North Ames'?" in problem["detail"]


async def test_predict_warns_of_a_new_name_and_refuses_it_when_strict(
    client: httpx.AsyncClient,
) -> None:
    house = {**HOUSE, "location": "Atlantis"}

    warned = await client.post("/v1/predict", json=house, headers=USER)
    strict = await client.post(
        "/v1/predict", json=house, headers=USER, params={"unknown_categories": "error"}
    )
    wrong = await client.post(
        "/v1/predict", json=house, headers=USER, params={"unknown_categories": "maybe"}
    )

    assert warned.status_code == 200
    assert warned.json()["warnings"] == [
        "location 'Atlantis' was not seen in training, so it is scored as unknown"
    ]
    assert strict.status_code == 422
    assert [e["field"] for e in strict.json()["errors"]] == ["location"]
    assert "unknown_categories=error" in strict.json()["errors"][0]["message"]
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "query.unknown_categories"


async def test_batch_reads_spellings_and_names_each_refused_row(client: httpx.AsyncClient) -> None:
    rows = [HOUSE, {**HOUSE, "location": "north_ames"}]
    read = await client.post("/v1/predict/batch", json={"rows": rows}, headers=USER)
    refused = await client.post(
        "/v1/predict/batch",
        json={"rows": [*rows, {**HOUSE, "condition": "Averge"}, {**HOUSE, "location": "Mars"}]},
        headers=USER,
        params={"unknown_categories": "error"},
    )

    prices = [p["predicted_price"] for p in read.json()["predictions"]]
    assert read.status_code == 200
    assert prices[0] == prices[1]
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert [(e["field"], e.get("suggestion")) for e in errors] == [
        ("rows.2.condition", "Average"),
        ("rows.3.location", None),
    ]


async def test_the_setting_makes_strict_mode_the_default(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    strict = dataclasses.replace(
        settings, core=settings.core.model_copy(update={"unknown_categories": "error"})
    )
    app = create_app(strict)
    async with lifespan(app), asgi_client(app) as client:
        house = {**HOUSE, "location": "Atlantis"}
        refused = await client.post("/v1/predict", json=house, headers=USER)
        allowed = await client.post(
            "/v1/predict", json=house, headers=USER, params={"unknown_categories": "warn"}
        )

    assert refused.status_code == 422
    assert allowed.status_code == 200


async def test_the_model_card_carries_the_alias_table(client: httpx.AsyncClient) -> None:
    card = (await client.get("/v1/model", headers=USER)).json()

    assert card["aliases"]["location"]["North Ames"] == ["NAmes"]
    assert "TA" in card["aliases"]["condition"]["Average"]
