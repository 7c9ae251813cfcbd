"""When Redis is down, job submission answers 503 problem details; predictions keep working."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
    hash_api_key,
)
from gateway.main import create_app
from hpp.redis_server import EmbeddedRedis
from ml.contract import EXAMPLE_HOUSE
from tests.support.asgi import lifespan
from tests.support.houses import HEADER
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry

HOUSE = dict(EXAMPLE_HOUSE)


@pytest.fixture
async def stopped_redis_client(
    tmp_path, model_registry: ModelRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose Redis was up at start and then stopped."""
    server = EmbeddedRedis()
    server.start()
    settings = AppSettings(
        core=CoreSettings(
            state_dir=tmp_path,
            redis_url=server.url,
            blob_url=(tmp_path / "blobs").as_uri(),
            mlflow_tracking_uri=model_registry.tracking_uri,
        ),
        gateway=GatewaySettings(
            api_keys={"alice": hash_api_key(ALICE["X-API-Key"])}, model_poll_seconds=0
        ),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(log_level="ERROR"),
    )
    app = create_app(settings)
    try:
        async with lifespan(app):
            server.stop()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http
    finally:
        server.stop()


async def test_submit_answers_503_when_redis_is_down(
    stopped_redis_client: httpx.AsyncClient,
) -> None:
    response = await stopped_redis_client.post(
        "/v1/jobs", content=f"{HEADER}\n".encode(), headers={**ALICE, "Content-Type": "text/csv"}
    )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "Redis" in response.json()["detail"]


async def test_job_status_answers_503_when_redis_is_down(
    stopped_redis_client: httpx.AsyncClient,
) -> None:
    response = await stopped_redis_client.get("/v1/jobs/anything", headers=ALICE)

    assert response.status_code == 503


async def test_predict_keeps_working_when_redis_is_down(
    stopped_redis_client: httpx.AsyncClient,
) -> None:
    response = await stopped_redis_client.post("/v1/predict", json=HOUSE, headers=ALICE)

    assert response.status_code == 200
    assert response.json()["predicted_price"] > 0
