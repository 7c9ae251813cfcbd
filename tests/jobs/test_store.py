"""The job record in a real Redis: counted once, finished once, owned (sync and async)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from jobs import keys
from jobs.async_store import Admission, AsyncJobStore, Quota
from jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from jobs.store import JobStore


@pytest.fixture
def store(redis_url: str) -> Iterator[JobStore]:
    jobs = JobStore(redis.Redis.from_url(redis_url, db=2, decode_responses=True), ttl_seconds=60)
    yield jobs
    jobs.close()


def _record(owner: str = "alice", **fields: object) -> JobRecord:
    values: dict[str, object] = {
        "id": secrets.token_urlsafe(8),
        "owner": owner,
        "filename": "x.csv",
        "created_at": 1.0,
        "input_key": "k",
        "input_bytes": 10,
        "model_version": "3",
    }
    return JobRecord.model_validate({**values, **fields})


def _create(store: JobStore, record: JobRecord) -> str:
    store.put(record)
    return record.id


def test_a_chunk_is_counted_once_however_often_it_is_delivered(store: JobStore) -> None:
    job_id = _create(store, _record(status=RUNNING, chunks_total=2))

    first = store.count_chunk(job_id, 0, rows=100, failed=3)
    again = store.count_chunk(job_id, 0, rows=100, failed=3)
    second = store.count_chunk(job_id, 1, rows=50, failed=0)

    assert (first, again, second) == (1, 1, 2)
    record = store.get(job_id)
    assert record is not None
    assert (record.rows_done, record.rows_failed) == (150, 3)


def test_counting_stops_once_the_job_is_not_running(store: JobStore) -> None:
    job_id = _create(store, _record(status=CANCELLED))

    assert store.count_chunk(job_id, 0, rows=10, failed=0) == -1


def test_a_job_finishes_exactly_once(store: JobStore) -> None:
    job_id = _create(store, _record(status=RUNNING))

    assert store.succeed(job_id, rows_total=7)
    assert not store.fail(job_id, "late")
    assert not store.transition(job_id, FAILED, allowed=(QUEUED, RUNNING), error="late")
    record = store.get(job_id)
    assert record is not None
    assert (record.status, record.error, record.rows_total) == (SUCCEEDED, "", 7)
    assert record.finished_at is not None
    assert 0 < store.client.ttl(keys.job_key(job_id)) <= 60


def test_a_plan_and_a_drift_report_are_kept_typed(store: JobStore) -> None:
    job_id = _create(store, _record())

    assert store.start(job_id)
    assert store.save_plan(
        job_id,
        plan_blob="jobs/x/plan.json",
        columns=["sqft", "note"],
        feature_positions={"sqft": 0},
        rows_total=5,
        chunks_total=1,
    )
    assert store.save_drift(job_id, {"max_psi": 0.1, "features": {}})
    record = store.get(job_id)

    assert record is not None
    assert (record.status, record.columns, record.feature_positions) == (
        RUNNING,
        ["sqft", "note"],
        {"sqft": 0},
    )
    assert (record.rows_total, record.chunks_total, record.plan_blob) == (5, 1, "jobs/x/plan.json")
    assert record.plan is None
    assert record.drift == {"max_psi": 0.1, "features": {}}
    assert record.started_at is not None


def test_a_deleted_job_is_not_made_again_by_a_late_update(store: JobStore) -> None:
    job_id = _create(store, _record())
    store.client.delete(keys.job_key(job_id))

    assert not store.save_drift(job_id, {"max_psi": 0.0})
    assert store.get(job_id) is None


async def test_another_owner_cannot_read_and_listing_is_newest_first(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, db=2, decode_responses=True)
    store = AsyncJobStore(client, ttl_seconds=60)
    owner = f"owner-{secrets.token_hex(4)}"
    older = _record(owner=owner, created_at=1.0)
    newer = _record(owner=owner, created_at=2.0)
    await _store(store, older)
    await _store(store, newer)

    assert await store.get(older.id, owner="mallory") is None
    records, cursor = await store.list(owner=owner, limit=1)
    rest, end = await store.list(owner=owner, limit=1, cursor=cursor)

    assert [r.id for r in records + rest] == [newer.id, older.id]
    assert end is None
    await store.delete(older.id)
    assert await store.get(older.id, owner=owner) is None
    await store.aclose()


async def test_cancel_keeps_the_record_listed_until_the_result_ttl(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, db=2, decode_responses=True)
    store = AsyncJobStore(client, ttl_seconds=60)
    owner = f"owner-{secrets.token_hex(4)}"
    job = _record(owner=owner, status=RUNNING)
    await _store(store, job)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.events_channel(job.id))

    assert await store.cancel(job.id) is True
    assert await store.cancel(job.id) is False  # already final

    record = await store.get(job.id, owner=owner)
    assert record is not None
    assert record.status == CANCELLED
    assert (record.finished_at or 0) > 0
    assert 0 < await client.ttl(keys.job_key(job.id)) <= 60
    assert await client.zscore(keys.ACTIVE_JOBS_KEY, job.id) is None
    listed, _ = await store.list(owner=owner, limit=10)
    assert [r.id for r in listed] == [job.id]
    messages = [await pubsub.get_message(timeout=1) for _ in range(3)]  # skips the subscribe
    assert CANCELLED in [m["data"] for m in messages if m]
    await pubsub.aclose()
    await store.aclose()


async def test_admission_counts_only_queued_and_running_jobs_per_owner_and_per_key(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url, db=2, decode_responses=True)
    store = AsyncJobStore(client, ttl_seconds=60)
    key = f"webui-{secrets.token_hex(4)}"
    quota = Quota(per_owner=2, per_key=3)

    async def submit(user: str) -> Admission:
        record = _record(owner=f"{key}/{user}")
        return await store.admit(owner=record.owner, key_name=key, quota=quota, record=record)

    first, second, third = [await submit("ann") for _ in range(3)]
    assert (first.admitted, second.admitted) == (True, True)
    assert (third.admitted, third.over_key, third.active) == (False, False, 2)
    assert (await submit("bob")).admitted
    over_key = await submit("bob")
    assert (over_key.admitted, over_key.over_key, over_key.active) == (False, True, 3)

    records, _ = await store.list(owner=f"{key}/ann", limit=10)
    assert len(records) == 2  # refused jobs were never stored
    assert await store.cancel(records[0].id)  # a final job no longer counts
    await store.delete(records[1].id)  # nor does a deleted one
    check = await store.admit(owner=f"{key}/ann", key_name=key, quota=quota)
    assert (check.admitted, check.active) == (True, 0)
    assert (await submit("ann")).admitted
    await store.aclose()


async def _store(store: AsyncJobStore, record: JobRecord) -> None:
    unlimited = Quota(per_owner=1_000, per_key=1_000)
    admission = await store.admit(
        owner=record.owner, key_name=record.owner, quota=unlimited, record=record
    )
    assert admission.admitted
