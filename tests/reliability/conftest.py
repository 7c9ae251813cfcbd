"""Fault-injection helpers: inputs with row ids, row accounting, jobs driven over HTTP.

Each module runs on its own Redis database (or its own Redis server), so its workers and
queue see nothing of the other suites. Gateways and workers are real processes
(``tests.workers.conftest.start_gateway``, the ``start_worker`` fixture).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import redis

from jobs.keys import attempts_key, done_key, job_key
from tests.fixtures.redis import BatchEnv
from tests.workers.conftest import (
    ALICE,
    LOCATIONS,
    start_gateway,
    stop_gateway,
    submit,
    wait_final,
)

ID_HEADER = "row_id,sqft,bedrooms,bathrooms,location,year_built,condition"


def numbered_houses(rows: int, *, seed: int = 0, invalid_every: int = 997) -> bytes:
    """A CSV of ``rows`` houses, each with a unique ``row_id``; some rows invalid (sqft < 0)."""
    rng = np.random.default_rng(seed)
    sqft = rng.integers(600, 3500, rows)
    if invalid_every:
        sqft[invalid_every - 1 :: invalid_every] = -5
    bedrooms = rng.integers(1, 6, rows)
    bathrooms = rng.choice(["1", "1.5", "2", "2.5"], rows)
    location = rng.choice(LOCATIONS, rows)
    year = rng.integers(1900, 2021, rows)
    lines = [ID_HEADER]
    lines.extend(
        f"r{i},{s},{b},{ba},{loc},{y},Average"
        for i, s, b, ba, loc, y in zip(
            range(rows),
            sqft.tolist(),
            bedrooms.tolist(),
            bathrooms.tolist(),
            location.tolist(),
            year.tolist(),
            strict=True,
        )
    )
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class RowAccount:
    """How a result's rows compare with its input's rows."""

    rows: int
    lost: int
    duplicated: int
    out_of_order: bool


def account_rows(data: bytes, result: bytes) -> RowAccount:
    """Count the input's row ids missing from and repeated in the result (first column)."""
    expected = [line.split(b",", 1)[0] for line in data.splitlines()[1:]]
    got = [line.split(b",", 1)[0] for line in result.splitlines()[1:]]
    counts = Counter(got)
    lost = sum(1 for row_id in expected if row_id not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return RowAccount(len(got), lost, duplicated, got != expected)


def wait_for(
    http: httpx.Client, job_id: str, predicate: Any, *, timeout: float = 300.0
) -> dict[str, Any]:
    """Poll the job until ``predicate(job)`` holds; returns that job JSON."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}", headers=ALICE).json()
        if predicate(job):
            return job
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            raise AssertionError(f"job ended before the condition held: {job}")
        time.sleep(0.02)
    raise AssertionError(f"condition not reached on job {job_id} in {timeout}s")


def run_clean(http: httpx.Client, data: bytes, *, timeout: float = 300.0) -> tuple[dict, bytes]:
    """Submit ``data``, wait for success, return the job and its result bytes."""
    response = submit(http, data)
    assert response.status_code == 202, response.text
    job = wait_final(http, response.json()["id"], timeout=timeout)
    assert job["status"] == "succeeded", job
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    assert result.status_code == 200
    return job, result.content


def queue_drained(redis_url: str) -> bool:
    """Whether the jobs queue holds no waiting and no unacknowledged message."""
    client = redis.Redis.from_url(redis_url)
    try:
        return client.llen("jobs") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def flush(redis_url: str) -> None:
    """Empty one Redis database (a module's private job space)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def broker_state(redis_url: str, job_id: str) -> dict[str, Any]:
    """What Redis holds about a job and the queue (for failure messages)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return {
            "record": {k: v for k, v in client.hgetall(job_key(job_id)).items() if k != "plan"},
            "counted": sorted(int(i) for i in client.smembers(done_key(job_id))),
            "attempts": client.hgetall(attempts_key(job_id)),
            "queued": client.llen("jobs"),
            "unacked": client.hlen("unacked"),
        }
    finally:
        client.close()


@pytest.fixture(scope="module")
def gateway(
    env: BatchEnv, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway process on the requesting module's ``env`` (its own Redis database)."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    process = start_gateway(env, folder / "gw.log")
    yield process.url
    stop_gateway(process)
