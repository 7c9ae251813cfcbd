"""What a test's Redis database holds: the queue, a job's keys; and emptying it."""

from __future__ import annotations

import time
from typing import Any

import redis

from jobs.fairqueue import waiting_steps
from jobs.keys import attempts_key, done_key, job_key

IDLE_CHECKS = 3  # consecutive idle looks: a message moving from the list to ``unacked``


def queue_drained(redis_url: str) -> bool:
    """Whether the jobs queue holds no waiting and no unacknowledged message."""
    client = redis.Redis.from_url(redis_url)
    try:
        return client.llen("jobs") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def flush(redis_url: str) -> None:
    """Empty one Redis database (a module's private job space)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def broker_state(redis_url: str, job_id: str) -> dict[str, Any]:
    """What Redis holds about a job and the queue (for failure messages)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return {
            "record": {k: v for k, v in client.hgetall(job_key(job_id)).items() if k != "plan"},
            "counted": sorted(int(i) for i in client.smembers(done_key(job_id))),
            "attempts": client.hgetall(attempts_key(job_id)),
            "queued": client.llen("jobs"),
            "unacked": client.hlen("unacked"),
        }
    finally:
        client.close()


def wait_until_idle(redis_url: str, *, timeout: float = 120.0) -> None:
    """Wait until no job step waits (owner queues, broker) and no worker holds one.

    Workers acknowledge late with a prefetch of one, so a step a worker is running stays in
    the broker's ``unacked`` hash until it has finished (counted, part written): once that
    hash and every queue are empty, nothing can change a job's counts any more. Use it
    instead of sleeping to show that something did not happen.
    """
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    idle = 0
    try:
        while time.monotonic() < deadline:
            idle = idle + 1 if _idle(client) else 0
            if idle >= IDLE_CHECKS:
                return
            time.sleep(0.05)
        state = {"waiting": waiting_steps(client), "unacked": client.hlen("unacked")}
    finally:
        client.close()
    raise AssertionError(f"steps still waiting or held after {timeout} s: {state}")


def _idle(client: redis.Redis) -> bool:
    return waiting_steps(client) == 0 and client.hlen("unacked") == 0
