"""The watchdog against a real Redis and real kombu messages (no worker consumes them here).

A message is "lost" in these tests by never sending it (or taking it off the list): the
state a worker SIGKILLed between ``BRPOP`` and kombu's ``unacked`` write leaves behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu import Queue

from core.settings import AppSettings
from jobs.file_list import save_sources
from jobs.keys import (
    ACTIVE_JOBS_KEY,
    WATCHDOG_LOCK_KEY,
    WATCHDOG_SUSPECTS_KEY,
    job_key,
)
from jobs.models import RUNNING, SUCCEEDED
from jobs.pointer import SourceFile
from jobs.queue import (
    BROKER_IDS_LUA,
    CHUNK_TASK,
    FINALIZE_TASK,
    PLAN_TASK,
    QUEUE,
    broker_keys,
    create_celery,
    parse_step_task_id,
    step_task_id,
)
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from tests.support.batch_env import BatchEnv
from tests.support.redis_state import flush
from workers.chunking import Chunk, Plan
from workers.job_plan import save_plan
from workers.watchdog import Watchdog, try_sweep

STALL = 30.0
JOB = "Job0123456789abcdefghij"


@pytest.fixture
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 15, emptied for each test."""
    env = batch_env.with_database(15)
    flush(env.redis_url)
    return env


@pytest.fixture
def app(env: BatchEnv) -> Celery:
    """A Celery app on that database (it only publishes here)."""
    base = AppSettings.from_env()
    core = base.core.model_copy(update={"redis_url": env.redis_url})
    return create_celery(AppSettings(core, base.gateway, base.worker, base.ui, base.observability))


@pytest.fixture
def jobs(env: BatchEnv) -> Iterator[JobStore]:
    """The job store on that database."""
    store = JobStore.from_url(env.redis_url, ttl_seconds=3600)
    yield store
    store.close()


@pytest.fixture
def sent() -> list[tuple[str, list[Any], str]]:
    """What the watchdog sent, in order."""
    return []


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[SyncBlobStore]:
    """A blob store of the test's own (where blob-stored plans are)."""
    store = SyncBlobStore.open((tmp_path / "blobs").as_uri())
    yield store
    store.close()


@pytest.fixture
def watchdog(
    jobs: JobStore, blobs: SyncBlobStore, app: Celery, sent: list[tuple[str, list[Any], str]]
) -> Watchdog:
    """A watchdog that records and really publishes what it sends."""

    def send(task: str, args: list[Any], task_id: str) -> None:
        sent.append((task, args, task_id))
        app.send_task(task, args=args, task_id=task_id)

    return Watchdog(jobs, blobs=blobs, send=send, stall_seconds=STALL)


def running_job(
    jobs: JobStore,
    *,
    chunks: int,
    last_progress: float,
    blobs: SyncBlobStore | None = None,
    sources: list[SourceFile] | None = None,
    list_in_hash: bool = False,
) -> Plan:
    """A running job of ``chunks`` chunks whose last progress was at ``last_progress``: its
    plan and file list in the blob store when ``blobs`` is given, else inside its record
    (the old way; ``list_in_hash`` keeps only the file list there)."""
    plan = Plan(
        columns=["sqft"],
        feature_positions={"sqft": 0},
        data_start=6,
        rows_total=chunks * 10,
        chunks=[Chunk(i, 6 + 100 * i, 106 + 100 * i, 10, i % 2) for i in range(chunks)],
    )
    jobs.client.hset(
        job_key(JOB),
        mapping={
            "id": JOB,
            "owner": "alice",
            "status": RUNNING,
            "chunks_total": str(chunks),
            "rows_done": "0",
            "rows_failed": "0",
        },
    )
    if sources and blobs is not None and not list_in_hash:
        blob = blobs.run(save_sources(blobs.store, JOB, sources))  # as the gateway writes it
        jobs.client.hset(job_key(JOB), mapping={"input_files": len(sources), "sources_blob": blob})
    elif sources:
        jobs.client.hset(job_key(JOB), "sources", json.dumps([s.model_dump() for s in sources]))
    if blobs is None:
        jobs.client.hset(job_key(JOB), "plan", json.dumps(plan.to_json()))
    else:
        assert save_plan(jobs, blobs, JOB, plan)
    jobs.client.zadd(ACTIVE_JOBS_KEY, {JOB: last_progress})
    return plan


def queued_ids(client: Any) -> list[str]:
    """The task ids waiting in the queue, oldest first."""
    return [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(QUEUE, 0, -1))]


