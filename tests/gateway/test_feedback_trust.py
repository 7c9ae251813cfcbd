"""Who may move the shared live accuracy: trusted keys only; implausible prices are held.

The attack of issue 17: any key predicts 40 houses and reports $1 for each, which broke
every gate and set ``live_gate_breached``. Over a real Redis, with the gateway in process.
The Prometheus gauges are process-wide, so each test first sets its own baseline with
exact feedback from the trusted key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from core.settings import AppSettings
from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import build_settings
from tests.support.houses import houses, rows_of
from tests.support.keys import ADMIN, USER
from tests.support.model import ModelRegistry

TRUST_DB = 13
END_USER = {**ADMIN, "X-On-Behalf-Of": "mallory"}


@pytest.fixture
async def gateway(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose ``ops`` key is trusted for feedback (and a delegate); ``client`` is not."""
    url = redis_url.rsplit("/", 1)[0] + f"/{TRUST_DB}"
    redis.Redis.from_url(url).flushdb()
    settings: AppSettings = build_settings(
        tmp_path,
        tracking_uri=model_registry.tracking_uri,
        name=model_registry.name,
        feedback_key_names=["ops"],
        delegate_key_names=["ops"],
    )
    settings = replace(settings, core=settings.core.model_copy(update={"redis_url": url}))
    app = create_app(settings)
    async with lifespan(app), asgi_client(app) as http:
        yield http


async def predict(http: httpx.AsyncClient, headers: dict[str, str], seed: int) -> list[dict]:
    """Price 40 real houses as ``headers``' caller."""
    answer = await http.post(
        "/v1/predict/batch", json={"rows": rows_of(houses(40, seed=seed))}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    predictions: list[dict] = answer.json()["predictions"]
    return predictions


async def report(
    http: httpx.AsyncClient, headers: dict[str, str], predictions: list[dict], price: Any
) -> dict:
    """Report ``price(prediction)`` as the sale price of each prediction."""
    items = [{"prediction_id": p["prediction_id"], "actual_price": price(p)} for p in predictions]
    answer = await http.post("/v1/feedback", json={"items": items}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


async def shared_figures(http: httpx.AsyncClient) -> tuple[dict, str]:
    """The shared accuracy of the serving version, and the gate gauges as Prometheus shows."""
    monitoring = (await http.get("/v1/monitoring", headers=ADMIN)).json()
    (quality,) = monitoring["accuracy"]
    metrics = (await http.get("/metrics", headers=ADMIN)).text
    gauges = "\n".join(line for line in metrics.splitlines() if line.startswith("live_gate"))
    return quality, gauges


async def exact_baseline(http: httpx.AsyncClient) -> tuple[dict, str]:
    """Trusted feedback equal to the predictions: every gate holds."""
    trusted = await report(
        http, ADMIN, await predict(http, ADMIN, 1), lambda p: p["predicted_price"]
    )
    assert trusted["scope"] == "shared"
    assert trusted["accepted"] == 40
    quality, gauges = await shared_figures(http)
    assert quality["gates"]["status"] == "ok"
    assert quality["metrics"]["n"] == 40
    assert " 1.0" not in gauges
    return quality, gauges


async def test_one_dollar_from_an_untrusted_key_moves_no_shared_figure(
    gateway: httpx.AsyncClient,
) -> None:
    before, gauges_before = await exact_baseline(gateway)

    answer = await report(gateway, USER, await predict(gateway, USER, 2), lambda p: 1.0)
    after, gauges_after = await shared_figures(gateway)

    assert answer["scope"] == "own"
    assert answer["accepted"] == 0
    assert len(answer["held"]) == 40
    assert "outside the plausible range" in answer["held"][0]["reason"]
    assert after["metrics"] == before["metrics"]
    assert gauges_after == gauges_before


async def test_plausible_but_wrong_prices_from_an_untrusted_key_stay_in_its_own_figures(
    gateway: httpx.AsyncClient,
) -> None:
    before, gauges_before = await exact_baseline(gateway)

    doubled = await report(
        gateway, USER, await predict(gateway, USER, 3), lambda p: 2 * p["predicted_price"]
    )
    after, gauges_after = await shared_figures(gateway)
    own = (await gateway.get("/v1/monitoring", headers=USER)).json()

    assert doubled["scope"] == "own"
    assert doubled["accepted"] == 40
    (version,) = doubled["live"]
    assert doubled["live"][version]["scope"] == "own"
    assert doubled["live"][version]["gates"]["status"] == "breached"
    assert after["metrics"] == before["metrics"]
    assert gauges_after == gauges_before
    assert own["feedback_scope"] == "own"
    assert own["own_accuracy"][0]["metrics"]["n"] == 40
    assert own["own_accuracy"][0]["gates"]["status"] == "breached"
    assert own["accuracy"][0]["metrics"] == before["metrics"]


async def test_an_end_user_of_a_trusted_delegate_key_is_not_trusted(
    gateway: httpx.AsyncClient,
) -> None:
    before, _ = await exact_baseline(gateway)

    doubled = await report(
        gateway, END_USER, await predict(gateway, END_USER, 4), lambda p: 2 * p["predicted_price"]
    )
    after, _ = await shared_figures(gateway)

    assert doubled["scope"] == "own"
    assert doubled["accepted"] == 40
    assert after["metrics"] == before["metrics"]


async def test_plausible_prices_from_the_trusted_key_move_the_shared_figures_and_the_gauge(
    gateway: httpx.AsyncClient,
) -> None:
    await exact_baseline(gateway)

    doubled = await report(
        gateway, ADMIN, await predict(gateway, ADMIN, 5), lambda p: 2 * p["predicted_price"]
    )
    after, gauges = await shared_figures(gateway)

    assert doubled["scope"] == "shared"
    assert doubled["accepted"] == 40
    assert doubled["held"] == []
    assert after["metrics"]["n"] == 80
    assert after["gates"]["status"] == "breached"
    version = after["model_version"]
    assert f'live_gate_breached{{gate="mae_max",model_version="{version}"}} 1.0' in gauges


async def test_implausible_prices_are_held_even_from_the_trusted_key_and_can_be_corrected(
    gateway: httpx.AsyncClient,
) -> None:
    before, _ = await exact_baseline(gateway)
    predictions = await predict(gateway, ADMIN, 6)

    # In range, but a tenth of the interval's low end: far outside the interval.
    held = await report(gateway, ADMIN, predictions, lambda p: p["interval"]["low"] / 10)
    after_held, _ = await shared_figures(gateway)
    corrected = await report(gateway, ADMIN, predictions, lambda p: p["predicted_price"])
    monitoring = (await gateway.get("/v1/monitoring", headers=ADMIN)).json()

    assert held["accepted"] == 0
    assert [h["key"] for h in held["held"]] == [p["prediction_id"] for p in predictions]
    assert "outside the predicted interval" in held["held"][0]["reason"]
    assert after_held["metrics"] == before["metrics"]
    assert monitoring["held_feedback"] == 40
    assert corrected["accepted"] == 40  # a held report does not block the real one
    assert corrected["duplicates"] == []
