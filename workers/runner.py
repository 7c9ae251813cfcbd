"""``hpp worker``: run a Celery worker that scores batch jobs."""

from __future__ import annotations

import os
import socket

import redis

from core.settings import AppSettings
from jobs.keys import WORKER_ALIVE_PREFIX, worker_alive_key
from observability.celery import BacklogSource, instrument_celery
from observability.logging import configure_logging
from workers.app import QUEUE, create_celery
from workers.fairqueue import waiting_steps

ALIVE_SECONDS = 60


def run_worker(settings: AppSettings) -> None:
    """Run a worker in the foreground until SIGTERM/SIGINT (soft shutdown)."""
    configure_logging("worker", settings.observability)
    app = create_celery(settings)
    hostname = f"hpp-worker-{os.getpid()}@{socket.gethostname()}"
    instrument_celery(
        settings=settings.observability,
        environment=settings.core.environment,
        backlog=backlog_source(str(settings.core.redis_url), hostname=hostname),
    )
    app.worker_main(
        [
            "--quiet",  # no banner: the same facts are in the JSON log lines
            "worker",
            f"--loglevel={settings.observability.log_level}",
            f"--concurrency={settings.worker.worker_concurrency}",
            f"--queues={QUEUE}",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def backlog_source(redis_url: str, *, hostname: str) -> BacklogSource:
    """Queue depth and live workers, for QueueDepth and BacklogPerWorker (worker autoscaling).

    The depth counts the steps waiting in the owners' queues too, not only the few
    dispatched into the broker.

    Each worker refreshes a short-lived key of its own when it reports, so the number of
    keys is the number of workers alive now, whichever hosts they run on.
    """
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    alive = worker_alive_key(hostname)

    def depth() -> int:
        return waiting_steps(client)

    def workers() -> int:
        client.set(alive, "1", ex=ALIVE_SECONDS)
        return max(1, sum(1 for _ in client.scan_iter(f"{WORKER_ALIVE_PREFIX}*", count=200)))

    return BacklogSource(queue=QUEUE, depth=depth, workers=workers)
