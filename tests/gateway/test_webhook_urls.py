"""A job's webhook URL is checked when the job is created: a 422 problem for any URL a notice
may not go to, with the gateway's default settings (no test permission)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.settings import AppSettings
from gateway.main import create_app
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import security_settings
from tests.support.houses import houses_csv
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry

# Listed on purpose: the address rules must refuse them even though the list names them.
LISTED = ["localhost", "127.0.0.1", "10.1.2.3", "169.254.169.254", "hooks.example.com"]
PUBLIC = "93.184.215.14"  # a listed public address, accepted


def with_hosts(settings: AppSettings, hosts: list[str]) -> AppSettings:
    core = settings.core.model_copy(update={"webhook_allowed_hosts": hosts})
    return dataclasses.replace(settings, core=core)


@pytest.fixture
async def http(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = with_hosts(
        security_settings(tmp_path, model_registry.tracking_uri, redis_url), [*LISTED, PUBLIC]
    )
    assert settings.core.unsafe_webhooks_to_loopback_for_tests is False  # the default
    app = create_app(settings)
    async with lifespan(app), asgi_client(app) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://localhost/hook", "loopback"),
        ("https://127.0.0.1:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://intranet.example.org/hook", "not one this service may notify"),
        ("http://hooks.example.com/hook", "https"),
        ("ftp://hooks.example.com/hook", "https"),
        ("https://hooks.example.com.attacker.net/hook", "not one this service may notify"),
    ],
)
async def test_a_webhook_url_a_notice_may_not_reach_is_refused_at_creation(
    http: httpx.AsyncClient, url: str, says: str
) -> None:
    as_query = await http.post(
        "/v1/jobs",
        params={"webhook_url": url},
        content=houses_csv(3),
        headers={**ALICE, "Content-Type": "text/csv"},
    )
    as_form = await http.post(
        "/v1/jobs",
        files={"file": ("h.csv", houses_csv(3), "text/csv")},
        data={"webhook_url": url},
        headers=ALICE,
    )
    listed = await http.get("/v1/jobs", headers=ALICE)

    for refused in (as_query, as_form):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert says in problem["detail"]
        assert problem["errors"][0]["field"] == "webhook_url"
    assert listed.json()["jobs"] == []  # nothing was created


async def test_an_allowed_https_webhook_is_kept_with_the_job(http: httpx.AsyncClient) -> None:
    # A listed literal public address passes every check without a DNS lookup.
    url = "https://93.184.215.14/hooks/job-done?token=abc"
    created = await http.post(
        "/v1/jobs",
        files={"file": ("h.csv", houses_csv(3), "text/csv")},
        data={"webhook_url": url},
        headers=ALICE,
    )
    assert created.status_code == 202, created.text
    job = created.json()
    shown = (await http.get(f"/v1/jobs/{job['id']}", headers=ALICE)).json()
    await http.delete(f"/v1/jobs/{job['id']}", headers=ALICE)

    assert job["webhook_url"] == url
    assert shown["webhook_url"] == url
