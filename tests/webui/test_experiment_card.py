"""The Monitoring page's champion-vs-challenger card, over a real gateway serving both versions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pandas as pd
import pytest
import redis
from nicegui.testing.user import User

from core.settings import AppSettings, hash_api_key
from gateway.main import create_app
from hpp.redis_server import free_port
from ml.predict import Predictor
from tests.support.batch_env import BatchEnv
from tests.support.model import ModelRegistry
from tests.support.paths import DATA
from tests.support.simulated_ui import simulated_ui
from tests.support.system_settings import build_settings
from tests.support.threaded_server import ThreadedServer
from webui.components.paired_chart import paired_error_options

TRIAL_DB = 8
OPS_KEY = "ops-key-trial-0123456789"
OPS = {"X-API-Key": OPS_KEY}  # trusted: its sale prices count, and make pairs
COLUMNS = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]


@pytest.fixture(scope="module")
def trial_settings(batch_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> AppSettings:
    """A gateway of its own (own Redis database) whose ``ops`` key is trusted for feedback."""
    env = batch_env.with_database(TRIAL_DB)
    redis.Redis.from_url(env.redis_url).flushdb()
    settings = build_settings(
        tmp_path_factory.mktemp("trial"),
        tracking_uri=batch_env.tracking_uri,
        redis_url=env.redis_url,
        gateway_port=free_port(),
    )
    keys = {**settings.gateway.api_keys, "ops": hash_api_key(OPS_KEY)}
    gateway = settings.gateway.model_copy(
        update={"api_keys": keys, "feedback_key_names": ["ops"], "challenger_mode": "shadow"}
    )
    return replace(settings, gateway=gateway)


@pytest.fixture(scope="module")
def trial_gateway(
    trial_settings: AppSettings, predictor: Predictor, model_registry: ModelRegistry
) -> Iterator[ThreadedServer]:
    """The session's champion with a challenger built from the run's other candidate."""
    other = next(c for c in model_registry.result.candidates if c.name != predictor.card.model_type)
    challenger = Predictor.from_pipeline(
        other.estimator, predictor.card.model_copy(update={"version": "77"})
    )
    app = create_app(trial_settings, predictor=predictor, challenger=challenger)
    server = ThreadedServer(app, trial_settings.gateway.port).start()
    yield server
    server.stop()


@pytest.fixture
async def trial_user(
    trial_gateway: ThreadedServer, trial_settings: AppSettings
) -> AsyncIterator[User]:
    async with simulated_ui(trial_settings) as simulated:
        yield simulated


async def test_monitoring_page_compares_both_versions_on_the_same_houses(
    trial_user: User, trial_gateway: ThreadedServer
) -> None:
    data = pd.read_csv(DATA).sample(30, random_state=31)
    async with httpx.AsyncClient(base_url=trial_gateway.url, headers=OPS) as http:
        answer = await http.post(
            "/v1/predict/batch", json={"rows": data[COLUMNS].to_dict("records")}
        )
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": float(price)}
            for p, price in zip(answer.json()["predictions"], data["price"], strict=True)
        ]
        posted = (await http.post("/v1/feedback", json={"items": items})).json()
    paired_n = posted["accepted"]

    await trial_user.open("/monitoring")

    # The page loads its data after opening: allow a busy machine some seconds.
    await trial_user.should_see("vs challenger v77 on live traffic", retries=100)
    await trial_user.should_see(f"On the same {paired_n:,} houses")
    await trial_user.should_see(marker="paired-chart")
    assert paired_n >= 25  # a few implausible prices may be held


def test_paired_chart_draws_one_line_per_version() -> None:
    series = [
        {"at": 1_700_000_000 + i * 60, "n": 5, "champion_mae": 20_000.4, "challenger_mae": 18_000.6}
        for i in range(3)
    ]
    options = paired_error_options(series, champion="1", challenger="2")

    names = [s["name"] for s in options["series"]]
    assert names == ["champion v1", "challenger v2"]
    assert options["series"][0]["data"] == [20_000] * 3
    assert options["series"][1]["data"] == [18_001] * 3
    assert len(options["xAxis"]["data"]) == 3
    assert json.dumps(options)  # plain JSON for the browser
