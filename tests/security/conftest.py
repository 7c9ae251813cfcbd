"""Security fixtures: the gateway app on a real Redis (job routes live), two keys, its routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.routing import Route

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
from tests.workers.conftest import ALICE, BOB, client, jobs_gateway  # noqa: F401 - fixtures

# Routes that answer without a key, by design: liveness, readiness (also the Open Inference
# Protocol's, which probes call without a key), metrics, API docs.
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/v2/health/live",
        "/v2/health/ready",
    }
)
SECURITY_DB = 10
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def security_settings(
    tmp_path: Path, tracking_uri: str, redis_url: str, **gateway: Any
) -> AppSettings:
    """Gateway settings with keys for alice and bob and the job routes on a private database."""
    url = urlparse(redis_url)._replace(path=f"/{SECURITY_DB}").geturl()
    return AppSettings(
        core=CoreSettings(
            state_dir=tmp_path,
            redis_url=url,
            blob_url=(tmp_path / "blobs").as_uri(),
            mlflow_tracking_uri=tracking_uri,
        ),
        gateway=GatewaySettings(
            api_keys={
                "alice": hash_api_key(ALICE["X-API-Key"]),
                "bob": hash_api_key(BOB["X-API-Key"]),
            },
            model_poll_seconds=0,
            **gateway,
        ),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(log_format="json", log_level="WARNING"),
    )


@pytest.fixture
async def secured_app(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AsyncIterator[FastAPI]:
    """The gateway with its lifespan run (model loaded, Redis connected)."""
    app = create_app(security_settings(tmp_path, model_registry.tracking_uri, redis_url))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def http(secured_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the secured app."""
    transport = httpx.ASGITransport(app=secured_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as asgi:
        yield asgi


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves: its OpenAPI operations and plain routes."""
    pairs = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }
    pairs |= {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method in HTTP_METHODS
    }
    return sorted(pairs)


def fill(path: str, value: str) -> str:
    """The path with every ``{parameter}`` replaced by ``value``."""
    return re.sub(r"{[^}]+}", value, path)
