"""A message the broker lost: the job still finishes, scored once, through the watchdog.

A worker SIGKILLed between taking a message (``BRPOP``) and recording it as taken
(kombu's ``unacked`` hash) takes the message with it. Here the loss is made on purpose:
the job's plan message is taken off the queue before any worker runs. A real worker then
starts, and its watchdog finds the job stalled with nothing on its way, sends the step
again, and the job succeeds.
"""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from jobs.queue import QUEUE
from tests.support.batch_env import BatchEnv
from tests.support.houses import numbered_houses
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.redis_state import flush
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.reliability]

ROWS = 5_000


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 10, 1,000-row chunks, a watchdog looking every second."""
    env = batch_env.with_database(10, watchdog_seconds=1.0)
    flush(env.redis_url)
    return env


def test_a_lost_plan_message_is_sent_again_and_the_job_succeeds(
    gateway: str, env: BatchEnv, start_worker: StartWorker
) -> None:
    data = numbered_houses(ROWS, seed=5)
    client = redis.Redis.from_url(env.redis_url)
    with httpx.Client(base_url=gateway, timeout=60) as http:
        job = submit(http, data).json()
        assert client.llen(QUEUE) == 1  # the plan message, waiting for a worker
        client.delete(QUEUE)  # ... and now lost
        worker = start_worker(env)
        final = wait_final(http, job["id"], timeout=120)
        result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
    client.close()
    assert final["status"] == "succeeded", final
    assert final["rows_done"] == ROWS
    account = account_rows(data, result)
    assert (account.lost, account.duplicated, account.out_of_order) == (0, 0, False)
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    resent = [(e["job_id"], e["step"]) for e in lines if e["event"] == "job_step_resent"]
    assert resent == [(job["id"], "plan")]
    worker.stop()
