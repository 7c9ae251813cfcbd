"""A chunk that kills every worker process that reads it: retried to the cap, then the job fails.

The poison is the test-only fault-injection seam (``tests.support.fault_injection``, armed in the
worker's environment): a worker process reading a chunk that holds the marker exits on the
spot, as a crash in native parsing code would. Celery rejects the lost task back to the queue
(``task_reject_on_worker_lost``), each delivery is counted in Redis, and the delivery past
``max_chunk_attempts`` fails the job with the reason. The worker survives (its pool
replaces the dead process) and scores the next job.
"""

from __future__ import annotations

import httpx
import pytest
import redis

from jobs.keys import job_key
from tests.support.batch_env import BatchEnv
from tests.support.fault_injection import CRASH_EXIT_CODE, armed
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean, submit, wait_final
from tests.support.redis_state import broker_state, flush, queue_drained
from tests.support.worker_process import StartWorker, WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

MARKER = "POISON-7f3a"
ROWS = 30_000
CHUNK_ROWS = 10_000
ATTEMPTS = 2


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 7, the crash hook armed, the default visibility timeout (900 s)."""
    env = batch_env.with_database(
        7,
        chunk_rows=CHUNK_ROWS,
        extra={**armed(crash=MARKER), "HPP_MAX_CHUNK_ATTEMPTS": str(ATTEMPTS)},
    )
    flush(env.redis_url)
    return env


@pytest.fixture(scope="module")
def worker(env: BatchEnv, start_worker: StartWorker) -> WorkerProcess:
    """One worker (concurrency 1) with the hook armed; two attempts per chunk (default 3)."""
    return start_worker(env)


def test_poison_chunk_fails_the_job_after_the_retry_cap(
    gateway: str, env: BatchEnv, worker: WorkerProcess
) -> None:
    lines = numbered_houses(ROWS, seed=4).decode().split("\n")
    poisoned_row = 15_000  # in chunk 1
    lines[poisoned_row + 1] = lines[poisoned_row + 1].replace("Average", MARKER)
    data = "\n".join(lines).encode()

    with httpx.Client(base_url=gateway, timeout=60) as http:
        job = submit(http, data).json()
        final = wait_final(http, job["id"], timeout=240)
        state = broker_state(env.redis_url, job["id"])
        _, after = run_clean(http, numbered_houses(2_000, seed=5))

    next_rows = len(after.splitlines()) - 1
    deaths = worker.log().count(f"exited with 'exitcode {CRASH_EXIT_CODE}'")
    print(
        f"\npoison chunk: rows={ROWS:,} chunks={ROWS // CHUNK_ROWS} status={final['status']} "
        f"deliveries of chunk 1={state['attempts'].get('1')} worker process deaths seen={deaths} "
        f"error={final['error']!r} queue drained={queue_drained(env.redis_url)} "
        f"next job rows={next_rows}"
    )
    assert final["status"] == "failed"
    assert "chunk 1" in final["error"]
    assert f"failed {ATTEMPTS} times" in final["error"]
    assert "worker was lost" in final["error"]
    assert int(state["attempts"]["1"]) == ATTEMPTS + 1  # a crash per attempt, then the refusal
    assert queue_drained(env.redis_url)
    assert deaths == ATTEMPTS  # one process death per delivery, none after the cap
    assert worker.process.poll() is None  # the worker itself survived
    assert next_rows == 2_000  # and keeps scoring


def test_poisoned_job_leaves_no_parts_behind(gateway: str, env: BatchEnv) -> None:
    client = redis.Redis.from_url(env.redis_url, decode_responses=True)
    failed = [
        key.split(":")[2]
        for key in client.scan_iter(job_key("*"))
        if key.count(":") == 2 and client.hget(key, "status") == "failed"
    ]
    client.close()
    assert failed
    for job_id in failed:
        assert not (env.state_dir / "blobs" / "jobs" / job_id / "parts").exists()
