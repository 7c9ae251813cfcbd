"""Five hundred progress streams at once: bounded refusals, one pub/sub connection, no traceback.

The gateway runs on a Redis database no worker reads, so its jobs stay queued and their
streams stay open until the test cancels the jobs (which every open stream must see).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import houses_csv
from tests.support.jobs import submit
from tests.support.keys import ALICE, BOB

STREAMS_DB = 7
END_USERS = 60
ATTEMPTS_PER_END_USER = 8  # 480 from alice's end users, 20 from bob: 500 streams
BOB_ATTEMPTS = 20
LIMITS = {
    "HPP_MAX_STREAMS_PER_OWNER": "4",
    "HPP_MAX_STREAMS_PER_KEY": "100",
    "HPP_MAX_STREAMS": "102",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def streams_gateway(
    batch_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway with small stream caps, alice a delegate key, on a database of its own."""
    env = batch_env.with_database(STREAMS_DB)
    redis.Redis.from_url(env.redis_url).flushdb()
    log = tmp_path_factory.mktemp("streams") / "gateway.log"
    gateway = start_gateway(
        env, log, HPP_DELEGATE_KEY_NAMES='["alice"]', HPP_LOG_LEVEL="INFO", **LIMITS
    )
    yield gateway
    stop_gateway(gateway)
    redis.Redis.from_url(env.redis_url).flushdb()


def end_user(i: int) -> dict[str, str]:
    """Headers of alice's key acting for end user ``i``."""
    return {**ALICE, "X-On-Behalf-Of": f"user-{i}"}


async def test_500_streams_are_bounded_and_the_rest_of_the_api_is_unaffected(
    streams_gateway: GatewayProcess, batch_env: BatchEnv
) -> None:
    owners = [end_user(i) for i in range(END_USERS)] + [BOB]
    with httpx.Client(base_url=streams_gateway.url, timeout=30) as http:
        jobs = [
            submit(http, houses_csv(3, seed=i), headers=h).json()["id"]
            for i, h in enumerate(owners)
        ]
    attempts = [
        (jobs[i], owners[i]) for i in range(END_USERS) for _ in range(ATTEMPTS_PER_END_USER)
    ] + [(jobs[-1], BOB)] * BOB_ATTEMPTS
    opened: list[tuple[str, int]] = []
    answered = asyncio.Event()  # set when every attempt has its status
    limits = httpx.Limits(max_connections=len(attempts) + 20, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=streams_gateway.url, timeout=120, limits=limits) as http:
        streams = [
            asyncio.create_task(_follow(http, job, headers, opened, answered, len(attempts)))
            for job, headers in attempts
        ]
        async with asyncio.timeout(120):
            await answered.wait()
        statuses = Counter(status for _, status in opened)
        admitted = Counter(owner for owner, status in opened if status == 200)
        others = await _the_rest_of_the_api(http, jobs, owners)
        pubsub_connections = _pubsub_connections(batch_env)
        for job, headers in zip(jobs, owners, strict=True):
            assert (await http.post(f"/v1/jobs/{job}/cancel", headers=headers)).status_code == 200
        outcomes = await asyncio.wait_for(asyncio.gather(*streams), timeout=120)
        again = await http.get(f"/v1/jobs/{jobs[-1]}/events", headers=BOB)

    assert statuses[200] == 102, statuses  # the process cap, reached: 104 were eligible
    assert statuses[429] + statuses[503] == len(attempts) - 102, statuses
    assert max(admitted.values()) <= 4  # per owner
    assert sum(n for owner, n in admitted.items() if owner != "bob") <= 100  # per key
    assert others == {"bob lists his jobs": 200, "an end user reads hers": 200, "healthz": 200}
    assert pubsub_connections == 1
    ended = [o for o in outcomes if o is not None]
    assert len(ended) == 102
    assert {o["status"] for o in ended} == {"cancelled"}
    assert again.status_code == 200  # every slot was given back
    log = streams_gateway.log_path.read_text()
    assert "Traceback" not in log
    assert "unhandled_error" not in log


async def _follow(
    http: httpx.AsyncClient,
    job: str,
    headers: dict[str, str],
    opened: list[tuple[str, int]],
    answered: asyncio.Event,
    expected: int,
) -> dict[str, Any] | None:
    """Open one stream; if admitted, read it to its ``end`` event and return that job."""
    async with http.stream("GET", f"/v1/jobs/{job}/events", headers=headers) as response:
        opened.append((headers.get("X-On-Behalf-Of", "bob"), response.status_code))
        if len(opened) == expected:
            answered.set()
        if response.status_code != 200:
            problem = json.loads(await response.aread())
            assert response.headers["retry-after"]
            assert problem["status"] == response.status_code
            return None
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "end":
                return json.loads(line.removeprefix("data: "))
    return None


async def _the_rest_of_the_api(
    http: httpx.AsyncClient, jobs: list[str], owners: list[dict[str, str]]
) -> dict[str, int]:
    return {
        "bob lists his jobs": (await http.get("/v1/jobs", headers=BOB)).status_code,
        "an end user reads hers": (
            await http.get(f"/v1/jobs/{jobs[0]}", headers=owners[0])
        ).status_code,
        "healthz": (await http.get("/healthz")).status_code,
    }


def _pubsub_connections(env: BatchEnv) -> int:
    """Connections to the gateway's database holding a (pattern) subscription."""
    clients = redis.Redis.from_url(env.redis_url).client_list()
    return sum(
        1
        for c in clients
        if int(c["db"]) == STREAMS_DB and (int(c["sub"]) > 0 or int(c["psub"]) > 0)
    )
