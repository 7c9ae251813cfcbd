"""The notices a final state owes, in a real Redis: written with the status or not at all."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from jobs import keys
from jobs.async_store import AsyncJobStore
from jobs.models import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobRecord
from jobs.outbox import NoticeOutbox, NoticePolicy
from jobs.store import JobStore

DB = 3
HOOK = "https://hooks.example.com/done"
GRACE = 30.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, db=DB, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def _store(client: redis.Redis, *, sns: bool = False) -> JobStore:
    return JobStore(client, ttl_seconds=60, notices=NoticePolicy(grace_seconds=GRACE, sns=sns))


def _running(store: JobStore, *, webhook_url: str | None = HOOK) -> str:
    record = JobRecord(
        id=secrets.token_urlsafe(8),
        owner="alice",
        status=RUNNING,
        created_at=1.0,
        rows_total=10,
        rows_done=10,
        rows_failed=1,
        model_version="3",
        webhook_url=webhook_url,
        plan='{"chunks": []}',
    )
    store.put(record)
    return record.id


def test_a_final_state_owes_its_webhook_and_sns_notices_in_the_same_step(
    client: redis.Redis,
) -> None:
    store = _store(client, sns=True)
    job_id = _running(store)
    before = time.time()

    assert store.succeed(job_id, rows_total=10)

    owed = NoticeOutbox(client).owed()
    assert set(owed) == {keys.owed_notice("webhook", job_id), keys.owed_notice("sns", job_id)}
    assert all(before + GRACE <= due <= time.time() + GRACE for due in owed.values())
    due = {
        owed.channel: owed for owed in NoticeOutbox(client).due(now=time.time() + GRACE, limit=9)
    }
    webhook = due["webhook"]
    assert webhook.job_id == job_id
    assert due["sns"].record == webhook.record
    # The job as it turned final is kept with it (the plan, not needed, is not).
    kept = webhook.record
    assert kept is not None
    assert (kept.status, kept.rows_done, kept.rows_failed, kept.webhook_url) == (
        SUCCEEDED,
        10,
        1,
        HOOK,
    )
    assert kept.finished_at is not None
    assert kept.plan is None


def test_a_final_state_with_no_webhook_and_no_topic_owes_nothing(client: redis.Redis) -> None:
    store = _store(client, sns=False)
    job_id = _running(store, webhook_url=None)

    assert store.fail(job_id, "broken")

    record = store.get(job_id)
    assert record is not None
    assert record.status == FAILED
    assert NoticeOutbox(client).owed() == {}
    assert client.hlen(keys.NOTICES_EVENTS_KEY) == 0


def test_with_a_topic_every_final_state_owes_an_sns_notice(client: redis.Redis) -> None:
    store = _store(client, sns=True)
    job_id = _running(store, webhook_url=None)

    assert store.fail(job_id, "broken")

    assert list(NoticeOutbox(client).owed()) == [keys.owed_notice("sns", job_id)]


def test_a_transition_that_does_not_happen_owes_nothing(client: redis.Redis) -> None:
    store = _store(client)
    job_id = _running(store)
    assert store.succeed(job_id, rows_total=10)
    NoticeOutbox(client).settle("webhook", job_id)

    assert not store.fail(job_id, "too late")  # already final: no second notice
    assert not store.succeed("no-such-job", rows_total=1)

    assert NoticeOutbox(client).owed() == {}


def test_when_the_outbox_cannot_be_written_the_status_does_not_change_either(
    client: redis.Redis,
) -> None:
    store = _store(client)
    job_id = _running(store)
    client.set(keys.NOTICES_OWED_KEY, "not a sorted set")  # every ZADD to it fails

    with pytest.raises(redis.ResponseError):
        store.succeed(job_id, rows_total=10)

    record = store.get(job_id)
    assert record is not None
    assert (record.status, record.finished_at) == (RUNNING, None)
    assert client.hlen(keys.NOTICES_EVENTS_KEY) == 0


def test_a_settled_notice_is_gone_and_cannot_be_postponed_back(client: redis.Redis) -> None:
    store = _store(client)
    job_id = _running(store)
    store.succeed(job_id, rows_total=10)
    outbox = NoticeOutbox(client)
    member = keys.owed_notice("webhook", job_id)

    assert outbox.due(now=time.time(), limit=10) == []  # not before its grace period
    assert outbox.postpone(member, until=123.0)
    assert outbox.owed() == {member: 123.0}
    outbox.settle("webhook", job_id)

    assert not outbox.postpone(member, until=456.0)
    assert outbox.owed() == {}
    assert client.hlen(keys.NOTICES_EVENTS_KEY) == 0


async def test_a_cancel_owes_its_notice_in_the_same_step(
    client: redis.Redis, redis_url: str
) -> None:
    job_id = _running(_store(client))
    aclient = aioredis.Redis.from_url(redis_url, db=DB, decode_responses=True)
    store = AsyncJobStore(aclient, ttl_seconds=60, notices=NoticePolicy(grace_seconds=GRACE))
    try:
        assert await store.cancel(job_id)
        assert not await store.cancel(job_id)
    finally:
        await aclient.aclose()

    [owed] = NoticeOutbox(client).due(now=time.time() + GRACE, limit=10)
    assert owed.member == keys.owed_notice("webhook", job_id)
    assert owed.record is not None
    assert owed.record.status == CANCELLED
