"""A job is scored by the model version pinned when it was submitted, even if champion moves."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import pandas as pd
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
from jobs.keys import input_key
from jobs.models import FINAL_STATES, JobRecord
from jobs.queue import PLAN_TASK, create_celery
from jobs.store import JobStore, new_job_id
from ml.predict import Predictor
from ml.registry import resolve_alias, set_alias
from tests.support.batch_env import BatchEnv
from tests.support.houses import houses_csv
from tests.support.jobs import stored_result
from tests.support.model import ModelRegistry
from tests.support.worker_process import StartWorker


async def _submit(env: BatchEnv, data: bytes, version: str) -> str:
    """What the gateway does: store the input, record the job with its pinned version."""
    job_id = new_job_id()
    blobs = open_blob_store(env.blob_url)
    await blobs.put_bytes(input_key(job_id), data)
    await blobs.aclose()
    store = JobStore.from_url(env.redis_url, ttl_seconds=600)
    record = JobRecord(
        id=job_id,
        owner="alice",
        filename="x.csv",
        input_key=input_key(job_id),
        input_bytes=len(data),
        model_version=version,
    )
    store.put(record)
    store.close()
    return job_id


@pytest.mark.slow
def test_job_uses_its_pinned_version_after_champion_moves(
    batch_env: BatchEnv, model_registry: ModelRegistry, start_worker: StartWorker
) -> None:
    env = batch_env.with_database(5)
    pinned = model_registry.version
    data = houses_csv(300, seed=21)
    job_id = asyncio.run(_submit(env, data, pinned))
    newer = model_registry.register_another(seed=7, promote=True)
    try:
        assert (
            resolve_alias(
                tracking_uri=model_registry.tracking_uri, name=model_registry.name, alias="champion"
            )
            == newer
        )
        settings = AppSettings(
            CoreSettings(redis_url=env.redis_url),
            GatewaySettings(),
            WorkerSettings(),
            UISettings(),
            ObservabilitySettings(),
        )
        create_celery(settings).send_task(PLAN_TASK, args=[job_id])
        worker = start_worker(env)
        store = JobStore.from_url(env.redis_url, ttl_seconds=600)
        deadline = time.monotonic() + 180
        while (record := store.get(job_id)) is None or record.status not in FINAL_STATES:
            assert time.monotonic() < deadline, f"job not final in 180 s: {record}"
            time.sleep(0.2)
        assert record.status == "succeeded"
        store.close()
        worker.stop()
    finally:
        set_alias(
            tracking_uri=model_registry.tracking_uri,
            name=model_registry.name,
            alias="champion",
            version=pinned,
        )

    result = stored_result(env.blob_url, job_id).decode()
    got = [float(r["predicted_price"]) for r in csv.DictReader(io.StringIO(result))]
    frame = pd.read_csv(io.BytesIO(data), dtype=str)
    uri = f"models:/{model_registry.name}/"
    old = Predictor.load(uri + pinned, tracking_uri=model_registry.tracking_uri)
    new = Predictor.load(uri + newer, tracking_uri=model_registry.tracking_uri)
    expected = old.predict_frame(frame)["predicted_price"].round(2).tolist()
    other = new.predict_frame(frame)["predicted_price"].round(2).tolist()
    assert got == pytest.approx(expected, abs=0.011)
    assert got != pytest.approx(other, abs=0.011)
