"""Who gets in: every route needs a valid key (health excepted), jobs are private, ids unguessable.

Routes are enumerated from the app's route table, so a route added later (feedback, drift,
v2) is covered without touching this file.
"""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app
from tests.support.asgi import lifespan
from tests.support.gateway_settings import security_settings
from tests.support.houses import HEADER
from tests.support.keys import ALICE, BOB
from tests.support.model import ModelRegistry
from tests.support.routes import OPEN_PATHS, fill, route_table

BAD_KEYS = [
    {},
    {"X-API-Key": ""},
    {"X-API-Key": "wrong-key"},
    {"X-API-Key": ALICE["X-API-Key"] + "x"},
]
CSV = f"{HEADER}\n1656,3,1.5,North Ames,1960,Average\n".encode()


async def test_every_route_refuses_a_missing_or_wrong_key(
    secured_app: FastAPI, http: httpx.AsyncClient
) -> None:
    routes = [(m, p) for m, p in route_table(secured_app) if p not in OPEN_PATHS]
    assert ("POST", "/v1/jobs") in routes
    assert ("POST", "/v1/predict") in routes
    refused = 0
    for method, path in routes:
        for headers in BAD_KEYS:
            response = await http.request(method, fill(path, "some-id"), headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            # /v2 errors are JSON with the protocol's "error" member (kserve reads only JSON).
            v2 = path.startswith("/v2")
            expected = "application/json" if v2 else "application/problem+json"
            assert response.headers["content-type"] == expected, (method, path)
            assert not v2 or response.json()["error"] == response.json()["detail"]
            refused += 1
    print(f"\n401 on {len(routes)} routes x {len(BAD_KEYS)} bad keys = {refused} requests")


async def test_open_routes_are_only_health_metrics_and_docs(
    secured_app: FastAPI, http: httpx.AsyncClient
) -> None:
    open_routes = [
        (m, p)
        for m, p in route_table(secured_app)
        if (await http.request(m, fill(p, "x"))).status_code != 401
    ]
    assert {p for _, p in open_routes} <= OPEN_PATHS


async def test_every_job_route_hides_another_keys_job(
    secured_app: FastAPI, http: httpx.AsyncClient
) -> None:
    submitted = await http.post(
        "/v1/jobs", content=CSV, headers={**ALICE, "Content-Type": "text/csv"}
    )
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    job_routes = [(m, p) for m, p in route_table(secured_app) if "{job_id}" in p]
    assert len(job_routes) >= 4
    for method, path in job_routes:
        response = await http.request(method, fill(path, job_id), headers=BOB)
        assert response.status_code == 404, (method, path, response.text)
        # exactly what a job that never existed gets: no oracle for other keys' ids
        unknown = await http.request(method, fill(path, "x" * len(job_id)), headers=BOB)
        assert response.text.replace(job_id, "x" * len(job_id)) == unknown.text
    listed = (await http.get("/v1/jobs", headers=BOB)).json()["jobs"]
    assert job_id not in [j["id"] for j in listed]
    assert (await http.get(f"/v1/jobs/{job_id}", headers=ALICE)).status_code == 200  # still there


async def test_job_ids_are_unguessable(http: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(30):
        response = await http.post(
            "/v1/jobs", content=CSV, headers={**ALICE, "Content-Type": "text/csv"}
        )
        ids.append(response.json()["id"])
        # deleted at once, so 30 submissions stay within the per-owner quota of active jobs
        assert (await http.delete(f"/v1/jobs/{ids[-1]}", headers=ALICE)).status_code == 204
    raw = [base64.urlsafe_b64decode(i + "=" * (-len(i) % 4)) for i in ids]
    assert len(set(ids)) == len(ids)
    assert all(len(r) >= 16 for r in raw)  # at least 128 random bits each
    # no shared prefix or counter: adjacent ids differ in most bytes
    same = sum(a == b for x, y in itertools.pairwise(raw) for a, b in zip(x, y, strict=False))
    assert same < len(raw) * 2
    print(f"\njob ids: {len(ids)} distinct, {len(raw[0]) * 8} bits each, e.g. {ids[0]}")


async def test_rate_limit_on_job_routes_is_per_key(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> None:
    app = create_app(
        security_settings(tmp_path, model_registry.tracking_uri, redis_url, rate_limit_per_minute=3)
    )
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            alice = [(await client.get("/v1/jobs", headers=ALICE)).status_code for _ in range(4)]
            limited = await client.get("/v1/jobs", headers=ALICE)
            bob = await client.get("/v1/jobs", headers=BOB)
    assert alice == [200, 200, 200, 429]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert bob.status_code == 200


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/predict"])
async def test_two_gigabyte_content_length_is_refused_before_the_body(
    http: httpx.AsyncClient, path: str
) -> None:
    async def no_body():  # the body never comes: the answer must not wait for it
        if False:
            yield b""

    response = await http.post(
        path,
        content=no_body(),
        headers={**ALICE, "Content-Type": "text/csv", "Content-Length": str(2 * 1024**3)},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
