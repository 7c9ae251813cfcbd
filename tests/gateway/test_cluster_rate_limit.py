"""The rate limit holds across gateway processes (one budget in Redis, leased as many tokens at a
time as a process spends in a moment), and fails open to a per-process limit while Redis is
down."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gateway.cluster_limits import ClusterLimiter
from hpp.redis_server import EmbeddedRedis, free_port
from observability.metrics import RATE_LIMIT_FALLBACK
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import HOUSE
from tests.support.keys import ALICE

PER_MINUTE = 60  # one token a second comes back


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis server of this test's own, which the test may stop."""
    server = EmbeddedRedis()
    server.start()
    yield server
    server.stop()


def gateways(env: BatchEnv, logs: Path, count: int, **extra: str) -> list[GatewayProcess]:
    return [start_gateway(env, logs / f"gateway-{i}.log", **extra) for i in range(count)]


def predict(http: httpx.Client, url: str) -> httpx.Response:
    return http.post(f"{url}/v1/predict", json=HOUSE, headers=ALICE)


@pytest.mark.slow
def test_two_gateways_sharing_a_key_get_the_configured_rate_in_total(
    batch_env: BatchEnv, own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    env = dataclasses.replace(batch_env, redis_url=own_redis.url)
    started = gateways(
        env,
        tmp_path,
        2,
        HPP_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE),
        HPP_RATE_LIMIT_LEASE_TOKENS="3",
    )
    try:
        with httpx.Client(timeout=30) as http:
            began = time.monotonic()
            answers = [predict(http, started[i % 2].url) for i in range(2 * PER_MINUTE + 20)]
            elapsed = time.monotonic() - began
    finally:
        for gateway in started:
            stop_gateway(gateway)

    ok = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(ok) + len(refused) == len(answers)
    # One budget for both: at most a minute's tokens plus what came back meanwhile (never
    # the 2 x 60 two per-process limits would allow); at least that less the tokens a
    # process may still hold leased (2 each) when the bucket runs dry.
    assert len(ok) <= PER_MINUTE + elapsed * PER_MINUTE / 60 + 1
    assert len(ok) >= PER_MINUTE - 2 * 2
    assert {a.url.port for a in ok} == {a.url.port for a in refused}  # both share the refusal
    problem = refused[-1]
    assert problem.headers["content-type"] == "application/problem+json"
    assert int(problem.headers["retry-after"]) >= 1


@pytest.mark.slow
def test_predictions_still_answer_with_redis_stopped(
    batch_env: BatchEnv, own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    env = dataclasses.replace(batch_env, redis_url=own_redis.url)
    [gateway] = gateways(env, tmp_path, 1, HPP_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE))
    try:
        with httpx.Client(timeout=30) as http:
            before = [predict(http, gateway.url).status_code for _ in range(5)]
            own_redis.stop()
            during = [predict(http, gateway.url).status_code for _ in range(PER_MINUTE + 20)]
            metrics = http.get(f"{gateway.url}/metrics").text
    finally:
        stop_gateway(gateway)
    log = gateway.log_path.read_text()

    assert before == [200] * 5
    assert during[:20] == [200] * 20  # predictions keep answering
    assert 429 in during  # still limited, per process, by the fallback
    assert log.count("rate_limit_redis_unavailable") == 1  # logged once per outage
    assert _counter(metrics, "rate_limit_fallback_total") >= 20  # counted per request


async def test_a_busy_process_asks_redis_rarely(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    limiter = ClusterLimiter(client, 600_000, lease_tokens=100)
    calls = _count_round_trips(limiter)
    bucket = f"key:test-{uuid.uuid4().hex}"

    waits = [await limiter.take(bucket) for _ in range(2_000)]
    await limiter.aclose()
    await client.aclose()

    asked = [call["args"][2] for call in calls]
    assert waits == [0.0] * 2_000
    assert max(asked) <= 100  # never more held than the most a process may
    assert asked[:4] == [1, 3, 7, 15]  # a lease at most twice as big as the last (+1)
    assert len(calls) <= 2_000 // 50 + 10  # after the ramp, each trip brings 50 or more


async def test_the_lease_follows_the_rate_the_process_spends_at(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    now = [1_000.0]
    limiter = ClusterLimiter(client, 6_000_000, clock=lambda: now[0])
    calls = _count_round_trips(limiter)
    bucket = f"key:test-{uuid.uuid4().hex}"

    for _ in range(1_000):  # 1,000 requests a second
        now[0] += 0.001
        assert await limiter.take(bucket) == 0.0
    busy = [call["args"][2] for call in calls]
    calls.clear()
    for _ in range(3):  # then a request every 10 s (the lease expires in between)
        now[0] += 10.0
        assert await limiter.take(bucket) == 0.0
    await limiter.aclose()
    await client.aclose()

    assert 95 <= busy[-1] <= 110  # about 0.1 s of 1,000 a second
    assert [call["args"][2] for call in calls][-2:] == [1, 1]  # a quiet caller: one at a time


async def test_concurrent_requests_share_round_trips_and_a_refusal(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    limiter = ClusterLimiter(client, 12, lease_tokens=4)  # a token back every 5 s
    calls = _count_round_trips(limiter)
    bucket = f"key:test-{uuid.uuid4().hex}"

    first = await asyncio.gather(*(limiter.take(bucket) for _ in range(12)))
    trips_for_the_budget = len(calls)
    refused = await asyncio.gather(*(limiter.take(bucket) for _ in range(50)))
    await limiter.aclose()
    await client.aclose()

    assert first == [0.0] * 12
    assert trips_for_the_budget <= 5  # 12 tokens: 1, 3, 4, 4 a lease, however many ask
    assert all(w > 0 for w in refused)
    assert len(calls) - trips_for_the_budget <= 1  # one refusal, remembered for the rest


async def test_leased_tokens_are_taken_from_the_shared_budget(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    limiters = [ClusterLimiter(c, PER_MINUTE, lease_tokens=4) for c in clients]
    bucket = f"key:test-{uuid.uuid4().hex}"

    began = time.monotonic()
    waits = [await limiters[i % 2].take(bucket) for i in range(3 * PER_MINUTE)]
    elapsed = time.monotonic() - began
    for limiter, client in zip(limiters, clients, strict=True):
        await limiter.aclose()
        await client.aclose()

    allowed = waits.count(0.0)
    # Never more than the budget; fewer by at most what each process may hold (4).
    assert PER_MINUTE - 2 * 4 <= allowed <= PER_MINUTE + elapsed + 1
    assert all(w > 0 for w in waits[-PER_MINUTE:])  # refused with a wait, not allowed


async def test_an_unreachable_redis_fails_open_to_the_process_limit() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.25)
    limiter = ClusterLimiter(client, 5, retry_seconds=60)
    before = RATE_LIMIT_FALLBACK._value.get()

    waits = [await limiter.take("key:anyone") for _ in range(8)]
    await client.aclose()

    assert waits[:5] == [0.0] * 5  # answered without Redis
    assert all(w > 0 for w in waits[5:])  # and still limited, here in the process
    assert RATE_LIMIT_FALLBACK._value.get() - before == 8


def _count_round_trips(limiter: ClusterLimiter) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    script = limiter._script

    async def counted(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return await script(**kwargs)

    limiter._script = counted
    return calls


def _counter(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
