"""The job record in a real Redis: counted once, finished once, owned."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from workers.jobstore import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Admission,
    AsyncJobStore,
    JobStore,
    Quota,
    job_view,
    new_record,
)


@pytest.fixture
def store(redis_url: str) -> Iterator[JobStore]:
    jobs = JobStore(redis.Redis.from_url(redis_url, db=2, decode_responses=True), ttl_seconds=60)
    yield jobs
    jobs.close()


def _record(owner: str = "alice", **fields: str) -> dict[str, str]:
    record = new_record(
        job_id=secrets.token_urlsafe(8),
        owner=owner,
        filename="x.csv",
        input_key="k",
        input_bytes=10,
        model_version="3",
    )
    return {**record, **fields}


def _create(store: JobStore, record: dict[str, str]) -> str:
    store.client.hset(f"hpp:job:{record['id']}", mapping=record)
    return record["id"]


def test_a_chunk_is_counted_once_however_often_it_is_delivered(store: JobStore) -> None:
    job_id = _create(store, _record(status=RUNNING, chunks_total="2"))

    first = store.count_chunk(job_id, 0, rows=100, failed=3)
    again = store.count_chunk(job_id, 0, rows=100, failed=3)
    second = store.count_chunk(job_id, 1, rows=50, failed=0)

    assert (first, again, second) == (1, 1, 2)
    record = store.get(job_id)
    assert record is not None
    assert (record["rows_done"], record["rows_failed"]) == ("150", "3")


def test_counting_stops_once_the_job_is_not_running(store: JobStore) -> None:
    job_id = _create(store, _record(status=CANCELLED))

    assert store.count_chunk(job_id, 0, rows=10, failed=0) == -1


def test_a_job_finishes_exactly_once(store: JobStore) -> None:
    job_id = _create(store, _record(status=RUNNING))

    assert store.transition(job_id, SUCCEEDED, allowed=(RUNNING,), finished_at="1.0")
    assert not store.transition(job_id, FAILED, allowed=(QUEUED, RUNNING), error="late")
    record = store.get(job_id)
    assert record is not None
    assert (record["status"], record["error"]) == (SUCCEEDED, "")
    assert 0 < store.client.ttl(f"hpp:job:{job_id}") <= 60


def test_job_view_reports_progress_rate_and_eta() -> None:
    record = _record(
        status=RUNNING, rows_total="1000", rows_done="250", started_at="100.0", created_at="99.0"
    )

    view = job_view(record, now=110.0)

    assert view["progress"] == 0.25
    assert view["rows_per_second"] == 25.0
    assert view["eta_seconds"] == 30.0
    assert view["created_at"].endswith("Z")


async def test_another_owner_cannot_read_and_listing_is_newest_first(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, db=2, decode_responses=True)
    store = AsyncJobStore(client, ttl_seconds=60)
    owner = f"owner-{secrets.token_hex(4)}"
    older = _record(owner=owner, created_at="1.0")
    newer = _record(owner=owner, created_at="2.0")
    await _store(store, older)
    await _store(store, newer)

    assert await store.get(older["id"], owner="mallory") is None
    records, cursor = await store.list(owner=owner, limit=1)
    rest, end = await store.list(owner=owner, limit=1, cursor=cursor)

    assert [r["id"] for r in records + rest] == [newer["id"], older["id"]]
    assert end is None
    await store.delete(older["id"])
    assert await store.get(older["id"], owner=owner) is None
    await store.aclose()


async def test_cancel_keeps_the_record_listed_until_the_result_ttl(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, db=2, decode_responses=True)
    store = AsyncJobStore(client, ttl_seconds=60)
    owner = f"owner-{secrets.token_hex(4)}"
    job = _record(owner=owner, status=RUNNING)
    await _store(store, job)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"hpp:job:{job['id']}:events")

    assert await store.cancel(job["id"]) is True
    assert await store.cancel(job["id"]) is False  # already final

    record = await store.get(job["id"], owner=owner)
    assert record is not None
    assert record["status"] == CANCELLED
    assert float(record["finished_at"]) > 0
    assert 0 < await client.ttl(f"hpp:job:{job['id']}") <= 60
    assert await client.zscore("hpp:jobs:active", job["id"]) is None
    listed, _ = await store.list(owner=owner, limit=10)
    assert [r["id"] for r in listed] == [job["id"]]
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
        return await store.admit(owner=record["owner"], key_name=key, quota=quota, record=record)

    first, second, third = [await submit("ann") for _ in range(3)]
    assert (first.admitted, second.admitted) == (True, True)
    assert (third.admitted, third.over_key, third.active) == (False, False, 2)
    assert (await submit("bob")).admitted
    over_key = await submit("bob")
    assert (over_key.admitted, over_key.over_key, over_key.active) == (False, True, 3)

    records, _ = await store.list(owner=f"{key}/ann", limit=10)
    assert len(records) == 2  # refused jobs were never stored
    assert await store.cancel(records[0]["id"])  # a final job no longer counts
    await store.delete(records[1]["id"])  # nor does a deleted one
    check = await store.admit(owner=f"{key}/ann", key_name=key, quota=quota)
    assert (check.admitted, check.active) == (True, 0)
    assert (await submit("ann")).admitted
    await store.aclose()


async def _store(store: AsyncJobStore, record: dict[str, str]) -> None:
    unlimited = Quota(per_owner=1_000, per_key=1_000)
    admission = await store.admit(
        owner=record["owner"], key_name=record["owner"], quota=unlimited, record=record
    )
    assert admission.admitted
