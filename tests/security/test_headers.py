"""Security headers on every response (every route, every error path); CORS refuses strangers."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from gateway.main import create_app
from tests.support.asgi import lifespan
from tests.support.gateway_settings import security_settings
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry
from tests.support.routes import fill, route_table

REQUIRED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


async def test_every_route_and_error_carries_the_security_headers(
    secured_app: FastAPI, http: httpx.AsyncClient
) -> None:
    requests = [
        (m, fill(p, "some-id"), h) for m, p in route_table(secured_app) for h in ({}, ALICE)
    ]
    requests += [
        ("GET", "/no-such-route", {}),  # 404
        ("PUT", "/v1/predict", ALICE),  # 405
        ("POST", "/v1/predict", {**ALICE, "Content-Type": "text/plain"}),  # 415
        ("POST", "/v1/predict", {**ALICE, "Content-Length": str(2 * 1024**3)}),  # 413
    ]
    seen: set[int] = set()
    for method, path, headers in requests:
        response = await http.request(method, path, headers=headers)
        seen.add(response.status_code)
        for name, value in REQUIRED.items():
            assert response.headers.get(name) == value, (method, path, response.status_code, name)
        assert "max-age=" in response.headers["strict-transport-security"]
        assert response.headers["content-security-policy"]
        assert "server" not in response.headers
    print(f"\nsecurity headers on {len(requests)} responses, statuses {sorted(seen)}")
    assert {200, 401, 404, 405, 413, 415} <= seen


async def test_cors_refuses_an_unknown_origin_on_real_requests(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> None:
    settings = security_settings(
        tmp_path, model_registry.tracking_uri, redis_url, cors_origins=["https://ui.example"]
    )
    app = create_app(settings)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            evil = await client.get("/v1/jobs", headers={**ALICE, "Origin": "https://evil.example"})
            good = await client.get("/v1/jobs", headers={**ALICE, "Origin": "https://ui.example"})
            preflight = await client.options(
                "/v1/jobs",
                headers={
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": "DELETE",
                    "Access-Control-Request-Headers": "x-api-key",
                },
            )
    assert "access-control-allow-origin" not in evil.headers
    assert good.headers["access-control-allow-origin"] == "https://ui.example"
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
