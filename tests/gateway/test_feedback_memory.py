"""Feedback on a large job keeps the gateway's memory flat (issue 17: it read whole results).

A real gateway process and a real worker score a 300,000-row job whose result is about
85 MB; then rounds of four parallel feedback requests, each naming 1,000 rows spread over
the whole job, run against it. The gateway's peak resident memory over those rounds
(``VmHWM``, reset just before them) must stay under a quarter of the result's size: the
old code held the whole result, twice, per request.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.memory import peak_since_reset, reset_peak
from tests.support.private_database import worker_on_database
from tests.support.worker_process import StartWorker

pytestmark = pytest.mark.slow
MEMORY_DB = 14
ROWS = 300_000
PER_REQUEST = 1_000
PARALLEL = 4
ROUNDS = 3


@pytest.fixture(scope="module")
def large_job_gateway(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway and a worker (50,000-row chunks) on a Redis database of their own."""
    with worker_on_database(batch_env, start_worker, MEMORY_DB, chunk_rows=50_000) as env:
        gateway = start_gateway(env, tmp_path_factory.mktemp("feedback-memory") / "gateway.log")
        yield gateway
        stop_gateway(gateway)


def large_csv() -> bytes:
    """300,000 houses, each with a 200-character note the result carries along."""
    note = "n" * 200
    lines = houses_csv(ROWS, seed=17).decode().splitlines()
    lines = [lines[0] + ",note"] + [f"{line},{note}" for line in lines[1:]]
    return ("\n".join(lines) + "\n").encode()


def feedback(url: str, job_id: str, seed: int) -> dict:
    rows = random.Random(seed).sample(range(1, ROWS + 1), PER_REQUEST)
    items = [{"job_id": job_id, "row": r, "actual_price": 180_000.0} for r in rows]
    with httpx.Client(base_url=url, timeout=120) as http:
        answer = http.post("/v1/feedback", json={"items": items}, headers=ALICE)
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


def test_parallel_feedback_on_a_large_job_keeps_gateway_memory_flat(
    large_job_gateway: GatewayProcess,
) -> None:
    url, pid = large_job_gateway.url, large_job_gateway.process.pid
    with httpx.Client(base_url=url, timeout=120) as http:
        job = submit(http, large_csv()).json()
        final = wait_final(http, job["id"], timeout=600)
        assert final["status"] == "succeeded", final
        with http.stream("GET", f"/v1/jobs/{job['id']}/result", headers=ALICE) as result:
            result_bytes = int(result.headers["content-length"])
    feedback(url, job["id"], seed=0)  # warm up: first-use imports and allocations
    baseline = reset_peak(pid)

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(
            pool.map(lambda s: feedback(url, job["id"], s), range(1, 1 + PARALLEL * ROUNDS))
        )
    peak = peak_since_reset(pid)

    growth = peak - baseline
    print(
        f"result {result_bytes / 1e6:.1f} MB; gateway RSS {baseline / 2**20:.0f} MB, "
        f"peak over {len(answers)} feedback requests {peak / 2**20:.0f} MB "
        f"(+{growth / 1e6:.1f} MB)"
    )
    assert result_bytes > 80_000_000
    assert all(not a["unknown"] for a in answers)  # every named row was found
    assert sum(a["accepted"] + len(a["duplicates"]) for a in answers) == PER_REQUEST * len(answers)
    assert growth < result_bytes / 4
