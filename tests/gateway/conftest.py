"""Gateway fixtures: settings around the session's registered model, the app with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.settings import AppSettings
from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.gateway_settings import SettingsFactory, build_settings
from tests.support.houses import HOUSE
from tests.support.model import ModelRegistry
from tests.support.worker_process import WorkerProcess


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
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process."""
    async with asgi_client(app) as http:
        yield http


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