def test_step_task_ids_name_their_job_and_step() -> None:
    first, second = step_task_id(JOB, "c12"), step_task_id(JOB, "c12")
    assert first != second
    assert parse_step_task_id(first) == (JOB, "c12")
    assert parse_step_task_id("8d4f0c2e-5a0b-4c1e-9a7e-1f2b3c4d5e6f") is None
    assert parse_step_task_id("hpp.only.three") is None


def test_broker_ids_see_waiting_and_taken_messages(app: Celery, jobs: JobStore) -> None:
    waiting, taken = step_task_id(JOB, "c0"), step_task_id(JOB, "c1")
    app.send_task(CHUNK_TASK, args=[JOB, 1, 0, 1], task_id=taken)
    app.send_task(CHUNK_TASK, args=[JOB, 0, 0, 1], task_id=waiting)
    app.send_task(PLAN_TASK, args=[JOB])  # a Celery id of its own: not ours, not reported
    scan = jobs.client.register_script(BROKER_IDS_LUA)
    received: list[Any] = []
    with (
        app.connection_for_read() as conn,
        conn.Consumer(
            queues=[Queue(QUEUE)],
            callbacks=[lambda body, message: received.append(message)],
            accept=["json"],
            prefetch_count=1,
        ),
    ):
        conn.drain_events(timeout=5)  # takes the oldest message, unacknowledged
        assert [m.headers["id"] for m in received] == [taken]
        assert jobs.client.hlen("unacked") == 1
        assert sorted(scan(keys=broker_keys())) == sorted([waiting, taken])


def test_a_lost_chunk_is_sent_again_after_two_looks(
    watchdog: Watchdog, jobs: JobStore, app: Celery, sent: list[tuple[str, list[Any], str]]
) -> None:
    now = time.time()
    plan = running_job(jobs, chunks=3, last_progress=now - 2 * STALL)
    assert jobs.count_chunk(JOB, 0, rows=10, failed=0) == 1
    jobs.client.zadd(ACTIVE_JOBS_KEY, {JOB: now - 2 * STALL})  # counting touched it: stall it again
    app.send_task(CHUNK_TASK, args=[JOB, 1, 0, 1], task_id=step_task_id(JOB, "c1"))

    assert watchdog.sweep(now=now) == []  # chunk 2 is missing once: only a suspect
    assert jobs.client.smembers(WATCHDOG_SUSPECTS_KEY) == {f"{JOB}:c2"}
    resent = watchdog.sweep(now=now + STALL)
    assert [(s.step, s.task, s.args) for s in resent] == [
        # an upload's chunk 2: file 0 (none), first row 21 (after two chunks of 10 rows)
        ("c2", CHUNK_TASK, [JOB, 2, plan.chunks[2].start, plan.chunks[2].end, 0, 21, None, False])
    ]
    assert [parse_step_task_id(i) for i in queued_ids(jobs.client)] == [(JOB, "c1"), (JOB, "c2")]
    assert watchdog.sweep(now=now + 2 * STALL) == []  # on its way now: not sent a third time
    assert len(sent) == 1


@pytest.mark.parametrize("list_in_hash", [False, True], ids=["list-blob", "list-in-hash"])
def test_a_lost_chunk_of_a_blob_planned_pointer_job_is_sent_whole(
    watchdog: Watchdog, jobs: JobStore, blobs: SyncBlobStore, list_in_hash: bool
) -> None:
    now = time.time()
    files = [SourceFile(key=f"in/{n}.parquet", format="parquet", bytes=9) for n in range(2)]
    plan = running_job(
        jobs,
        chunks=4,
        last_progress=now - 2 * STALL,
        blobs=blobs,
        sources=files,
        list_in_hash=list_in_hash,
    )
    for index in (0, 1, 3):
        jobs.count_chunk(JOB, index, rows=10, failed=0)
    jobs.client.zadd(ACTIVE_JOBS_KEY, {JOB: now - 2 * STALL})
    record = jobs.get(JOB)
    assert record is not None
    assert record.plan is None
    assert (record.sources is not None) == list_in_hash  # else only its count and blob

    watchdog.sweep(now=now)
    resent = watchdog.sweep(now=now + STALL)

    chunk = plan.chunks[2]  # of file 0, its rows after 20 others: all a chunk step needs
    assert [(s.step, s.args) for s in resent] == [
        ("c2", [JOB, 2, chunk.start, chunk.end, 0, 21, files[0].model_dump(), True])
    ]


