"""Liveness, readiness (model and broker reported apart) and the metrics endpoint."""

from __future__ import annotations

import socket

import httpx

from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.model import ModelRegistry


async def test_healthz_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_model_and_unconfigured_broker(
    client: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    body = (await client.get("/readyz")).json()
    assert body["ready"] is True
    assert body["model"]["status"] == "ready"
    assert body["model"]["version"] == model_registry.version
    assert body["broker"] == {"status": "unconfigured", "latency_ms": None, "error": None}


async def test_readyz_pings_a_live_broker(make_settings: SettingsFactory, redis_url: str) -> None:
    settings = make_settings()
    settings.core.redis_url = redis_url
    app = create_app(settings)
    async with lifespan(app), asgi_client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["broker"]["status"] == "ok"
    assert response.json()["broker"]["latency_ms"] >= 0


async def test_readyz_stays_ready_when_broker_is_down(make_settings: SettingsFactory) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = make_settings()
    settings.core.redis_url = f"redis://127.0.0.1:{dead_port}/0"
    app = create_app(settings)
    async with lifespan(app), asgi_client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["model"]["status"] == "ready"
    assert response.json()["broker"]["status"] == "unreachable"
    assert response.json()["broker"]["error"]


async def test_metrics_is_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE http_requests_total counter" in response.text
