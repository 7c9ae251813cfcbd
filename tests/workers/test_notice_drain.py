"""The notifier's drain against a real Redis and real kombu messages (no notifier consumes
them here): an owed notice with no task on its way is queued again, once; one whose task
waits in the queue or was taken is left to it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from celery import Celery
from kombu import Queue

from core.settings import AppSettings
from jobs import keys
from jobs.models import RUNNING, JobRecord
from jobs.notices import NoticeOrder, notice_tasks
from jobs.outbox import NoticeOutbox, NoticePolicy
from jobs.queue import NOTICES_QUEUE, WEBHOOK_TASK, create_celery, parse_step_task_id, send_notices
from jobs.store import JobStore
from tests.support.batch_env import BatchEnv
from tests.support.redis_state import flush
from workers.notice_drain import NoticeDrain

GRACE = 30.0
HOOK = "https://hooks.example.com/done"


@pytest.fixture
def app(batch_env: BatchEnv) -> Iterator[Celery]:
    """A Celery app on an emptied database of its own (it only publishes here)."""
    env = batch_env.with_database(11)
    flush(env.redis_url)
    base = AppSettings.from_env()
    core = base.core.model_copy(update={"redis_url": env.redis_url, "notice_grace_seconds": GRACE})
    yield create_celery(AppSettings(core, base.gateway, base.worker, base.ui, base.observability))
    flush(env.redis_url)


@pytest.fixture
def jobs(app: Celery) -> Iterator[JobStore]:
    store = JobStore.from_url(
        str(app.hpp_settings.core.redis_url),
        ttl_seconds=3600,
        notices=NoticePolicy(grace_seconds=GRACE),
    )
    yield store
    store.close()


@pytest.fixture
def drain(app: Celery, jobs: JobStore) -> NoticeDrain:
    outbox = NoticeOutbox(jobs.client)
    return NoticeDrain(outbox, send=partial(send_notices, app), core=app.hpp_settings.core)


def finished_job(jobs: JobStore) -> str:
    """A job made final through the store (its notice owed), its task never queued."""
    record = JobRecord(
        id="Job0123456789abcdefghij",
        owner="alice/bob",
        status=RUNNING,
        rows_done=7,
        webhook_url=HOOK,
    )
    jobs.put(record)
    assert jobs.succeed(record.id, rows_total=7)
    return record.id


def queued(client: Any) -> list[dict[str, Any]]:
    """The notice messages waiting, oldest first."""
    return [json.loads(raw) for raw in reversed(client.lrange(NOTICES_QUEUE, 0, -1))]


def order_in(message: dict[str, Any]) -> NoticeOrder:
    """The order a notice task's message carries (kombu keeps the body base64-encoded)."""
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return NoticeOrder.model_validate_json(args[0])


def test_an_owed_notice_with_no_task_is_queued_again_once(
    drain: NoticeDrain, jobs: JobStore
) -> None:
    job_id = finished_job(jobs)
    now = time.time()

    assert drain.sweep(now=now) == []  # within its grace period: left to the finishing process
    [requeued] = drain.sweep(now=now + GRACE)
    again = drain.sweep(now=now + 3 * GRACE)  # its message now waits in the queue

    assert requeued.job_id == job_id
    assert again == []
    [message] = queued(jobs.client)
    assert message["headers"]["task"] == WEBHOOK_TASK
    assert parse_step_task_id(message["headers"]["id"]) == (job_id, "webhook")
    order = order_in(message)
    assert order.notice.delivery_id == f"{job_id}:succeeded"
    assert (order.notice.status, order.notice.rows_done) == ("succeeded", 7)
    assert order.key_name == "alice"
    # Still owed (until the task settles it), looked at again a grace period later.
    member = keys.owed_notice("webhook", job_id)
    assert NoticeOutbox(jobs.client).owed() == {member: now + 4 * GRACE}


def test_a_notice_whose_task_waits_or_was_taken_is_not_queued_again(
    drain: NoticeDrain, jobs: JobStore, app: Celery
) -> None:
    job_id = finished_job(jobs)
    record = jobs.get(job_id)
    assert record is not None
    send_notices(app, notice_tasks(record, app.hpp_settings.core))  # the ordinary path
    now = time.time()

    assert drain.sweep(now=now + GRACE) == []  # waiting in the queue
    taken: list[Any] = []
    with (
        app.connection_for_read() as conn,
        conn.Consumer(
            queues=[Queue(NOTICES_QUEUE)],
            callbacks=[lambda body, message: taken.append(message)],
            accept=["json"],
            prefetch_count=1,
        ),
    ):
        conn.drain_events(timeout=5)  # taken, not acknowledged: a notifier is on it
        assert jobs.client.llen(NOTICES_QUEUE) == 0
        assert jobs.client.hlen("unacked") == 1
        assert drain.sweep(now=now + 2 * GRACE) == []

    assert len(taken) == 1


def test_a_settled_notice_is_not_sent_again(drain: NoticeDrain, jobs: JobStore) -> None:
    job_id = finished_job(jobs)
    NoticeOutbox(jobs.client).settle("webhook", job_id)

    assert drain.sweep(now=time.time() + GRACE) == []
    assert queued(jobs.client) == []
