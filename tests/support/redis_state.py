"""What a test's Redis database holds: the queue, a job's keys; and emptying it."""

from __future__ import annotations

from typing import Any

import redis

from jobs.keys import attempts_key, done_key, job_key


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
