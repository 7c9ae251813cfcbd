"""Fair dispatch on a real Redis: owners take turns, the broker stays shallow, stale steps go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jobs.fairqueue import FairQueue, Step, waiting_steps
from jobs.keys import FAIR_RING_KEY, job_key
from jobs.models import QUEUED
from jobs.queue import PLAN_TASK, step_task_id

QUEUE = "test-fair-jobs"


class Broker:
    """Stands in for Celery: a sent step is pushed on the queue list, as kombu does."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent: list[str] = []

    def send(self, task: str, args: list[Any], task_id: str) -> None:
        self.sent.append(task_id)
        self.client.lpush(QUEUE, task_id)

    def take(self, count: int = 1) -> None:
        for _ in range(count):
            self.client.rpop(QUEUE)


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    connection = redis.Redis.from_url(redis_url, db=14, decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def _jobs(client: Any, owner: str, count: int) -> list[Step]:
    steps = []
    for n in range(count):
        job_id = f"{owner}{n}"
        client.hset(job_key(job_id), mapping={"status": QUEUED, "owner": owner})
        steps.append(Step(PLAN_TASK, [job_id], step_task_id(job_id, "plan")))
    return steps


def test_owners_take_turns_and_the_broker_holds_only_depth_steps(client: Any) -> None:
    broker = Broker(client)
    fair = FairQueue(client, depth=2, send=broker.send, queue=QUEUE)

    fair.submit("alice", _jobs(client, "alice", 50))
    fair.submit("bob", _jobs(client, "bob", 1))
    assert client.llen(QUEUE) == 2
    assert waiting_steps(client, QUEUE) == 51

    for _ in range(3):  # a worker takes a message, and the broker is topped up
        broker.take()
        fair.dispatch()

    owners = [task_id.split(".")[1].rstrip("0123456789") for task_id in broker.sent]
    assert owners == ["alice", "alice", "alice", "bob", "alice"]  # bob: second turn after joining
    assert client.llen(QUEUE) == 2
    assert len(fair.pending_ids()) == 46


def test_steps_of_jobs_no_longer_active_are_dropped_at_their_turn(client: Any) -> None:
    broker = Broker(client)
    fair = FairQueue(client, depth=1, send=broker.send, queue=QUEUE)
    steps = _jobs(client, "alice", 3)
    client.hset(job_key("alice0"), "status", "cancelled")
    client.delete(job_key("alice1"))

    fair.submit("alice", steps)

    assert broker.sent == [steps[2].task_id]
    assert fair.pending_ids() == []
    assert client.llen(FAIR_RING_KEY) == 0