def test_a_suspect_that_turns_up_is_not_sent(
    watchdog: Watchdog, jobs: JobStore, app: Celery
) -> None:
    now = time.time()
    running_job(jobs, chunks=1, last_progress=now - 2 * STALL)
    assert watchdog.sweep(now=now) == []
    app.send_task(CHUNK_TASK, args=[JOB, 0, 0, 1], task_id=step_task_id(JOB, "c0"))
    assert watchdog.sweep(now=now + STALL) == []
    assert jobs.client.exists(WATCHDOG_SUSPECTS_KEY) == 0


def test_a_lost_finalize_is_sent_again(watchdog: Watchdog, jobs: JobStore) -> None:
    now = time.time()
    running_job(jobs, chunks=2, last_progress=now - 2 * STALL)
    for index in (0, 1):
        jobs.count_chunk(JOB, index, rows=10, failed=0)  # progress: at about ``now``
    assert watchdog.sweep(now=now + STALL / 2) == []
    assert not jobs.client.exists(WATCHDOG_SUSPECTS_KEY)  # not stalled yet: not looked at
    watchdog.sweep(now=now + 2 * STALL)
    resent = watchdog.sweep(now=now + 3 * STALL)
    assert [(s.step, s.task, s.args) for s in resent] == [("finalize", FINALIZE_TASK, [JOB])]


def test_a_lost_plan_is_sent_again(watchdog: Watchdog, jobs: JobStore) -> None:
    now = time.time()
    jobs.client.hset(job_key(JOB), mapping={"id": JOB, "owner": "alice", "status": "queued"})
    jobs.client.zadd(ACTIVE_JOBS_KEY, {JOB: now - 2 * STALL})
    watchdog.sweep(now=now)
    resent = watchdog.sweep(now=now + 1)
    assert [(s.step, s.task, s.args) for s in resent] == [("plan", PLAN_TASK, [JOB])]


def test_a_job_whose_plan_is_on_its_way_is_left_alone(
    watchdog: Watchdog, jobs: JobStore, app: Celery
) -> None:
    now = time.time()
    running_job(jobs, chunks=3, last_progress=now - 2 * STALL)
    app.send_task(PLAN_TASK, args=[JOB], task_id=step_task_id(JOB, "plan"))  # it resends all
    assert watchdog.sweep(now=now) == []
    assert watchdog.sweep(now=now + STALL) == []


def test_jobs_with_recent_progress_are_not_looked_at(watchdog: Watchdog, jobs: JobStore) -> None:
    now = time.time()
    running_job(jobs, chunks=2, last_progress=now)
    assert watchdog.sweep(now=now + 1) == []
    assert watchdog.sweep(now=now + 2) == []
    assert jobs.client.exists(WATCHDOG_SUSPECTS_KEY) == 0


def test_progress_and_final_states_maintain_the_active_index(jobs: JobStore) -> None:
    running_job(jobs, chunks=2, last_progress=1.0)
    before = time.time()
    jobs.count_chunk(JOB, 0, rows=10, failed=0)
    assert jobs.client.zscore(ACTIVE_JOBS_KEY, JOB) >= before
    assert jobs.transition(JOB, SUCCEEDED, allowed=(RUNNING,))
    assert jobs.client.zscore(ACTIVE_JOBS_KEY, JOB) is None


def test_gone_jobs_leave_the_index(watchdog: Watchdog, jobs: JobStore) -> None:
    jobs.client.zadd(ACTIVE_JOBS_KEY, {"expired-job": 1.0})
    assert watchdog.sweep() == []
    assert jobs.client.zcard(ACTIVE_JOBS_KEY) == 0


def test_one_worker_sweeps_per_interval(watchdog: Watchdog, jobs: JobStore) -> None:
    jobs.client.hset(job_key(JOB), mapping={"id": JOB, "owner": "alice", "status": "queued"})
    jobs.client.zadd(ACTIVE_JOBS_KEY, {JOB: 1.0})
    jobs.client.sadd(WATCHDOG_SUSPECTS_KEY, f"{JOB}:plan")  # missing at the last look
    jobs.client.set(WATCHDOG_LOCK_KEY, "another worker", ex=10)
    assert try_sweep(watchdog, interval=10) == []
    jobs.client.delete(WATCHDOG_LOCK_KEY)
    assert [s.step for s in try_sweep(watchdog, interval=10)] == ["plan"]
    assert 0 < jobs.client.ttl(WATCHDOG_LOCK_KEY) <= 8
