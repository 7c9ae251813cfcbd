"""A worker's log lines carry the ids of the task they belong to, and no other task's.

A task binds its job and task ids to the logs while it runs; what the worker logs after
(at shutdown, the audit stream's ``audit_stream_closed``) must not carry the ids of a task
that ran before, nor must a task's lines carry an earlier task's ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
import redis

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.paths import DATA
from tests.support.worker_process import StartWorker, WorkerProcess

pytestmark = pytest.mark.slow
LOG_DB = 15


@pytest.fixture
def worker_and_jobs(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, list[str]]]:
    """A worker (audit on, as by default) that scored two jobs, then stopped."""
    state = tmp_path_factory.mktemp("log-context")
    env = batch_env.with_database(
        LOG_DB,
        blob_url=(state / "blobs").as_uri(),
        state_dir=state,
        extra={"HPP_AUDIT_ENABLED": "true"},
    )
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()
    worker = start_worker(env)
    gateway = start_gateway(env, state / "gateway.log")
    try:
        houses = pd.read_csv(DATA).head(30).to_csv(index=False).encode()
        ids = []
        with httpx.Client(base_url=gateway.url, timeout=60, headers=ALICE) as http:
            for _ in range(2):
                job = submit(http, houses).json()
                assert wait_final(http, job["id"])["status"] == "succeeded"
                ids.append(str(job["id"]))
        worker.stop()
        yield worker, ids
    finally:
        stop_gateway(gateway)
        worker.stop()
        client.flushdb()
        client.close()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_audit_stream_closes_without_the_ids_of_an_earlier_task(
    worker_and_jobs: tuple[WorkerProcess, list[str]],
) -> None:
    worker, (first, second) = worker_and_jobs
    lines = json_lines(worker.log())

    closed = [line for line in lines if line.get("event") == "audit_stream_closed"]
    assert closed, worker.log()[-3000:]
    assert all("job_id" not in line and "task_id" not in line for line in closed), closed
    # Each job's lines name their own job: the second job's never carry the first's id.
    succeeded = {line["job_id"] for line in lines if line.get("event") == "job_succeeded"}
    assert succeeded == {first, second}
