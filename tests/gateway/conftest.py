"""Gateway fixtures: settings around the session's registered model, the app with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

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
from tests.fixtures.model import ModelRegistry
from tests.fixtures.redis import BatchEnv, WorkerProcess
from tests.workers.conftest import GatewayProcess, start_gateway, stop_gateway

USER_KEY = "user-key-0123456789"
ADMIN_KEY = "admin-key-9876543210"
USER = {"X-API-Key": USER_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}

HOUSE: dict[str, Any] = {
    "sqft": 1656,
    "bedrooms": 3,
    "bathrooms": 1.5,
    "location": "North Ames",
    "year_built": 1960,
    "condition": "Average",
}

SettingsFactory = Callable[..., AppSettings]


def build_settings(
    state_dir: Path, *, tracking_uri: str, name: str = "house-price", **gateway: Any
) -> AppSettings:
    """Settings for a test gateway: two keys (one admin), the given registry, no Redis."""
    options: dict[str, Any] = {
        "api_keys": {"client": hash_api_key(USER_KEY), "ops": hash_api_key(ADMIN_KEY)},
        "admin_key_names": ["ops"],
        "model_poll_seconds": 0,
        **gateway,
    }
    return AppSettings(
        core=CoreSettings(
            state_dir=state_dir, mlflow_tracking_uri=tracking_uri, registered_model=name
        ),
        gateway=GatewaySettings(**options),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(log_format="json", log_level="WARNING"),
    )


@pytest.fixture
def make_settings(tmp_path: Path, model_registry: ModelRegistry) -> SettingsFactory:
    """Build settings pointing at the session's model registry, overriding gateway fields."""

    def make(**gateway: Any) -> AppSettings:
        return build_settings(
            tmp_path, tracking_uri=model_registry.tracking_uri, name=model_registry.name, **gateway
        )

    return make


@pytest.fixture
async def app(make_settings: SettingsFactory) -> AsyncIterator[FastAPI]:
    """The gateway, started through its lifespan (champion loaded from the registry)."""
    application = create_app(make_settings())
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process."""
    async with asgi_client(app) as http:
        yield http


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client bound to an ASGI app (server errors come back as 500 responses)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def house() -> dict[str, Any]:
    """A valid request body using a location and condition the model was trained on."""
    return dict(HOUSE)


@pytest.fixture(scope="session")
def gateway_process(
    batch_env: BatchEnv, celery_worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway process with a real worker behind it; alice's key is a delegate, bob's not."""
    log = tmp_path_factory.mktemp("gateway-process") / "gateway.log"
    gateway = start_gateway(
        batch_env, log, HPP_DELEGATE_KEY_NAMES='["alice"]', HPP_LOG_LEVEL="INFO"
    )
    yield gateway
    stop_gateway(gateway)


@pytest.fixture
def jobs_client(gateway_process: GatewayProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway process."""
    with httpx.Client(base_url=gateway_process.url, timeout=60) as http:
        yield http
