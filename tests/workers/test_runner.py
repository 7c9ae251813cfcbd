"""The worker's backlog source: queue depth and live workers for BacklogPerWorker."""

from __future__ import annotations

import redis

from jobs.keys import worker_alive_key
from jobs.queue import QUEUE
from workers.runner import backlog_source


def test_backlog_counts_queued_messages_and_the_workers_alive(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/2"  # no worker consumes this database
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.rpush(QUEUE, "a", "b", "c")
    first = backlog_source(url, hostname="w1@host")
    second = backlog_source(url, hostname="w2@host")
    assert first.depth() == 3
    assert first.workers() == 1  # only itself has reported so far
    assert second.workers() == 2
    assert client.ttl(worker_alive_key("w1@host")) > 0  # a dead worker drops out by itself
    client.flushdb()
