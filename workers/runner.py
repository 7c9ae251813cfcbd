"""``hpp worker``, ``hpp trainer``, ``hpp notifier``: the Celery workers of each queue."""

from __future__ import annotations

import os
import socket

import redis

from core.settings import AppSettings
from jobs.fairqueue import waiting_steps
from jobs.keys import WORKER_ALIVE_PREFIX, worker_alive_key
from jobs.queue import NOTICES_QUEUE, QUEUE, TRAINING_QUEUE, create_celery
from observability.celery import BacklogSource, instrument_celery
from observability.logging import configure_logging

ALIVE_SECONDS = 60
NOTIFIER_THREADS = 4


def run_worker(settings: AppSettings, *, training: bool = False) -> None:
    """Run a worker in the foreground until SIGTERM/SIGINT (soft shutdown).

    ``training``: the loop's worker (``hpp trainer``): the training queue only, one process,
    so a retrain never holds a scoring worker and two retrains never compete for the cores.
    """
    configure_logging("trainer" if training else "worker", settings.observability)
    app = create_celery(settings)
    role = "trainer" if training else "worker"
    hostname = f"hpp-{role}-{os.getpid()}@{socket.gethostname()}"
    instrument_celery(
        settings=settings.observability,
        environment=settings.core.environment,
        # The trainer reads no job queue: it must not count as a worker in BacklogPerWorker.
        backlog=None
        if training
        else backlog_source(str(settings.core.redis_url), hostname=hostname),
    )
    app.worker_main(
        [
            "--quiet",  # no banner: the same facts are in the JSON log lines
            "worker",
            f"--loglevel={settings.observability.log_level}",
            f"--concurrency={1 if training else settings.worker.worker_concurrency}",
            f"--queues={TRAINING_QUEUE if training else QUEUE}",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def run_notifier(settings: AppSettings) -> None:
    """``hpp notifier``: the notices queue only (webhooks, SNS), on a few threads.

    Sending is I/O: threads wait on receivers while the process stays small, and no model
    is loaded (the scoring workers' per-process context and watchdog are left out).
    """
    configure_logging("notifier", settings.observability)
    app = create_celery(settings)
    app.conf.include = ["workers.notice_tasks"]  # no scoring code, no model libraries
    app.steps["worker"].difference_update(
        {"workers.tasks:ContextStep", "workers.watchdog:WatchdogStep"}
    )
    # Owed notices whose task was lost are queued again (workers.notice_drain).
    app.steps["worker"].add("workers.notice_drain:NoticeDrainStep")
    hostname = f"hpp-notifier-{os.getpid()}@{socket.gethostname()}"
    instrument_celery(
        settings=settings.observability, environment=settings.core.environment, backlog=None
    )
    app.worker_main(
        [
            "--quiet",
            "worker",
            f"--loglevel={settings.observability.log_level}",
            "--pool=threads",
            f"--concurrency={NOTIFIER_THREADS}",
            f"--queues={NOTICES_QUEUE}",
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
