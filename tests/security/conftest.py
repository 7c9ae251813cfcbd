"""Security fixtures: the gateway app on a real Redis (job routes live), two keys, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_settings import security_settings
from tests.support.model import ModelRegistry


@pytest.fixture
async def secured_app(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AsyncIterator[FastAPI]:
    """The gateway with its lifespan run (model loaded, Redis connected)."""
    app = create_app(security_settings(tmp_path, model_registry.tracking_uri, redis_url))
    async with lifespan(app):
        yield app


@pytest.fixture
async def http(secured_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the secured app."""
    async with asgi_client(secured_app) as asgi:
        yield asgi


@pytest.fixture
def client(jobs_gateway: GatewayProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the session's gateway process (beside the session's worker)."""
    with httpx.Client(base_url=jobs_gateway.url, timeout=60) as http:
        yield http
