"""A chunk that keeps failing is retried a capped number of times, then the job fails with why."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.blobs import open_blob_store
from jobs.keys import attempts_key, input_key
from jobs.models import FINAL_STATES, JobRecord
from jobs.queue import PLAN_TASK, create_celery
from jobs.store import JobStore, new_job_id
from tests.support.batch_env import BatchEnv
from tests.support.houses import houses_csv
from tests.support.worker_process import WorkerProcess


async def _store_input(env: BatchEnv, job_id: str, data: bytes) -> None:
    blobs = open_blob_store(env.blob_url)
    await blobs.put_bytes(input_key(job_id), data)
    await blobs.aclose()


@pytest.mark.slow
def test_job_fails_with_the_reason_after_the_attempt_cap(
    batch_env: BatchEnv, celery_worker: WorkerProcess
) -> None:
    job_id = new_job_id()
    data = houses_csv(10)
    asyncio.run(_store_input(batch_env, job_id, data))
    store = JobStore.from_url(batch_env.redis_url, ttl_seconds=600)
    record = JobRecord(
        id=job_id,
        owner="alice",
        filename="x.csv",
        input_key=input_key(job_id),
        input_bytes=len(data),
        model_version="9999",  # no such model version: every try fails
    )
    store.put(record)
    settings = AppSettings(
        CoreSettings(redis_url=batch_env.redis_url),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )
    create_celery(settings).send_task(PLAN_TASK, args=[job_id])

    deadline = time.monotonic() + 120
    while _status(store, job_id) not in FINAL_STATES:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    final = store.get(job_id)
    attempts = store.client.hget(attempts_key(job_id), "0")
    store.close()

    assert final is not None
    assert final.status == "failed"
    assert final.error.startswith(f"chunk 0 failed {WorkerSettings().max_chunk_attempts} times")
    assert int(attempts) == WorkerSettings().max_chunk_attempts


def _status(store: JobStore, job_id: str) -> str | None:
    record = store.get(job_id)
    return record.status if record else None
