"""API keys, open mode, admin-only reload, rate limits, CORS, security headers, docs switch."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app
from gateway.ratelimit import RateLimiter
from gateway.security import InsecureConfigError
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.keys import ADMIN, USER

PROTECTED = [
    ("POST", "/v1/predict"),
    ("POST", "/v1/predict/batch"),
    ("GET", "/v1/model"),
    ("POST", "/v1/model/reload"),
]
OPEN_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/v2/health/live",
    "/v2/health/ready",
}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-a-real-key"}, {"X-API-Key": ""}])
async def test_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, house: dict[str, Any], method: str, path: str, headers: dict
) -> None:
    response = await client.request(method, path, json=house, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "X-API-Key"
    assert "not-a-real-key" not in response.text


async def test_every_api_route_needs_a_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    operations = [
        (method.upper(), re.sub(r"{[^}]+}", "some-id", path))
        for path, item in app.openapi()["paths"].items()
        if path not in OPEN_PATHS
        for method in item
    ]
    assert set(PROTECTED) <= set(operations)
    for method, path in operations:
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"]
)
async def test_health_and_metrics_need_no_key(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200


async def test_reload_needs_an_admin_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/model/reload", headers=USER)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    response = await client.post("/v1/model/reload", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["swapped"] is False


async def test_request_log_names_the_key_never_the_key_itself(
    client: httpx.AsyncClient, house: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from core.settings import ObservabilitySettings
    from observability.logging import configure_logging

    configure_logging("gateway", ObservabilitySettings(log_format="json"))
    await client.post("/v1/predict", json=house, headers=USER)
    out = capsys.readouterr().out
    assert '"api_key_name": "client"' in out or '"api_key_name":"client"' in out
    assert USER["X-API-Key"] not in out


def test_no_keys_and_no_open_access_refuses_to_start(make_settings: SettingsFactory) -> None:
    with pytest.raises(InsecureConfigError, match="HPP_API_KEYS"):
        create_app(make_settings(api_keys={}))


def test_open_access_off_loopback_refuses_to_start(make_settings: SettingsFactory) -> None:
    with pytest.raises(InsecureConfigError, match="loopback"):
        create_app(make_settings(api_keys={}, allow_open_access=True, host="0.0.0.0"))


def test_keys_must_be_configured_as_hashes(make_settings: SettingsFactory) -> None:
    with pytest.raises(InsecureConfigError, match="sha256"):
        create_app(make_settings(api_keys={"raw": "plain-text-key"}))


async def test_open_mode_on_loopback_serves_anonymous_and_says_so(
    make_settings: SettingsFactory, house: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(api_keys={}, allow_open_access=True, host="127.0.0.1"))
    async with lifespan(app), asgi_client(app) as http:
        ok = await http.post("/v1/predict", json=house)
        wrong = await http.post("/v1/predict", json=house, headers={"X-API-Key": "nope"})
    assert ok.status_code == 200
    assert wrong.status_code == 401  # a key that is sent is still checked
    assert "OPEN_ACCESS_ENABLED" in capsys.readouterr().out


async def test_rate_limit_answers_429_with_retry_after(
    make_settings: SettingsFactory, house: dict[str, Any]
) -> None:
    app = create_app(make_settings(rate_limit_per_minute=3))
    async with lifespan(app), asgi_client(app) as http:
        codes = [(await http.post("/v1/predict", json=house, headers=USER)) for _ in range(4)]
        other_key = await http.get("/v1/model", headers=ADMIN)
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert codes[-1].headers["content-type"] == "application/problem+json"
    assert other_key.status_code == 200  # buckets are per key


def test_token_bucket_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") == 0 for _ in range(60))
    assert limiter.acquire("k") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.acquire("k") == 0
    assert limiter.acquire("other") == 0


@pytest.mark.parametrize("path", ["/healthz", "/v1/predict", "/nope"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "max-age=" in response.headers["strict-transport-security"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_docs_get_a_csp_that_allows_their_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    csp = response.headers["content-security-policy"]
    assert response.status_code == 200
    assert "https://cdn.jsdelivr.net" in csp
    assert "frame-ancestors 'none'" in csp
    assert "cdn.jsdelivr.net" in response.text


async def test_docs_can_be_switched_off(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(docs_enabled=False))
    async with lifespan(app), asgi_client(app) as http:
        statuses = [(await http.get(p)).status_code for p in ("/docs", "/redoc", "/openapi.json")]
    assert statuses == [404, 404, 404]


async def test_cors_allows_only_configured_origins(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(cors_origins=["https://ui.example.com"]))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key",
    }
    async with lifespan(app), asgi_client(app) as http:
        good = await http.options(
            "/v1/predict", headers={"Origin": "https://ui.example.com", **preflight}
        )
        bad = await http.options(
            "/v1/predict", headers={"Origin": "https://evil.example", **preflight}
        )
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == "https://ui.example.com"
    assert "access-control-allow-origin" not in bad.headers


@pytest.mark.parametrize("path", ["/v1/jobs/", "/v1/model/", "/healthz/"])
async def test_a_trailing_slash_is_404_not_a_redirect_to_the_host_header(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={**USER, "Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
